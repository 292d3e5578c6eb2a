"""indextts.launcher in process: ports, the PID file, is-our-app, stopping, logs, readiness, the weights plan.

No app is started here (tests/test_launcher.py runs start_app.sh end to end): the processes are small
children of this test (sleep, a python one-liner), each stopped by its PID in the test's teardown.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import free_port
from indextts.launcher import logs, readiness
from indextts.launcher.checkout import Checkout
from indextts.launcher.messages import StartupFailed
from indextts.launcher.port_checks import check_port_before_stopping, free_port_or_fail
from indextts.launcher.ports import PortState, listening_inodes, port_holders, port_state
from indextts.launcher.preflight import check_disk, required_weights_missing
from indextts.launcher.processes import (PidFile, alive, describe_command, is_our_app, port_argument, stop_process,
                                         stop_recorded_instance)
from indextts.launcher.settings import LaunchSettings, default_settings, seconds_text, settings_for_control
from indextts.launcher.urls import startup_ok_line, url_host
from indextts.launcher.weights_step import Download, WeightsPlan, ensure_all_weights

VENV_PY = Path(sys.executable)  # the tests run in the venv: its python is "this checkout's" python here


@pytest.fixture
def children():
    """Start child processes; each is killed (by its PID) and reaped after the test."""
    procs: list[subprocess.Popen] = []

    def start(argv: list[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(argv, **kwargs)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            try:
                if os.getpgid(proc.pid) == proc.pid:  # it leads its own group: its helpers go too
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
            except OSError:
                pass
        proc.wait(timeout=10)


@pytest.fixture
def app_script(tmp_path) -> Path:
    """A stand-in app script: says it is up, then sleeps."""
    script = tmp_path / "app.py"
    script.write_text("import time\nprint('up', flush=True)\ntime.sleep(120)\n")
    return script


@pytest.fixture
def checkout(tmp_path, app_script) -> Checkout:
    return Checkout(root=tmp_path, python=VENV_PY, app=os.path.realpath(app_script))


def start_app(children, script: Path, *args: str, **kwargs) -> subprocess.Popen:
    proc = children([str(VENV_PY), str(script), *args], stdout=subprocess.PIPE, text=True, **kwargs)
    assert proc.stdout.readline().strip() == "up"  # the handlers are set: signals now mean what the test wants
    return proc


# ---------------------------------------------------------------- checkout and settings


def test_checkout_follows_the_venv_and_app_variables(tmp_path):
    plain = Checkout.from_environment({}, root=tmp_path)
    assert plain.python == tmp_path / ".venv" / "bin" / "python" and plain.app == str(tmp_path / "app.py")
    moved = Checkout.from_environment({"INDEXTTS_VENV": "./env", "INDEXTTS_LAUNCHER_APP": str(tmp_path / "x.py")},
                                      root=tmp_path)
    assert moved.python == tmp_path / "env" / "bin" / "python" and moved.app == str(tmp_path / "x.py")
    assert Checkout.from_environment({"INDEXTTS_VENV": "/opt/v"}, root=tmp_path).python == Path("/opt/v/bin/python")


def test_timeouts_print_as_the_launcher_always_printed_them():
    assert (seconds_text(180.0), seconds_text(2.5), seconds_text(20)) == ("180", "2.5", "20")


def test_control_settings_fall_back_to_the_defaults_when_the_config_is_broken(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("server:\n  port: [1, 2\n")
    assert settings_for_control(tmp_path, broken, 4321) == default_settings(tmp_path, 4321)
    assert default_settings(tmp_path, None).pid_file == tmp_path / "logs" / "app.pid"


# ---------------------------------------------------------------- ports


def test_port_holders_names_the_listening_process_and_the_port_state_follows():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert port_holders(port) == []  # bound, not listening: nobody holds it yet
        sock.listen()
        assert port_holders(port) == [os.getpid()]
        assert port_state("127.0.0.1", port) is PortState.TAKEN
    assert port_state("127.0.0.1", port) is PortState.FREE
    assert port_state("192.0.2.1", port) is PortState.UNBINDABLE  # not an address of this machine


def test_listening_inodes_reads_only_listen_rows_of_the_port(tmp_path):
    net = tmp_path / "net"
    net.mkdir()
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    row = "   0: 0100007F:{port:04X} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000  0  0 {inode} 1\n"
    (net / "tcp").write_text(header + row.format(port=8080, state="0A", inode=111)
                             + row.format(port=8080, state="01", inode=222)  # an established connection
                             + row.format(port=9090, state="0A", inode=333))
    (net / "tcp6").write_text(header + row.format(port=8080, state="0A", inode=444))
    assert listening_inodes(8080, proc=tmp_path) == {"111", "444"}
    assert listening_inodes(7070, proc=tmp_path) == set()


def test_a_port_held_by_another_program_fails_and_it_keeps_running(children, checkout):
    port = free_port()
    code = ("import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); "
            "print('up', flush=True); time.sleep(120)")
    holder = children([sys.executable, "-c", code, str(port)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "up"
    for check in (lambda: check_port_before_stopping("127.0.0.1", port, checkout),
                  lambda: free_port_or_fail("127.0.0.1", port, checkout, 1.0)):
        with pytest.raises(StartupFailed, match=rf"^port {port} is in use by another program \(PID {holder.pid}: "):
            check()
    assert holder.poll() is None


def test_a_port_held_by_a_stale_own_instance_is_freed(children, checkout, app_script, capsys):
    port = free_port()
    code = ("import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[2]))); s.listen(); "
            "print('up', flush=True); time.sleep(120)")
    # The same command line shape as the app (venv python, this checkout's app script), listening on the port.
    app_script.write_text(code.replace("sys.argv[2]", "sys.argv[1]"))
    own = children([str(VENV_PY), str(app_script), str(port)], stdout=subprocess.PIPE, text=True,
                   start_new_session=True)
    assert own.stdout.readline().strip() == "up"
    check_port_before_stopping("127.0.0.1", port, checkout)  # ours: passes, nothing stopped yet
    assert own.poll() is None
    free_port_or_fail("127.0.0.1", port, checkout, 2.0)
    assert own.wait(timeout=5) is not None and port_state("127.0.0.1", port) is PortState.FREE
    assert f"stopping an earlier instance of this app on port {port} (PID {own.pid})" in capsys.readouterr().out


# ---------------------------------------------------------------- the PID file and processes


def test_pid_file_reads_digits_only_and_writes_atomically(tmp_path):
    pid_file = PidFile(tmp_path / "run" / "app.pid")
    assert pid_file.read() is None
    pid_file.write(1234)
    assert pid_file.path.read_text() == "1234\n" and pid_file.read() == 1234
    assert [p.name for p in pid_file.path.parent.iterdir()] == ["app.pid"]  # no temporary file left
    pid_file.path.write_text("  56 \n")
    assert pid_file.read() == 56
    pid_file.path.write_text("not a pid")
    assert pid_file.read() is None
    pid_file.path.write_text("1" * 40)
    assert pid_file.read() == int("1" * 32)  # only the first 32 bytes count
    pid_file.remove()
    pid_file.remove()  # removing a missing file is fine
    assert not pid_file.path.exists()


def test_is_our_app_needs_the_venv_python_and_this_checkouts_app(children, checkout, app_script, tmp_path):
    ours = start_app(children, app_script)
    assert alive(ours.pid) and is_our_app(ours.pid, checkout)
    assert port_argument(ours.pid) is None and describe_command(ours.pid) == f"{VENV_PY} {app_script}"

    # argv[1] relative to the process's working directory still names the same script.
    relative = start_app(children, Path("app.py"), "--port", "8123", cwd=tmp_path)
    assert is_our_app(relative.pid, checkout) and port_argument(relative.pid) == 8123

    other_script = tmp_path / "other" / "app.py"
    other_script.parent.mkdir()
    other_script.write_text(app_script.read_text())
    assert not is_our_app(start_app(children, other_script).pid, checkout)  # another checkout's app

    system_python = Path("/usr/bin/python3")
    if system_python.exists():  # the same script under a python that is not the venv's
        proc = children([str(system_python), str(app_script)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "up" and not is_our_app(proc.pid, checkout)

    sleeper = children(["sleep", "60"])
    assert alive(sleeper.pid) and not is_our_app(sleeper.pid, checkout)
    sleeper.kill()
    sleeper.wait()
    assert not alive(sleeper.pid) and not is_our_app(sleeper.pid, checkout)


def test_stop_escalates_to_sigkill_and_stops_the_whole_group(children, capsys):
    # A process that ignores SIGTERM and leads its own group (as the launcher starts the app), with a helper.
    code = ("import signal, subprocess, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "helper = subprocess.Popen(['sleep', '120']); print(helper.pid, flush=True); time.sleep(120)")
    leader = children([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    helper = int(leader.stdout.readline())
    started = time.monotonic()
    assert stop_process(leader.pid, 0.5)
    assert time.monotonic() - started < 5
    assert f"warning: PID {leader.pid} did not stop within 0.5 s of SIGTERM; sending SIGKILL" in capsys.readouterr().err
    assert leader.wait(timeout=5) == -signal.SIGKILL
    assert wait_for(lambda: not alive(helper))  # killed with its group


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)
    return predicate()


def test_stop_recorded_instance_stops_only_this_app(children, checkout, app_script, tmp_path, capsys):
    pid_file = PidFile(tmp_path / "app.pid")
    assert stop_recorded_instance(pid_file, checkout, 1.0) is None  # no file: nothing to do

    gone = children(["true"])
    gone.wait()
    pid_file.write(gone.pid)
    assert stop_recorded_instance(pid_file, checkout, 1.0) is None and not pid_file.path.exists()
    assert f"removing a stale PID file ({pid_file.path}: PID {gone.pid} is not running)" in capsys.readouterr().out

    sleeper = children(["sleep", "60"])
    pid_file.write(sleeper.pid)
    assert stop_recorded_instance(pid_file, checkout, 1.0) is None
    assert "which is not this app (sleep 60); leaving it alone" in capsys.readouterr().out
    assert sleeper.poll() is None and not pid_file.path.exists()

    ours = start_app(children, app_script, start_new_session=True)
    pid_file.write(ours.pid)
    assert stop_recorded_instance(pid_file, checkout, 2.0) == ours.pid
    assert ours.wait(timeout=5) == -signal.SIGTERM and not pid_file.path.exists()
    assert f"stopping the running instance (PID {ours.pid})" in capsys.readouterr().out


# ---------------------------------------------------------------- logs


def test_rotation_keeps_the_newest_and_the_new_log_makes_keep(tmp_path):
    names = [logs.new_log_path(tmp_path, dt.datetime(2026, 1, 2, 3, 4, 5, i * 1000)).name for i in range(5)]
    assert names[0] == "app-20260102-030405-000.log" and names == sorted(names)
    for name in names:
        (tmp_path / name).write_text(name)
    (tmp_path / "renew.log").write_text("other logs are not the app's")
    deleted = logs.rotate_logs(tmp_path, keep=3)
    assert [p.name for p in deleted] == names[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == names[3:] + ["renew.log"]
    assert logs.rotate_logs(tmp_path, keep=10) == []


def test_app_log_points_at_the_newest(tmp_path):
    first, second = tmp_path / "app-1.log", tmp_path / "app-2.log"
    for log in (first, second):
        log.write_text(log.name)
        logs.link_newest(log)
        assert os.readlink(tmp_path / "app.log") == log.name  # relative: the folder may move
    assert (tmp_path / "app.log").read_text() == "app-2.log"


def test_tail_is_the_last_lines_as_tail_prints_them():
    text = b"".join(b"line %d\n" % i for i in range(80))
    assert logs.tail(text) == b"".join(b"line %d\n" % i for i in range(30, 80))
    assert logs.tail(b"a\nb\nc", 2) == b"b\nc"  # an unterminated last line counts
    assert logs.tail(b"a\nb\n", 5) == b"a\nb\n" and logs.tail(b"") == b""
    assert logs.stamped("ready").endswith(" start_app.sh: ready\n")


# ---------------------------------------------------------------- readiness


class ReadyzServer:
    """/readyz on 127.0.0.1: 503 {"status": "loading"} for the first ``loading`` probes, then ``final``."""

    def __init__(self, loading: int, final: tuple[int, dict]) -> None:
        self.loading, self.final, self.probes = loading, final, 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                owner.probes += 1
                code, body = (503, {"status": "loading"}) if owner.probes <= owner.loading else owner.final
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/readyz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "ReadyzServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def running() -> None:
    return None


def test_wait_until_ready_after_loading():
    with ReadyzServer(loading=2, final=(200, {"status": "ready"})) as server:
        outcome = readiness.wait_until_ready(server.url, server.port, running, timeout_s=10, interval_s=0.05)
        assert outcome == readiness.Outcome("ready") and server.probes == 3
        assert readiness.describe_state(server.url) == "ready"


def test_wait_until_ready_reports_a_failed_model_load_and_the_last_state_on_timeout():
    failed = (503, {"status": "failed", "error": "simulated: model file missing"})
    with ReadyzServer(loading=1, final=failed) as server:
        outcome = readiness.wait_until_ready(server.url, server.port, running, timeout_s=10, interval_s=0.05)
        assert outcome == readiness.Outcome("failed", detail="simulated: model file missing")
        assert readiness.describe_state(server.url) == "failed"
    with ReadyzServer(loading=10**6, final=(200, {})) as server:
        outcome = readiness.wait_until_ready(server.url, server.port, running, timeout_s=0.3, interval_s=0.05)
        assert outcome == readiness.Outcome("timeout", detail="loading (/readyz 503)")
        assert readiness.describe_state(server.url) == "loading"
    with ReadyzServer(loading=0, final=(500, {})) as server:
        outcome = readiness.wait_until_ready(server.url, server.port, running, timeout_s=0.2, interval_s=0.05)
        assert outcome == readiness.Outcome("timeout", detail="/readyz answered HTTP 500")


def test_wait_until_ready_stops_when_the_app_exits_and_nothing_answering_is_a_state():
    port = free_port()
    url = f"http://127.0.0.1:{port}/readyz"
    assert readiness.probe(url) == (readiness.NOT_ANSWERING, b"")
    assert readiness.describe_state(url) == "not answering"
    outcome = readiness.wait_until_ready(url, port, running, timeout_s=0.2, interval_s=0.05)
    assert outcome == readiness.Outcome("timeout", detail=f"not answering on port {port}")
    assert readiness.wait_until_ready(url, port, lambda: 3, timeout_s=5) == readiness.Outcome("exited", exit_code=3)


def test_json_field_is_text_or_empty():
    assert readiness.json_field(b'{"status": "loading", "n": null}', "status") == "loading"
    assert readiness.json_field(b'{"n": null}', "n") == "" and readiness.json_field(b"<html>", "status") == ""
    assert readiness.json_field(b"[1]", "status") == ""


# ---------------------------------------------------------------- URLs and preflight


def test_urls_for_a_browser_here_and_on_the_lan(monkeypatch, tmp_path):
    assert [url_host(h) for h in ("0.0.0.0", "", "::", "::1", "127.0.0.1")] == [
        "127.0.0.1", "127.0.0.1", "[::1]", "[::1]", "127.0.0.1"]
    monkeypatch.setattr("indextts.launcher.urls.lan_ip", lambda: "192.0.2.7")
    lan = LaunchSettings(host="0.0.0.0", port=7861, listen=True, auth=False, logs=tmp_path, cache_hub=tmp_path,
                         pid_file=tmp_path / "app.pid", ready_timeout_s=1, stop_timeout_s=1, keep_logs=1)
    assert startup_ok_line(lan) == "STARTUP_OK http://127.0.0.1:7861 (LAN: http://192.0.2.7:7861, NO AUTH)"
    assert startup_ok_line(default_settings(tmp_path, 7862)) == "STARTUP_OK http://127.0.0.1:7862"


def test_required_weights_missing_ignores_optional_entries(tmp_path):
    entries = [{"name": "model", "path": "m/model.bin"}, {"name": "voices", "path": "v.bin", "optional": True}]
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 1, "entries": entries}))
    assert required_weights_missing(tmp_path)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.bin").write_bytes(b"x")
    assert not required_weights_missing(tmp_path)


def test_disk_check_names_the_need(tmp_path):
    venv_less = Checkout(root=tmp_path, python=tmp_path / "no-venv" / "bin" / "python", app=str(tmp_path / "app.py"))
    with pytest.raises(StartupFailed, match=r"MB needed for the first install \(virtualenv\); free some space"):
        check_disk(venv_less, {"INDEXTTS_MIN_FREE_MB": str(10**12)})
    check_disk(venv_less, {"INDEXTTS_MIN_FREE_MB": "1"})


# ---------------------------------------------------------------- the weights plan


PLAN = "\n".join([
    "setting\tcurl_retries\t2", "setting\trenew_margin_s\t86400", "renew\tno", "optional\textra",
    "fetch\tmodel\t/hub/m.bin\thttp://s3/m.bin?sig=1\t" + "a" * 64 + "\t10\t2026-01-01T00:00:00Z\tmissing",
    "fetch\textra\t/hub/x.bin\thttp://s3/x.bin\t" + "b" * 64 + "\t5\t-\tmissing",
]) + "\n"


class FakeTool:
    """The weights tool's answers, scripted; records what was asked."""

    text = "py -m indextts.weights"
    environment: dict[str, str] = {}

    def __init__(self, plans: list[str], credentials: bool = False) -> None:
        self.plans, self.credentials, self.calls = list(plans), credentials, []

    def plan(self) -> WeightsPlan:
        self.calls.append("plan")
        return WeightsPlan.parse(self.plans.pop(0) if len(self.plans) > 1 else self.plans[0])

    def has_credentials(self) -> bool:
        self.calls.append("has-credentials")
        return self.credentials

    def refresh(self, *args: str) -> bool:
        self.calls.append(" ".join(("refresh", *args)))
        return True

    def ensure(self) -> bool:
        self.calls.append("ensure")
        return True


def test_plan_parses_settings_optional_entries_and_downloads():
    plan = WeightsPlan.parse(PLAN)
    assert plan.curl_environment == {"WEIGHTS_CURL_RETRIES": "2"} and not plan.renew and plan.optional == {"extra"}
    assert plan.downloads[0] == Download("model", "/hub/m.bin", "http://s3/m.bin?sig=1", "a" * 64, "10",
                                         "2026-01-01T00:00:00Z", "missing")
    assert plan.downloads[1].expires_at is None


def test_an_optional_download_that_fails_is_a_warning(capsys):
    tool = FakeTool([PLAN])
    fetched = []

    def fetch(download: Download, env) -> tuple[int, str]:
        fetched.append((download.name, env["WEIGHTS_CURL_RETRIES"]))
        return (0, "") if download.name == "model" else (12, "extra: could not connect")

    assert ensure_all_weights(tool, fetch)
    assert fetched == [("model", "2"), ("extra", "2")] and tool.calls == ["plan", "ensure"]
    assert "weights: extra (optional): extra: could not connect; going on without it" in capsys.readouterr().out


def test_an_expired_link_is_renewed_once_and_retried():
    tool = FakeTool([PLAN], credentials=True)
    answers = iter([(10, "model: the link has expired (HTTP 403: Request has expired)"), (0, ""), (0, "")])
    assert ensure_all_weights(tool, lambda d, env: next(answers))
    assert tool.calls == ["plan", "has-credentials", "refresh", "plan", "ensure"]


def test_an_expired_link_without_credentials_names_the_renew_command(capsys):
    tool = FakeTool([PLAN.replace("renew\tno", "renew\tyes")], credentials=False)
    assert not ensure_all_weights(tool, lambda d, env: (10, "model: the link has expired"))
    out, err = capsys.readouterr()
    assert "it cannot be renewed here (no AWS credentials)" in out
    assert "error: the download link for 'model' has expired (it was valid until 2026-01-01T00:00:00Z)" in err
    assert "py -m indextts.weights refresh" in err and tool.calls == ["plan", "has-credentials"]


def test_a_refused_download_fails_with_the_reason(capsys):
    tool = FakeTool([PLAN])
    assert not ensure_all_weights(tool, lambda d, env: (11, "model: the server refused the download (HTTP 403)"))
    err = capsys.readouterr().err
    assert "error: model: the server refused the download (HTTP 403)" in err and "renew it: py -m" in err
    assert "ensure" not in tool.calls
