"""HTTP serving defects (issue 15): text the server cannot store, abandoned and runaway work, uploads over the
limit, error messages of the voice routes, unsaved clones kept per page session, and CORS. Through the real
`python app.py` (live_server) where the real model can show it, else through a real socket server (uvicorn
in a thread) around the app with a fake engine."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import select
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch
from prometheus_text import metric

from conftest import serving, wait_until
from indextts.errors import InputError
from indextts.voice_library import VoiceLibrary
from indextts.voice_studio import VoiceStudio
from indextts.voices import VoiceBank, session_voice
from fake_engine import FakeEngine
from http_checks import assert_alive, assert_openai_error

SPEECH_ERRORS = 'indextts_errors_total{kind="%s",route="/v1/audio/speech"}'


def post_raw_json(url: str, raw: bytes, timeout: float = 120) -> httpx.Response:
    """A JSON body sent byte for byte (a client library would refuse to encode a lone surrogate)."""
    return httpx.post(url, content=raw, headers={"content-type": "application/json"}, timeout=timeout)


def output_files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file() and ".gradio" not in p.parts}


# ---------------------------------------------------------------- 1. a lone surrogate in the text

LONE = b"\\ud800"  # JSON's escape for half a surrogate pair: valid JSON, but no text can be encoded from it


@pytest.mark.parametrize("route,raw,param,position", [
    ("/v1/audio/speech", b'{"input": "Hello ' + LONE + b' world.", "response_format": "wav"}', "input", 6),
    ("/v1/audio/speech", b'{"input": "Hello ' + LONE + b' world.", "response_format": "pcm", "stream": true}',
     "input", 6),
    ("/v1/audio/speech", b'{"input": "Hello world.", "emotion_text": "very ' + LONE + b'happy"}', "emotion_text", 5),
    ("/v1/emotion/resolve", b'{"text": "sad ' + LONE + b'"}', "text", 4),
], ids=["input", "input streamed", "emotion_text", "resolve"])
def test_a_lone_surrogate_is_a_400_naming_the_field_before_any_work(live_server, route, raw, param, position):
    before_files = output_files(live_server.outputs)
    generations = metric(live_server.url, 'indextts_generations_total{source="api"}')
    started = time.monotonic()
    response = post_raw_json(live_server.url + route, raw)
    error = assert_openai_error(response, 400, f"at position {position}", param)
    assert "U+D800" in error["message"] and "surrogate" in error["message"]
    assert time.monotonic() - started < 5, "rejected at the edge, not after a synthesis"
    assert metric(live_server.url, 'indextts_generations_total{source="api"}') == generations
    assert output_files(live_server.outputs) == before_files  # no wav left without its sidecar
    assert_alive(live_server.url)


def test_a_failed_sidecar_takes_its_audio_along_and_retention_removes_orphans(make_app, monkeypatch):
    from fastapi.testclient import TestClient

    import indextts.server.outputs as outputs

    app, settings = make_app()
    day = settings.paths.outputs / "2026-01-02"
    day.mkdir(parents=True)
    stale, fresh, leftover = day / "0123abcd.wav", day / "4567cdef.wav", day / ".89ab.wav.x1y2.tmp"
    for path in (stale, fresh, leftover):
        path.write_bytes(b"RIFF" + b"\0" * 100)
    hour_ago = time.time() - 3600
    for path in (stale, leftover):
        os.utime(path, (hour_ago, hour_ago))
    preview = settings.paths.outputs / ".previews" / "voice.wav"  # not a generation: never retention's
    preview.parent.mkdir(parents=True)
    preview.write_bytes(b"RIFF")
    os.utime(preview, (hour_ago, hour_ago))
    with TestClient(app) as client:
        app.state.holder.wait(10)
        saved = client.post("/v1/audio/speech", json={"input": "Kept.", "response_format": "wav"})
        assert saved.status_code == 200
        assert not stale.exists() and not leftover.exists(), "an output without its sidecar is never removed"
        assert fresh.exists(), "a very recent file may be a save in progress: kept"
        assert preview.exists()

        real_atomic_path = outputs.atomic_path

        def disk_full_for_sidecars(path):
            if str(path).endswith(".json"):
                raise OSError(28, "No space left on device")
            return real_atomic_path(path)

        monkeypatch.setattr(outputs, "atomic_path", disk_full_for_sidecars)
        before = {p for p in settings.paths.outputs.glob("*/*") if p.suffix == ".wav"}
        response = client.post("/v1/audio/speech", json={"input": "Lost sidecar.", "response_format": "wav"})
        assert response.status_code == 200 and "X-Output-Id" not in response.headers  # the caller has its audio
        after = {p for p in settings.paths.outputs.glob("*/*") if p.suffix == ".wav"}
        assert after == before, f"audio kept without its sidecar: {after - before}"
        assert 'indextts_errors_total{kind="storage",route="/v1/audio/speech"} 1.0' in client.get("/metrics").text


# ---------------------------------------------------------------- 8. abandoned and runaway work

LONG_TEXT = " ".join(f"This is sentence number {i} of a long story that nobody is going to hear to the end."
                     for i in range(45))


def test_a_request_whose_client_gives_up_stops_rendering(live_server):
    url = live_server.url
    cancelled = SPEECH_ERRORS % "cancelled"
    before = metric(url, cancelled, default=0.0)
    files = output_files(live_server.outputs)
    with pytest.raises(httpx.ReadTimeout):  # the client gives up after a second and closes its connection
        httpx.post(f"{url}/v1/audio/speech", json={"input": LONG_TEXT, "voice": "jm_kumo",
                                                    "response_format": "wav"}, timeout=httpx.Timeout(1.5))
    gave_up = time.monotonic()
    # the render (about a minute of audio: many segments) stops at the next segment, not at the end
    assert wait_until(lambda: metric(url, cancelled, default=0.0) == before + 1, 60, 0.2), "the render went on"
    assert wait_until(lambda: metric(url, "indextts_generations_in_progress") == 0, 10, 0.2)
    stopped_after = time.monotonic() - gave_up
    started = time.monotonic()
    short = httpx.post(f"{url}/v1/audio/speech", json={"input": "Are you free now?", "response_format": "wav"},
                       timeout=60)
    assert short.status_code == 200
    assert time.monotonic() - started < 30, "a short request is answered promptly"
    kept = output_files(live_server.outputs) - files
    assert {p.stem for p in kept} == {short.headers["X-Output-Id"]}, "the abandoned render saved nothing"
    log = live_server.log.read_text(errors="replace")
    assert "the client closed the connection" in log
    assert stopped_after < 60


def test_past_the_time_limit_a_request_is_a_504_and_a_stream_is_cut_off(make_app):
    engine = FakeEngine(delay_s=0.25)
    app, _ = make_app(loader=lambda s: engine, server={"request_timeout_s": 1})
    text = " ".join(f"Sentence {i}." for i in range(20))  # 20 segments: 5 s of work, the limit is 1 s
    with serving(app) as url:
        started = time.monotonic()
        response = httpx.post(f"{url}/v1/audio/speech", json={"input": text, "response_format": "wav"}, timeout=30)
        error = assert_openai_error(response, 504, "server.request_timeout_s (1 s)")
        assert error["code"] == "timeout" and error["type"] == "server_error"
        assert time.monotonic() - started < 2.5 and engine.rendered <= 6, engine.rendered
        rendered = engine.rendered
        with pytest.raises(httpx.RemoteProtocolError):  # no clean end: the client knows it is incomplete
            with httpx.stream("POST", f"{url}/v1/audio/speech", json={"input": text, "response_format": "pcm",
                                                                       "stream": True}, timeout=30) as stream:
                assert stream.status_code == 200
                b"".join(stream.iter_bytes())
        assert engine.rendered - rendered <= 6
        metrics = httpx.get(f"{url}/metrics").text
        assert 'indextts_errors_total{kind="timeout",route="/v1/audio/speech"} 2.0' in metrics
        assert "indextts_generations_in_progress 0.0" in metrics
        short = httpx.post(f"{url}/v1/audio/speech", json={"input": "Quick.", "response_format": "wav"}, timeout=30)
        assert short.status_code == 200


def test_a_stream_whose_client_goes_away_stops_at_the_next_segment(make_app):
    engine = FakeEngine(delay_s=0.2)
    app, _ = make_app(loader=lambda s: engine)
    text = " ".join(f"Sentence {i}." for i in range(30))
    with serving(app) as url:
        with httpx.stream("POST", f"{url}/v1/audio/speech", json={"input": text, "response_format": "pcm",
                                                                   "stream": True}, timeout=30) as stream:
            first = next(stream.iter_raw())
            assert first
        # closed after the first piece: the server notices and renders at most a segment or two more
        assert wait_until(lambda: 'kind="cancelled",route="/v1/audio/speech"} 1.0' in httpx.get(f"{url}/metrics").text,
                          10, 0.2)
        stopped_at = engine.rendered
        time.sleep(1.0)
        assert engine.rendered == stopped_at and stopped_at < 10, stopped_at


# ---------------------------------------------------------------- 9. uploads over the limit

def _multipart_head(boundary: str) -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nbig_one\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.wav\"\r\n"
            f"Content-Type: audio/wav\r\n\r\n").encode()


def _read_response(sock: socket.socket, timeout_s: float) -> bytes:
    sock.settimeout(timeout_s)
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + _content_length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def _content_length(data: bytes) -> int:
    found = re.search(rb"content-length: *(\d+)", data, re.IGNORECASE)
    return int(found.group(1)) if found else 0


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def test_an_upload_over_the_limit_is_refused_before_it_is_read(live_server):
    limit_mb = 20  # server.max_upload_mb (default)
    boundary = "b0undary7"
    head = _multipart_head(boundary)
    # declared: 300 MB announced, almost nothing sent: the answer comes from the Content-Length alone
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=10) as sock:
        sock.sendall((f"POST /v1/voices HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {300 * 2**20}\r\n"
                      f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n").encode() + head)
        answer = _read_response(sock, timeout_s=5)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    error = json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]
    assert f"larger than {limit_mb} MB" in error["message"] and error["param"] == "file"

    # undeclared (chunked): 300 MB offered, cut off at the limit while it streams in
    rss_before = _rss_mb(live_server.proc.pid)
    sent, block = 0, b"\0" * 2**20
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=10) as sock:
        sock.sendall((f"POST /v1/voices HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                      f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n").encode()
                     + f"{len(head):x}\r\n".encode() + head + b"\r\n")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < 300 * 2**20 and not select.select([sock], [], [], 0)[0]:
                sock.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n")
                sent += len(block)
        answer = _read_response(sock, timeout_s=10)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 3 * limit_mb * 2**20, f"the server read {sent / 2**20:.0f} MB before refusing"
    assert _rss_mb(live_server.proc.pid) - rss_before < 2 * limit_mb, "the upload was held in memory"

    # the JSON routes: the same two ways
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 50000000\r\n\r\n{\"input\": \"")
        assert _read_response(sock, timeout_s=5).startswith(b"HTTP/1.1 413")
    chunked = (b'{"input": "' + b"a" * 2**20 + b'"}' for _ in range(50))  # a generator: sent chunked
    with contextlib.suppress(httpx.TransportError):  # the server may close while the rest is still offered
        response = httpx.post(f"{live_server.url}/v1/emotion/resolve", content=chunked,
                              headers={"content-type": "application/json"}, timeout=30)
        assert_openai_error(response, 413, "larger than 1024 KiB")
    assert_alive(live_server.url)


# ---------------------------------------------------------------- 10. error messages of the voice routes

def test_voice_routes_name_the_field_and_say_what_is_wrong(live_server):
    url = live_server.url
    errors_before = {route: metric(url, f'indextts_errors_total{{kind="invalid_request",route="{route}"}}', 0.0)
                     for route in ("/v1/voices", "/v1/voices/blend", "/v1/voices/{name}")}
    garbage = b"this is not audio at all " * 40

    bad_clip = httpx.post(f"{url}/v1/voices", files={"file": ("x.wav", garbage, "audio/wav")},
                          data={"name": "good_name"}, timeout=60)
    error = assert_openai_error(bad_clip, 400, "could not be read as audio (Format not recognised)", "file")
    assert "<_io" not in error["message"] and "0x" not in error["message"]
    for name, fragment in (("../x", "invalid voice name '../x'"), ("alloy", "OpenAI voice name"),
                           ("jm_kumo", "stock voice name")):
        response = httpx.post(f"{url}/v1/voices", files={"file": ("x.wav", garbage, "audio/wav")},
                              data={"name": name}, timeout=60)
        assert_openai_error(response, 400, fragment, "name")

    reference = base64.b64encode(garbage).decode()
    emotion = httpx.post(f"{url}/v1/audio/speech", json={"input": "Hello.", "emotion_reference": reference},
                         timeout=60)
    error = assert_openai_error(emotion, 400, "could not be read as audio", "emotion_reference")
    assert "<_io" not in error["message"]

    assert_openai_error(httpx.delete(f"{url}/v1/voices/bad%20name!"), 400, "invalid voice name", "name")
    assert_openai_error(httpx.delete(f"{url}/v1/voices/jm_kumo"), 400, "stock voice", "name")
    missing = assert_openai_error(httpx.delete(f"{url}/v1/voices/nobody_saved_this"), 404, "no saved voice")
    assert missing["code"] == "not_found"

    blend = f"{url}/v1/voices/blend"
    array = httpx.post(blend, content=b'["af_heart", "jm_kumo"]', headers={"content-type": "application/json"})
    error = assert_openai_error(array, 400, "must be an object with 'a', 'b', 'weight' and 'name'")
    assert "'input'" not in error["message"]
    weight = httpx.post(blend, json={"a": "jm_kumo", "b": "jf_alpha", "weight": "x", "name": "mixed_up"})
    assert_openai_error(weight, 400, "'weight' must be a number 0-1 (the share of voice b), got 'x'", "weight")
    assert_openai_error(httpx.post(blend, json={"a": "jm_kumo", "b": "jf_alpha", "weight": 1.5, "name": "m"}),
                        400, "got 1.5", "weight")
    assert_openai_error(httpx.post(blend, json={"a": "nobody", "b": "jf_alpha", "name": "m"}), 400,
                        "unknown voice 'nobody'", "a")
    assert_openai_error(httpx.post(blend, json={"a": "jm_kumo", "b": "jf_alpha", "name": "../m"}), 400,
                        "invalid voice name", "name")
    resolve = httpx.post(f"{url}/v1/emotion/resolve", content=b'["sad"]', headers={"content-type": "application/json"})
    assert_openai_error(resolve, 400, "must be an object with 'text'")

    assert metric(url, 'indextts_errors_total{kind="invalid_request",route="/v1/voices"}') \
        == errors_before["/v1/voices"] + 4
    assert metric(url, 'indextts_errors_total{kind="invalid_request",route="/v1/voices/blend"}') \
        == errors_before["/v1/voices/blend"] + 5
    assert metric(url, 'indextts_errors_total{kind="invalid_request",route="/v1/voices/{name}"}') \
        == errors_before["/v1/voices/{name}"] + 2
    assert metric(url, 'indextts_errors_total{kind="not_found",route="/v1/voices/{name}"}') >= 1
    assert_alive(url)


# ---------------------------------------------------------------- 11. unsaved clones are their session's

class CloningFakeStudio(VoiceStudio):
    """A studio whose clones behave as the real one's without a fit: an unsaved clone is a ``Voice`` value
    handed to its maker, in no shared list."""

    def clone(self, source, name=None, save=False, steps=None, progress=None, cancel=None) -> dict:
        audio, _ = sf.read(source, dtype="float32")
        if not len(audio):
            raise InputError("the reference clip is empty")
        voice = session_voice("clone-0badc0de", torch.full((510, 256), 0.01))
        return {"kind": "cloned", "base_voice": "jm_kumo", "similarity_base": 0.5, "similarity_fit": 0.8,
                "reference_f0_hz": 120.0, "fitted_f0_hz": 118.0, "fit_s": 1.0, "voice": voice.name,
                "voice_value": voice, "cached": False, "saved": False}


class CloningFakeEngine(FakeEngine):
    def __init__(self, voices_dir: Path) -> None:
        super().__init__()
        self.voices = VoiceBank({name: torch.zeros(510, 1, 256) for name in ("jf_alpha", "jm_kumo")},
                                VoiceLibrary(voices_dir))
        self.studio = CloningFakeStudio(self)


def test_an_unsaved_clone_is_its_page_sessions_alone(make_app, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    clip = tmp_path / "reference.wav"
    sf.write(clip, (0.3 * np.sin(np.arange(48000) * 2 * np.pi * 180 / 24000)).astype(np.float32), 24000)
    engine = CloningFakeEngine(tmp_path / "voices")
    app, _ = make_app(loader=lambda s: engine)
    with serving(app) as url:
        mine = Client(url + "/", verbose=False, download_files=str(tmp_path / "a"), analytics_enabled=False)
        theirs = Client(url + "/", verbose=False, download_files=str(tmp_path / "b"), analytics_enabled=False)
        message, *_ = mine.predict(handle_file(str(clip)), "en", "", api_name="/clone_voice")
        assert "clone-0badc0de" in message
        # the session that made it speaks with it
        result = mine.predict("Hello there.", "clone-0badc0de", 1.0, "auto", 400, 0.25, "wav", "en",
                              api_name="/synthesize")
        assert sf.info(result[0]).duration > 0.4 and result[3]["data"][0][1] == "clone-0badc0de"
        # nobody else sees it or can use it
        assert "clone-0badc0de" not in theirs.predict(api_name="/voices")
        with pytest.raises(AppError, match="unknown voice 'clone-0badc0de'"):
            theirs.predict("Hello there.", "clone-0badc0de", 1.0, "auto", 400, 0.25, "wav", "en",
                           api_name="/synthesize")
        listed = [v["id"] for v in httpx.get(f"{url}/v1/voices").json()["voices"]]
        assert "clone-0badc0de" not in listed and not any(v.startswith("clone-") for v in listed)
        assert not any(v.startswith("clone-") for v in httpx.get(f"{url}/v1/audio/voices?legacy=true").json()["voices"])
        assert_openai_error(httpx.post(f"{url}/v1/audio/speech", json={"input": "Hi.", "voice": "clone-0badc0de"}),
                            400, "unknown voice 'clone-0badc0de'", "voice")
        mine.close()
        theirs.close()


def test_the_page_lists_a_sessions_clones_in_its_own_dropdown_only(tmp_path):
    from indextts.config import Settings
    from indextts.server.engine_holder import EngineHolder
    from indextts.server.outputs import OutputStore
    from indextts.server.ui import _Page

    settings = Settings.load(environ={}, overrides={"paths": {"outputs": str(tmp_path / "outputs")}})
    holder = EngineHolder(settings, loader=lambda s: CloningFakeEngine(tmp_path / "voices"))
    holder.start()
    assert holder.wait(10)
    page = _Page(holder, settings, OutputStore(settings))
    clip = tmp_path / "reference.wav"
    sf.write(clip, np.full(24000, 0.1, np.float32), 24000)
    message, name, session, dropdown, *_ = page.clone(str(clip), "en", "", {}, progress=lambda *a, **k: None)
    assert name == "clone-0badc0de" and set(session) == {name}
    assert name in [value for _, value in dropdown["choices"]] and dropdown["value"] == name
    assert name not in [value for _, value in page.voice_update("", "en", {})["choices"]]  # another session
    assert name in [value for _, value in page.voice_update(name, "en", session)["choices"]]


# ---------------------------------------------------------------- CORS

def test_cors_is_off_by_default_and_allows_only_the_configured_origins(make_app):
    allowed, other = "http://studio.example:3000", "http://evil.example"
    app, _ = make_app(server={"cors_origins": [allowed], "auth_user": "ana", "auth_password": "s3cret"})
    auth = {"Authorization": "Bearer s3cret"}
    with serving(app) as url:
        speech = f"{url}/v1/audio/speech"
        preflight = httpx.options(speech, headers={"Origin": allowed, "Access-Control-Request-Method": "POST",
                                                   "Access-Control-Request-Headers": "authorization,content-type"})
        assert preflight.status_code == 200, preflight.text  # answered before auth: preflights carry no password
        assert preflight.headers["access-control-allow-origin"] == allowed
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        audio = httpx.post(speech, json={"input": "Hi.", "response_format": "wav"}, headers={"Origin": allowed, **auth})
        assert audio.status_code == 200 and audio.headers["access-control-allow-origin"] == allowed
        assert "x-output-id" in audio.headers["access-control-expose-headers"].lower()
        error = httpx.post(speech, json={"input": ""}, headers={"Origin": allowed, **auth})
        assert error.status_code == 400 and error.headers["access-control-allow-origin"] == allowed
        denied = httpx.get(f"{url}/v1/voices", headers={"Origin": allowed})
        assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == allowed
        foreign = httpx.post(speech, json={"input": "Hi.", "response_format": "wav"}, headers={"Origin": other, **auth})
        assert "access-control-allow-origin" not in foreign.headers
        refused = httpx.options(speech, headers={"Origin": other, "Access-Control-Request-Method": "POST"})
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers

    app, _ = make_app()  # the default: no cross-origin access
    with serving(app) as url:
        plain = httpx.post(f"{url}/v1/audio/speech", json={"input": "Hi.", "response_format": "wav"},
                           headers={"Origin": allowed})
        assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers


def test_cors_origins_are_checked_when_the_settings_load():
    from indextts.config import Settings
    from indextts.errors import ConfigError

    assert Settings.load(environ={"INDEXTTS_SERVER__CORS_ORIGINS": "http://a.example:3000, *"}).server.cors_origins \
        == ["http://a.example:3000", "*"]
    with pytest.raises(ConfigError, match="not an origin"):
        Settings.load(environ={}, overrides={"server": {"cors_origins": ["http://a.example/app/"]}})


# ---------------------------------------------------------------- the error boundary (issue 16)

def test_every_route_answers_not_ready_alike_and_counts_it_under_its_own_route(make_app):
    """While the model loads, the voice routes answer as speech does (503 model_not_ready, Retry-After), and
    each failure is counted under the route that failed, not all under /v1/audio/speech."""
    from fastapi.testclient import TestClient

    release = threading.Event()

    def slow_loader(_settings):
        release.wait(30)
        return FakeEngine()

    app, _ = make_app(loader=slow_loader)
    calls = {"/v1/audio/speech": ("POST", {"json": {"input": "Hi."}}),
             "/v1/voices/blend": ("POST", {"json": {"a": "jm_kumo", "b": "jf_alpha", "name": "mixed"}}),
             "/v1/voices/{name}": ("DELETE", {}),
             "/v1/voices": ("POST", {"files": {"file": ("x.wav", b"RIFF", "audio/wav")}, "data": {"name": "mine"}})}
    try:
        with TestClient(app) as client:
            for route, (method, kwargs) in calls.items():
                response = client.request(method, route.replace("{name}", "someone"), **kwargs)
                error = assert_openai_error(response, 503, "still loading", None)
                assert error["code"] == "model_not_ready" and response.headers["Retry-After"], route
            metrics = client.get("/metrics").text
            for route in calls:
                assert f'indextts_errors_total{{kind="not_ready",route="{route}"}} 1.0' in metrics, route
    finally:
        release.set()


def test_an_emotion_error_names_its_field_whatever_its_message_says(make_app):
    """The field comes from the error, never from its words: a description that mentions "weight" or
    "seed" is still an emotion_text problem."""
    from fastapi.testclient import TestClient

    app, _ = make_app()
    with TestClient(app) as client:
        for text in ("my weight", "a seed"):
            response = client.post("/v1/audio/speech", json={"input": "Hi.", "emotion_text": text})
            assert_openai_error(response, 400, "no emotion word found", "emotion_text")
        response = client.post("/v1/audio/speech", json={"input": "Hi.", "emotion_text": "sad", "emotion_seed": -1})
        assert_openai_error(response, 400, "emotion seed must be", "emotion_seed")
        response = client.post("/v1/emotion/resolve", json={"text": "my weight"})
        assert_openai_error(response, 400, "no emotion word found", "text")  # this route's own name for it
        response = client.post("/v1/emotion/resolve", json={"text": "sad", "input": "Hi."})
        error = assert_openai_error(response, 400, "unknown field", "input")
        assert "text" in error["message"] and "voice" not in error["message"]  # this body's fields, not speech's
