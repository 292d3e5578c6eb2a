"""start_app.sh, tested with real processes.

Most tests run the launcher against tests/fake_app.py (app.py's flags and /readyz
behaviour, no model: each start takes about a second). One test starts the real
app.py end to end. Every test uses its own free port, logs folder and PID file,
and stops what it started (only PIDs it started, after checking their command line).
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, free_port, wait_until
from launcher_driver import (FAKE_APP, LAUNCHER, VENV_PY, Launcher, alive, cmdline, http_get, ok_line, path_without,
                             port_in_use)


@pytest.fixture
def launcher(tmp_path):
    lx = Launcher(tmp_path)
    yield lx
    lx.cleanup()


@pytest.fixture
def foreign_listener():
    """A program that is not ours, listening on a port; stopped by the test's teardown."""
    procs = []

    def start(port: int) -> subprocess.Popen:
        code = ("import socket, sys, time; s = socket.socket(); "
                "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
                "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); print('up', flush=True); time.sleep(120)")
        proc = subprocess.Popen([sys.executable, "-c", code, str(port)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "up"
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=5)


# ---------------------------------------------------------------- start, status, stop


def test_start_status_stop_with_a_slow_starting_app(launcher):
    result = launcher.run(env={"FAKE_APP_READY_AFTER": "1.5"})
    assert result.returncode == 0, result.stdout
    assert ok_line(result.stdout) == f"STARTUP_OK http://127.0.0.1:{launcher.port}"
    pid = launcher.pid()
    assert pid and alive(pid) and cmdline(pid)[:2] == [str(VENV_PY), str(FAKE_APP)]
    assert http_get(f"http://127.0.0.1:{launcher.port}/readyz")[0] == 200
    logs = sorted(launcher.logs.glob("app-*.log"))
    assert len(logs) == 1 and "fake_app serving" in logs[0].read_text()
    assert (launcher.logs / "app.log").resolve() == logs[0]

    status = launcher.run("--status")
    assert status.returncode == 0 and f"running: PID {pid}" in status.stdout and "ready" in status.stdout

    stop = launcher.run("--stop")
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert wait_until(lambda: not alive(pid), 5) and not port_in_use(launcher.port)
    assert not launcher.pid_file.exists()
    status = launcher.run("--status")
    assert status.returncode == 3 and "not running" in status.stdout
    assert launcher.run("--stop").returncode == 0  # stopping nothing is fine


def test_stale_own_instance_is_replaced(launcher):
    assert launcher.run().returncode == 0
    first = launcher.pid()
    second_run = launcher.run()
    assert second_run.returncode == 0, second_run.stdout
    second = launcher.pid()
    assert second != first and not alive(first) and alive(second)
    assert f"stopping the running instance (PID {first})" in second_run.stdout

    # An own instance without a PID file (deleted, or started by hand) that holds the port.
    launcher.pid_file.unlink()
    third_run = launcher.run()
    assert third_run.returncode == 0, third_run.stdout
    assert not alive(second) and alive(launcher.pid())
    assert f"earlier instance of this app on port {launcher.port} (PID {second})" in third_run.stdout


def test_restart_gives_a_new_process(launcher):
    assert launcher.run().returncode == 0
    first = launcher.pid()
    result = launcher.run("--restart")
    assert result.returncode == 0, result.stdout
    assert ok_line(result.stdout) and launcher.pid() != first and not alive(first)


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(launcher):
    assert launcher.run(env={"FAKE_APP_IGNORE_TERM": "1"}).returncode == 0
    pid = launcher.pid()
    started = time.monotonic()
    result = launcher.run("--stop", env={"INDEXTTS_LAUNCHER__STOP_TIMEOUT_S": "1"})
    assert result.returncode == 0 and "SIGKILL" in result.stdout
    assert not alive(pid) and time.monotonic() - started < 8


# ---------------------------------------------------------------- other programs are never killed


def test_port_held_by_a_foreign_process_is_reported_and_left_alone(launcher, foreign_listener):
    holder = foreign_listener(launcher.port)
    result = launcher.run()
    assert result.returncode == 1
    assert f"STARTUP_FAILED: port {launcher.port} is in use by another program (PID {holder.pid}:" in result.stdout
    assert "--port" in result.stdout
    assert holder.poll() is None  # still running
    assert not launcher.pid_file.exists()

    other = launcher.run("--port", str(free_port()))
    assert other.returncode == 0, other.stdout
    assert holder.poll() is None


def test_pid_file_naming_another_program_is_not_killed(launcher):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        launcher.pid_file.parent.mkdir(parents=True)
        launcher.pid_file.write_text(f"{sleeper.pid}\n")
        status = launcher.run("--status")
        assert status.returncode == 3 and "another program" in status.stdout
        stop = launcher.run("--stop")
        assert stop.returncode == 0 and "leaving it alone" in stop.stdout
        assert sleeper.poll() is None and not launcher.pid_file.exists()

        launcher.pid_file.write_text(f"{sleeper.pid}\n")
        assert launcher.run().returncode == 0
        assert sleeper.poll() is None and launcher.pid() != sleeper.pid
    finally:
        sleeper.kill()
        sleeper.wait()


def test_port_holder_lookup_without_ss(foreign_listener):
    port = free_port()
    holder = foreign_listener(port)
    script = f'source "{ROOT}/scripts/launcher.sh"; port_holders_proc {port}; echo ---; port_holders {port}'
    out = subprocess.run(["bash", "-c", script], text=True, capture_output=True, check=True).stdout
    proc_scan, ss = out.split("---")
    assert proc_scan.split() == [str(holder.pid)] and ss.split() == [str(holder.pid)]


@pytest.mark.parametrize("action", [(), ("--restart",)])
def test_other_port_held_by_a_foreign_process_leaves_the_running_instance_alone(launcher, foreign_listener, action):
    # Issue 15 item 7: the port is checked before the running instance is stopped, so a port that cannot
    # be had leaves the user with the instance they had, not with nothing running.
    assert launcher.run().returncode == 0
    running = launcher.pid()
    other_port = free_port()
    holder = foreign_listener(other_port)

    result = launcher.run(*action, "--port", str(other_port))
    assert result.returncode == 1, result.stdout
    assert (f"STARTUP_FAILED: port {other_port} is in use by another program (PID {holder.pid}:"
            in result.stdout), result.stdout
    assert "stopping the running instance" not in result.stdout
    assert alive(running) and launcher.pid() == running
    assert http_get(f"http://127.0.0.1:{launcher.port}/healthz") == (200, {"status": "ok"})
    assert holder.poll() is None


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize(
    "mode, reason",
    [
        ("crash", "STARTUP_FAILED: the app exited with code 3 before it was ready"),
        ("never", "STARTUP_FAILED: not ready after 2 s (last state: loading (/readyz 503))"),
        ("failed", "STARTUP_FAILED: the model failed to load: simulated: model file missing"),
    ],
)
def test_app_that_cannot_start_fails_with_log_tail_and_is_stopped(launcher, mode, reason):
    started = time.monotonic()
    result = launcher.run(env={"FAKE_APP_MODE": mode, "INDEXTTS_LAUNCHER__READY_TIMEOUT_S": "2"})
    assert result.returncode == 1
    assert reason in result.stdout, result.stdout
    assert "----- last 50 lines of" in result.stdout and "fake_app argv" in result.stdout
    if mode == "crash":
        assert "boom, cannot start" in result.stdout
    assert "STARTUP_OK" not in result.stdout
    assert not launcher.pid_file.exists()
    assert not port_in_use(launcher.port)
    assert time.monotonic() - started < 15
    for pid in launcher.started:
        assert not alive(pid)


def test_log_tail_is_the_last_50_lines_and_logs_are_rotated(launcher, tmp_path):
    config = tmp_path / "conf" / "my.yaml"
    config.parent.mkdir()
    config.write_text("launcher:\n  keep_logs: 2\n  ready_timeout_s: 20\n")
    for _ in range(3):
        assert launcher.run("--config", "conf/my.yaml", cwd=tmp_path).returncode == 0
    assert len(list(launcher.logs.glob("app-*.log"))) == 2
    # The config path reached the app as an absolute path, from any working directory.
    assert json.dumps(str(config)) in (launcher.logs / "app.log").read_text()

    noisy = launcher.run(env={"FAKE_APP_MODE": "crash"}, cwd=Path("/"))
    assert noisy.returncode == 1
    tail = noisy.stdout.split("----- last 50 lines of", 1)[1].splitlines()[1:-1]
    assert 1 <= len(tail) <= 50 and "boom" in tail[-1]


def test_invalid_settings_and_bad_flags(launcher):
    bad = launcher.run(env={"INDEXTTS_LAUNCHER__READY_TIMEOUT_S": "-1"})
    assert bad.returncode == 1
    assert "launcher.ready_timeout_s" in bad.stdout and "STARTUP_FAILED: invalid settings" in bad.stdout
    assert launcher.run("--bogus").returncode == 2
    assert launcher.run("--port", "99999", port=False).returncode == 2
    assert launcher.run("--config", "nope.yaml").returncode == 2
    passthrough = launcher.run("--", "--threads", "2", "--port", "1234")
    assert passthrough.returncode == 2 and "use start_app.sh's own --port" in passthrough.stdout
    help_ = launcher.run("--help")
    assert help_.returncode == 0 and "--foreground" in help_.stdout and "--listen" in help_.stdout


@pytest.mark.parametrize(
    "yaml_text, flags, key, value",
    [
        ('server:\n  port: "abc"\n', (), "server.port", "'abc'"),  # --port N is always passed here
        ("engine:\n  threads: two\n", ("--", "--threads", "2"), "engine.threads", "'two'"),
        ("engine:\n  device: gpu\n", ("--", "--device", "cpu"), "engine.device", "'gpu'"),
    ],
)
def test_bad_value_in_the_config_file_is_named_even_when_a_flag_overrides_it(launcher, tmp_path, yaml_text,
                                                                              flags, key, value):
    # Issue 15 item 10: `port: "abc"` with --port is named as such, not a STARTUP_FAILED that blames the weights.
    config = tmp_path / "my-config.yaml"
    config.write_text(yaml_text)
    result = launcher.run("--config", str(config), *flags,
                          env={"INDEXTTS_PATHS__CACHE_HUB": str(ROOT / "cache_hub")})
    assert result.returncode == 1, result.stdout
    assert "STARTUP_FAILED: invalid settings" in result.stdout, result.stdout
    named = [line for line in result.stdout.splitlines() if line.strip().startswith(key + ":")]
    assert len(named) == 1 and f"got {value} in {config}" in named[0], result.stdout
    assert "weights" not in result.stdout.lower() and "STARTUP_OK" not in result.stdout
    assert launcher.pid() is None


def test_config_rule_settled_by_a_launcher_flag_reaches_the_weights_step(launcher, tmp_path):
    # listen: true in the file needs auth, and --no-auth settles it: every step must see the flag.
    config = tmp_path / "lan.yaml"
    config.write_text("server:\n  listen: true\n")
    result = launcher.run("--config", str(config), "--no-auth",
                          env={"INDEXTTS_PATHS__CACHE_HUB": str(ROOT / "cache_hub")})
    assert result.returncode == 0, result.stdout
    assert "NO AUTH" in ok_line(result.stdout)


def test_weights_step_reads_the_config_file_given_with_config(launcher, tmp_path):
    # The weights step must read the file --config names, not the repo's config.yaml.
    hub = tmp_path / "hub"
    (hub / "m").mkdir(parents=True)
    (hub / "m" / "model.bin").write_bytes(b"x")
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    entry = {"name": "remote-model", "path": "m/model.bin", "sha256": hashlib.sha256(b"x").hexdigest(), "size": 1,
             "source": {"kind": "url"}, "url": "http://127.0.0.1:9/model.bin", "expires_at": soon,
             "object_key": "p/model.bin"}
    (hub / "manifest.json").write_text(json.dumps({"format": 1, "entries": [entry]}))
    launcher.env = {k: v for k, v in launcher.env.items() if not k.startswith("AWS_")}  # no credentials here
    env = {"INDEXTTS_PATHS__CACHE_HUB": str(hub), "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    renewal = "a download link has expired or expires soon"

    default = launcher.run(env=env)  # weights.renew_margin_s: 1 day in the shipped config.yaml
    assert default.returncode == 0 and renewal in default.stdout, default.stdout
    config = tmp_path / "no-renewal.yaml"
    config.write_text("weights:\n  renew_margin_s: 0\n")
    custom = launcher.run("--config", str(config), env=env)
    assert custom.returncode == 0 and renewal not in custom.stdout, custom.stdout


def test_listen_needs_auth_unless_no_auth(launcher):
    refused = launcher.run("--listen")
    assert refused.returncode == 1
    assert "STARTUP_FAILED: --listen would expose the app" in refused.stdout and "--no-auth" in refused.stdout
    assert not launcher.pid_file.exists()

    result = launcher.run("--listen", "--no-auth")
    assert result.returncode == 0, result.stdout
    line = ok_line(result.stdout)
    assert line.startswith(f"STARTUP_OK http://127.0.0.1:{launcher.port} (LAN: http://") and "NO AUTH" in line
    assert '"--listen", "--no-auth"' in (launcher.logs / "app.log").read_text()

    authed = launcher.run("--listen", env={"INDEXTTS_SERVER__AUTH_USER": "me",
                                           "INDEXTTS_SERVER__AUTH_PASSWORD": "secret"})
    # the fake app has no auth settings and refuses --listen alone (exit 2), as app.py would without auth
    assert authed.returncode == 1 and "exited with code 2" in authed.stdout


def test_disk_space_and_missing_tools_are_clear(launcher, tmp_path):
    full = launcher.run(env={"INDEXTTS_MIN_FREE_MB": str(10**9)})
    assert full.returncode == 1 and "STARTUP_FAILED: not enough disk space" in full.stdout

    # A PATH with everything but python3 (and one without curl while a URL weight is missing).
    no_python = launcher.run(env={"PATH": path_without(tmp_path, "python")})
    assert no_python.returncode == 1 and "STARTUP_FAILED: python3 not found" in no_python.stdout

    hub = tmp_path / "hub"
    hub.mkdir()
    entry = {"name": "remote-model", "path": "remote/model.bin", "sha256": "0" * 64, "size": 1,
             "source": {"kind": "url"}, "url": "http://127.0.0.1:9/model.bin", "expires_at": None}
    (hub / "manifest.json").write_text(json.dumps({"format": 1, "entries": [entry]}))
    no_curl = launcher.run(env={"PATH": path_without(tmp_path, "curl"), "INDEXTTS_PATHS__CACHE_HUB": str(hub)})
    assert no_curl.returncode == 1
    assert "STARTUP_FAILED: curl not found, and it is needed to download: remote-model" in no_curl.stdout


def test_optional_url_weight_without_curl_is_a_warning(launcher, tmp_path):
    # An optional entry (the app starts without it) that only curl could fetch must not stop a start.
    hub = tmp_path / "hub"
    hub.mkdir()
    entry = {"name": "extra-voices", "path": "extra/voices.bin", "sha256": "0" * 64, "size": 1,
             "source": {"kind": "url"}, "optional": True, "url": "http://127.0.0.1:9/voices.bin",
             "expires_at": None}
    (hub / "manifest.json").write_text(json.dumps({"format": 1, "entries": [entry]}))
    result = launcher.run(env={"PATH": path_without(tmp_path, "curl"), "INDEXTTS_PATHS__CACHE_HUB": str(hub)})
    assert result.returncode == 0, result.stdout
    assert "curl not found: the optional extra-voices cannot be downloaded" in result.stdout
    assert ok_line(result.stdout) == f"STARTUP_OK http://127.0.0.1:{launcher.port}"


def test_foreground_execs_the_app_with_the_launchers_pid(launcher):
    argv = [str(LAUNCHER), "--foreground", "--port", str(launcher.port)]
    proc = subprocess.Popen(argv, cwd=launcher.tmp, env=launcher.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_until(lambda: port_in_use(launcher.port), 20)
        assert http_get(f"http://127.0.0.1:{launcher.port}/readyz")[0] == 200
        assert launcher.pid() == proc.pid and cmdline(proc.pid)[:2] == [str(VENV_PY), str(FAKE_APP)]
        status = launcher.run("--status")
        assert status.returncode == 0 and f"PID {proc.pid}" in status.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "fake_app serving" in proc.stdout.read()


def test_interrupt_while_starting_stops_the_half_started_app(launcher):
    argv = [str(LAUNCHER), "--port", str(launcher.port)]
    proc = subprocess.Popen(argv, cwd=launcher.tmp, env={**launcher.env, "FAKE_APP_MODE": "never"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = ""
    while "waiting up to" not in out:
        line = proc.stdout.readline()
        assert line, out
        out += line
    app = launcher.pid()
    launcher.started.add(app)
    assert app and alive(app)
    proc.send_signal(signal.SIGINT)
    out += proc.stdout.read()
    assert proc.wait(timeout=20) == 1
    assert "STARTUP_FAILED: interrupted while starting" in out and "----- last 50 lines of" in out
    assert wait_until(lambda: not alive(app), 5) and not launcher.pid_file.exists()


# ---------------------------------------------------------------- the real app, end to end


@pytest.mark.slow
def test_real_app_end_to_end(tmp_path):
    lx = Launcher(tmp_path, app=None)
    lx.env.update(INDEXTTS_PATHS__OUTPUTS=str(tmp_path / "outputs"), INDEXTTS_PATHS__VOICES=str(tmp_path / "voices"),
                  INDEXTTS_LAUNCHER__READY_TIMEOUT_S="240", INDEXTTS_LAUNCHER__STOP_TIMEOUT_S="15")
    try:
        result = lx.run("--", "--device", "cpu", "--threads", "2", timeout=300)
        assert result.returncode == 0, result.stdout
        assert ok_line(result.stdout) == f"STARTUP_OK http://127.0.0.1:{lx.port}"
        pid = lx.pid()
        assert cmdline(pid)[:2] == [str(VENV_PY), str(ROOT / "app.py")]
        code, body = http_get(f"http://127.0.0.1:{lx.port}/readyz")
        assert code == 200 and body["status"] == "ready"

        status = lx.run("--status")
        assert status.returncode == 0 and f"running: PID {pid}" in status.stdout and "ready" in status.stdout

        stop = lx.run("--stop", timeout=60)
        assert stop.returncode == 0 and "stopped" in stop.stdout
        assert not alive(pid) and not port_in_use(lx.port) and not lx.pid_file.exists()
    finally:
        lx.cleanup()
