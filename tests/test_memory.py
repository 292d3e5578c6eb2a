"""Memory under use: the server's resident memory goes back down after requests and clones (issue 15).

The end-to-end test starts its own `python app.py` (a fresh process: a shared server's memory depends on
whatever ran before), reads its RSS from /proc after load, sends mixed requests of many lengths from two
clients and one clone, and checks that the RSS comes back near its live size. Without the releases, 8
requests leave ~750 MB and one clone ~500 MB more resident (freed heap kept by glibc in one arena per thread,
and oneDNN's primitive cache); bench/memory.py measures a whole user session (bench/RESULTS.md).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
import soundfile as sf
import torch

from conftest import ROOT, _wait_ready, app_env, free_port, stop_process
from indextts.model import host_memory
from indextts.model.checkpoint import float_convolutions
from indextts.model.int8 import Int8Conv1d, int8_available

slow = pytest.mark.slow
needs_glibc = pytest.mark.skipif(host_memory._LIBC is None, reason="glibc malloc only (malloc_trim, mallopt)")
needs_int8 = pytest.mark.skipif(not int8_available(), reason="this torch build has no oneDNN int8 convolution")

TEXTS = [
    "The train was late again this morning.",
    "今天天气很好，我们一起去公园散步吧。路边的花都开了，非常漂亮。",
    "Please close the window before you leave. The heating is on, and the room gets cold at night.",
    "Our quarterly revenue grew by 14% to $3.2 million, driven by strong demand in Europe. We hired twelve new "
    "engineers, opened an office in Berlin, and shipped version 2.0 of the app on September 15, 2025.",
    "她每天早上都会喝一杯热茶。然后她打开电脑，开始一天的工作。",
    "Could you call me back after the meeting?",
    "The old lighthouse keeper climbed the stairs every evening. He checked the lamp, wiped the windows, and "
    "wrote a short note in his journal about the weather and the passing ships. Then he went to bed.",
    "We will meet again tomorrow morning at the station, at a quarter past nine.",
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory):
    """A `python app.py` of its own (its memory is this module's alone)."""
    tmp = tmp_path_factory.mktemp("memory_server")
    port = free_port()
    env = app_env(tmp)
    env.pop("MALLOC_ARENA_MAX", None)
    env.pop("ONEDNN_PRIMITIVE_CACHE_CAPACITY", None)
    log_path = tmp / "app.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--device", "cpu", "--threads", "2"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log_path, timeout_s=180)
        yield url, proc
    finally:
        stop_process(proc)


def speak_all(url: str, bodies: list[dict], clients: int = 2) -> None:
    """POST every body to /v1/audio/speech from ``clients`` threads; every reply must be audio."""
    pending = list(reversed(bodies))
    failures: list[str] = []
    guard = threading.Lock()

    def client() -> None:
        with httpx.Client(timeout=300) as http:
            while True:
                with guard:
                    if not pending:
                        return
                    body = pending.pop()
                reply = http.post(f"{url}/v1/audio/speech", json=body)
                if reply.status_code != 200 or len(reply.content) < 1000:
                    with guard:
                        failures.append(f"{body['input'][:30]!r}: {reply.status_code} {reply.text[:200]}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures


@slow
@needs_glibc
def test_resident_memory_comes_back_after_requests_and_a_clone(fresh_server):
    url, proc = fresh_server
    after_load = rss_mb(proc.pid)
    voices = ["af_heart", "am_michael", "bf_emma", "zf_xiaobei", "af_bella+af_sky"]
    bodies = [{"input": text, "voice": voices[i % len(voices)], "response_format": "wav",
               **({"stream": True} if i % 3 == 2 else {})} for i, text in enumerate(TEXTS)]
    bodies.append({"input": " ".join(TEXTS[i] for i in (2, 3, 6, 7, 0, 5)), "voice": "af_heart",
                   "response_format": "mp3", "lang": "en"})
    speak_all(url, bodies)
    after_requests = rss_mb(proc.pid)
    # Without the releases: +750 MB after 8 such requests (oneDNN's cache grows ~10 MB per new length; every
    # worker thread's malloc arena keeps its largest segment's tensors).
    assert after_requests - after_load < 200, (after_load, after_requests)

    reference = httpx.post(f"{url}/v1/audio/speech", timeout=120, json={
        "input": "She found a quiet place by the river and began to read. We will meet again tomorrow.",
        "voice": "bm_george", "response_format": "wav"})
    assert reference.status_code == 200
    audio, rate = sf.read(io.BytesIO(reference.content), dtype="float32")
    clip = io.BytesIO()
    sf.write(clip, audio, rate, format="WAV")
    cloned = httpx.post(f"{url}/v1/voices", timeout=600, data={"name": "memory_test", "steps": "6"},
                        files={"file": ("ref.wav", clip.getvalue(), "audio/wav")})
    assert cloned.status_code == 200, cloned.text
    after_clone = rss_mb(proc.pid)
    # The fit's autograd buffers (~750 MB) must not stay in the heap. What may stay is live: librosa and
    # numba for pitch (~85 MB), the reference's and the fitter's modules, the speaker encoder (~190 MB in all).
    assert after_clone - after_requests < 300, (after_requests, after_clone)
    speak_all(url, [{"input": TEXTS[3], "voice": "memory_test", "response_format": "wav"}])


def test_the_last_of_overlapping_requests_releases_freed_memory(monkeypatch):
    released: list[int] = []
    monkeypatch.setattr(host_memory, "release_free_memory", lambda: released.append(1))
    requests = host_memory.IdleRelease()
    with requests.job():
        with requests.job():
            pass
        assert released == []  # another request is still running: its next segment reuses the memory
    assert released == [1]
    with pytest.raises(ValueError):
        with requests.job():
            raise ValueError("a failed request ends too")
    assert released == [1, 1]


def test_configure_keeps_settings_the_environment_gives(monkeypatch):
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "64")
    host_memory.configure()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "64"
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY")
    host_memory.configure()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == str(host_memory.ONEDNN_CACHE_ENTRIES)


@slow
@needs_int8
def test_int8_convolutions_keep_no_float_weights_outside_a_fit(engine):
    convs = [m for m in engine.model.modules() if isinstance(m, Int8Conv1d)]
    assert convs and not any(conv.has_float_weight for conv in convs)  # 54 MB not resident
    x = torch.randn(1, convs[0].float_conv.in_channels, 40, requires_grad=True)
    with pytest.raises(RuntimeError, match="float_convolutions"):
        convs[0](x)  # autograd without the weights: a clear error, never int8 gradients
    with float_convolutions(engine.model):
        assert all(conv.has_float_weight for conv in convs)
        convs[0](x).sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0
    assert not any(conv.has_float_weight for conv in convs)
