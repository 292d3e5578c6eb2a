"""Scale-out on Ray Serve (indextts/scale): ``./start_app.sh --replicas 2`` for real (one Ray start for the
module), the same API answered by both replicas, a voice cloned through one replica used through the other,
the app's 503 when a replica's queue is full, and a stop that leaves no process of ours. Plus the fast checks:
the single-process app never imports ray, and a voice library sees what another process changed."""

from __future__ import annotations

import concurrent.futures
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import soundfile as sf
import torch

from conftest import ROOT, app_env, free_port, wait_until
from indextts.scale.supervisor import session_processes

LAUNCHER = ROOT / "start_app.sh"
SPEECH = "/v1/audio/speech"
TEXT = "Scaling out keeps every listener served. Each replica holds its own copy of the model."


class ScaledApp:
    """start_app.sh --replicas 2 with this module's port, folders and PID file."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.pid_file = tmp / "app.pid"
        self.env = app_env(tmp)
        # 1 running + 1 waiting per replica: the backpressure test fills it; the others send fewer at once
        self.env.update(INDEXTTS_LAUNCHER__PID_FILE=str(self.pid_file), INDEXTTS_LAUNCHER__READY_TIMEOUT_S="900",
                        INDEXTTS_SERVER__CONCURRENCY_LIMIT="1", INDEXTTS_SERVER__MAX_QUEUE="1")
        self.pid: int | None = None

    def run(self, *args: str, timeout_s: float = 960) -> subprocess.CompletedProcess:
        return subprocess.run([str(LAUNCHER), "--port", str(self.port), *args], env=self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout_s)


@pytest.fixture(scope="module")
def scaled():
    pytest.importorskip("ray.serve", reason="requirements-ray.txt is not installed (run_tests.sh installs it)")
    # Ray's unix sockets need a short temp dir: the logs folder (Ray's lives in <logs>/ray) goes under /tmp.
    tmp = Path(tempfile.mkdtemp(prefix="ixs-"))
    app = ScaledApp(tmp)
    started = app.run("--replicas", "2", "--threads", "1")
    assert started.returncode == 0, f"{started.stdout}\n{started.stderr}"
    assert f"STARTUP_OK http://127.0.0.1:{app.port}" in started.stdout
    app.pid = int(app.pid_file.read_text())
    try:
        yield app
    finally:
        if app.pid_file.exists():
            app.run("--stop", timeout_s=120)
        for pid in session_processes(app.pid):  # a failed test must not leave Ray running on the machine
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)


def speak(url: str, voice: str = "af_heart", text: str = TEXT, **extra) -> httpx.Response:
    return httpx.post(f"{url}{SPEECH}", json={"input": text, "voice": voice, "response_format": "wav", **extra},
                      timeout=300)


def duration_s(wav: bytes) -> float:
    audio, rate = sf.read(io.BytesIO(wav))
    return len(audio) / rate


@pytest.mark.slow
def test_started_replicas_answer_concurrent_requests_from_both(scaled):
    """STARTUP_OK came once both replicas were ready (/readyz 200, the status says so); concurrent requests
    are spread over both replicas, each answer real speech tagged with the replica that made it."""
    ready = httpx.get(f"{scaled.url}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    status = scaled.run("--status", timeout_s=60)
    assert status.returncode == 0 and f"PID {scaled.pid}" in status.stdout and "ready" in status.stdout
    seen: dict[str, float] = {}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for _round in range(4):
            for response in pool.map(lambda _: speak(scaled.url), range(2)):
                assert response.status_code == 200, response.text
                seen[response.headers["x-replica"]] = duration_s(response.content)
            if len(seen) == 2:
                break
    assert len(seen) == 2, f"only replica(s) {sorted(seen)} answered"
    assert all(seconds > 3.0 for seconds in seen.values()), seen


@pytest.mark.slow
def test_same_routes_and_error_shapes_as_the_single_process(scaled):
    """The replica serves the single process's routes: voices, streaming speech, probes, metrics, and the
    OpenAI error shape for bad input and unknown routes, each with X-Replica."""
    voices = httpx.get(f"{scaled.url}/v1/voices", timeout=30)
    assert voices.status_code == 200 and "x-replica" in voices.headers
    assert "af_heart" in [v["id"] for v in voices.json()["voices"]]
    assert httpx.get(f"{scaled.url}/v1/audio/voices", timeout=30).status_code == 200
    assert httpx.get(f"{scaled.url}/healthz", timeout=30).json() == {"status": "ok"}
    metrics = httpx.get(f"{scaled.url}/metrics", timeout=30)
    assert "indextts_http_requests_total" in metrics.text and "x-replica" in metrics.headers
    bad = speak(scaled.url, voice="no_such_voice")
    assert bad.status_code == 400 and "x-replica" in bad.headers
    assert "no_such_voice" in bad.json()["error"]["message"]
    missing = httpx.get(f"{scaled.url}/v1/nope", timeout=30)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    batches = httpx.post(f"{scaled.url}/v1/batches", content=b'{"text": "hi"}\n', timeout=30)  # one process's queue
    assert batches.status_code == 501 and "single-process" in batches.json()["error"]["message"]
    started = time.monotonic()
    with httpx.stream("POST", f"{scaled.url}{SPEECH}", timeout=300,
                      json={"input": TEXT, "voice": "af_heart", "response_format": "pcm", "stream": True}) as r:
        assert r.status_code == 200 and "x-replica" in r.headers
        chunks = [chunk for chunk in r.iter_bytes() if chunk]
    assert len(chunks) > 1 and sum(map(len, chunks)) > 24000 * 2 * 3  # > 3 s of 16-bit PCM at 24 kHz
    assert time.monotonic() - started < 300


@pytest.mark.slow
def test_a_voice_cloned_through_one_replica_speaks_through_both(scaled):
    """The library lives in paths.voices, which every replica reads: a clone saved by one replica is listed
    and usable by the other, and deleting it through one removes it from both."""
    reference = speak(scaled.url, voice="am_michael")
    assert reference.status_code == 200
    name = f"shared_{int(time.time())}"
    created = httpx.post(f"{scaled.url}/v1/voices", files={"file": ("ref.wav", reference.content, "audio/wav")},
                         data={"name": name, "steps": "5"}, timeout=600)
    assert created.status_code == 200, created.text
    cloner = created.headers["x-replica"]
    spoken_by: set[str] = set()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for _round in range(5):
            for response in pool.map(lambda _: speak(scaled.url, voice=name, text="A cloned voice."), range(2)):
                assert response.status_code == 200, response.text
                spoken_by.add(response.headers["x-replica"])
            if len(spoken_by) == 2:
                break
    assert len(spoken_by) == 2 and cloner in spoken_by, (cloner, spoken_by)
    assert httpx.delete(f"{scaled.url}/v1/voices/{name}", timeout=60).status_code == 200
    refused: set[str] = set()
    for _ in range(12):
        response = speak(scaled.url, voice=name, text="Gone.")
        assert response.status_code == 400, response.text
        refused.add(response.headers["x-replica"])
    assert len(refused) == 2


@pytest.mark.slow
def test_a_full_replica_answers_the_apps_503_with_retry_after(scaled):
    """Each replica takes 1 running + 1 waiting generation (server.*); more at once get the single process's
    "queue is full" 503: OpenAI error shape and Retry-After, from the replica (Serve's own limit sits above)."""
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: speak(scaled.url, text=TEXT * 3), range(8)))
    codes = sorted(r.status_code for r in responses)
    assert 200 in codes and 503 in codes and set(codes) <= {200, 503}, codes
    for full in (r for r in responses if r.status_code == 503):
        assert full.headers["retry-after"].isdigit() and "x-replica" in full.headers
        assert "queue is full" in full.json()["error"]["message"]


@pytest.mark.slow
def test_stop_leaves_no_process_of_ours(scaled):
    """--stop ends the supervisor, Serve and Ray: no process of the session the launcher started remains."""
    members = session_processes(scaled.pid)
    assert len(members) > 4, members  # the supervisor, GCS, raylet, the proxy and the replicas
    stopped = scaled.run("--stop", timeout_s=120)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    assert wait_until(lambda: not session_processes(scaled.pid), timeout_s=30, every_s=0.5), \
        [(pid, Path(f"/proc/{pid}/cmdline").read_bytes()[:80]) for pid in session_processes(scaled.pid)]
    assert scaled.run("--status", timeout_s=60).returncode == 3
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{scaled.url}/healthz", timeout=5)


def test_the_single_process_app_does_not_import_ray():
    """Ray Serve is optional: app.py, the app factory and the CLI load without it."""
    probe = ("import sys; sys.argv = ['app.py']; import app; from indextts.server import app as server_app; "
             "from indextts import cli; from indextts.config import Settings; "
             "app.overrides_from(app.parse_args([])); "
             "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_library_sees_voices_another_process_saved_replaced_or_deleted(tmp_path):
    """Two replicas = two VoiceLibrary objects on one folder: a re-saved voice must not keep the old pack in
    the other one's cache, and a deleted one must be gone there too."""
    from indextts.voice_library import VoiceLibrary

    writer, reader = VoiceLibrary(tmp_path), VoiceLibrary(tmp_path)
    first, second = torch.full((510, 1, 256), 0.1), torch.full((510, 1, 256), 0.2)
    writer.save("shared", first, {"kind": "cloned"})
    assert torch.equal(reader.pack("shared"), first)
    writer.delete("shared")
    with pytest.raises(Exception, match="no saved voice"):
        reader.pack("shared")
    writer.save("shared", second, {"kind": "cloned"})
    assert torch.equal(reader.pack("shared"), second)
    writer.save("shared", first, {"kind": "cloned"}, overwrite=True)
    assert torch.equal(reader.pack("shared"), first)


def test_serve_limit_sits_above_the_apps_queue():
    """Serve's per-replica limit leaves room for the app's own gate (so the 503 is the app's) and probes."""
    from indextts.config import Settings
    from indextts.scale.options import PROBE_HEADROOM, ScaleOptions, cluster_cpus, max_ongoing_requests, replica_threads

    settings = Settings.load(overrides={"server": {"concurrency_limit": 2, "max_queue": 5}})
    assert max_ongoing_requests(settings) == 2 + 5 + PROBE_HEADROOM
    assert replica_threads(settings) == 1  # never "all cores" in each replica
    assert cluster_cpus(settings, ScaleOptions(3)) == 3
    with pytest.raises(ValueError, match="--replicas"):
        ScaleOptions(0).check()


@pytest.mark.parametrize("flags, message", [
    (["--replicas", "0"], "--replicas must be a number from 1 to 256"),
    (["--replicas", "two"], "--replicas must be a number from 1 to 256"),
    (["--num-cpus-per-replica", "2"], "--num-cpus-per-replica needs --replicas N"),
    (["--replicas", "2", "--num-cpus-per-replica", "x"], "--num-cpus-per-replica must be a number"),
    (["--threads", "-1"], "--threads must be a number"),
    (["--address", "ray://head:10001"], "--address needs --replicas N"),
])
def test_launcher_refuses_bad_scale_flags_before_doing_anything(flags, message):
    """Bad scale-out flags are usage errors (exit 2) named by the launcher, before any setup or Ray start."""
    out = subprocess.run([str(LAUNCHER), *flags], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and message in out.stderr, out.stderr


def test_a_replica_app_has_the_single_process_auth_cors_and_its_own_headers(tmp_path):
    """In process, no Ray: the replica's app asks for the same credentials, answers CORS with X-Replica exposed,
    marks every answer with its id, and says 503 at /readyz until every replica runs."""
    import base64

    from fastapi.testclient import TestClient

    from fake_engine import FakeEngine
    from indextts.config import Settings
    from indextts.scale.replica_app import DeploymentReadiness, build_replica_app
    from indextts.server.engine_holder import EngineHolder

    settings = Settings.load(environ={}, overrides={
        "paths": {"outputs": str(tmp_path / "outputs"), "voices": str(tmp_path / "voices"),
                  "logs": str(tmp_path / "logs"), "presets": str(tmp_path / "presets"),
                  "glossary": str(tmp_path / "glossary.yaml")},
        "server": {"auth_user": "ann", "auth_password": "s3cret-pass", "cors_origins": ["http://studio.test"]}})
    running = {"now": (0, 2)}
    holder = EngineHolder(settings, loader=lambda s: FakeEngine())
    app = build_replica_app(settings, holder, "replica-7", DeploymentReadiness(lambda: running["now"]))
    login = {"Authorization": "Basic " + base64.b64encode(b"ann:s3cret-pass").decode()}
    with TestClient(app) as client:
        assert holder.wait(10)
        refused = client.get("/v1/voices")
        assert refused.status_code == 401 and refused.headers["x-replica"] == "replica-7"
        voices = client.get("/v1/voices", headers={**login, "Origin": "http://studio.test"})
        assert voices.status_code == 200 and "x-replica" in voices.headers["access-control-expose-headers"].lower()
        assert voices.headers["access-control-allow-origin"] == "http://studio.test"
        assert client.get("/readyz").status_code == 503
        running["now"] = (2, 2)
        assert client.get("/readyz").status_code == 200
