"""HTTP API and server wiring: the real `python app.py` (live_server) plus in-process apps with fake engines."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, clean_env
from fake_engine import FakeEngine
from http_checks import assert_alive, assert_openai_error, decode, speech
from indextts.config import Settings
from indextts.errors import InputError
from indextts.server.audio_codec import RESPONSE_FORMATS, encode

SHORT = "Testing one two three."


# ---------------------------------------------------------------- live server: probes and routes

def test_probes_and_listings(live_server):
    url = live_server.url
    assert_alive(url)
    ready = httpx.get(f"{url}/readyz").json()
    assert ready["status"] == "ready" and ready["model"] == "kokoro-82m" and ready["device"] == "cpu"
    assert ready["precision"] == "fp32"  # the CPU runs fp32 (int8 convolutions), whatever engine.precision says
    assert ready["version"] == "0.1.0" and ready["error"] is None
    voices = httpx.get(f"{url}/v1/voices").json()
    ids = [v["id"] for v in voices["voices"]]
    assert "jm_kumo" in ids and all(v["kind"] == "stock" for v in voices["voices"])
    assert {a["id"]: a["voice"] for a in voices["aliases"]}["alloy"] in ids
    models = httpx.get(f"{url}/v1/models").json()
    assert models["object"] == "list" and {"tts-1", "kokoro-82m"} <= {m["id"] for m in models["data"]}
    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert httpx.get(f"{url}/openapi.json").json()["paths"]["/v1/audio/speech"]["post"]


@pytest.mark.parametrize("fmt", RESPONSE_FORMATS)
def test_every_format_decodes_to_the_right_length(live_server, fmt):
    response = speech(live_server.url, input=SHORT, response_format=fmt, voice="jm_kumo")
    assert response.status_code == 200, response.text
    duration = float(response.headers["X-Audio-Duration"])
    assert 0.8 < duration < 4.0 and float(response.headers["X-RTF"]) > 0
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Output-Id"])
    if fmt == "pcm":
        assert response.headers["content-type"] == "audio/pcm"
        assert len(response.content) % 2 == 0  # 16-bit mono at 24 kHz, no header
        assert abs(len(response.content) / 2 / 24000 - duration) <= 0.0005
        samples = np.frombuffer(response.content, "<i2")
        assert np.abs(samples).max() > 3000  # speech, not silence
        return
    audio, rate = decode(response.content, fmt)
    assert rate == 24000 and audio.ndim == 1
    assert abs(len(audio) / rate - duration) < 0.1, (len(audio) / rate, duration)
    expected_type = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "opus": "audio/ogg",
                     "aac": "audio/aac"}[fmt]
    assert response.headers["content-type"] == expected_type


def test_default_format_is_mp3_and_speech_is_intelligible(live_server, asr):
    text = "The weather is lovely today."
    response = speech(live_server.url, model="tts-1", input=text, voice="echo")  # OpenAI names
    assert response.status_code == 200 and response.headers["content-type"] == "audio/mpeg"
    audio, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    transcribe, normalize = asr
    heard = normalize(transcribe(audio, rate, "en"), "en")
    assert {"weather", "lovely", "today"} <= set(heard.split()), heard


def test_outputs_are_saved_with_a_sidecar(live_server):
    text = "Saved for later."
    response = speech(live_server.url, input=text, response_format="flac", voice="fable", speed=1.2)
    assert response.status_code == 200
    output_id = response.headers["X-Output-Id"]
    [wav] = list(live_server.outputs.glob(f"*/{output_id}.wav"))
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", wav.parent.name)
    sidecar = json.loads(wav.with_suffix(".json").read_text(encoding="utf-8"))
    assert sidecar["id"] == output_id and sidecar["created"].startswith(wav.parent.name)
    assert sidecar["request"]["input"] == text and sidecar["request"]["voice_used"] == "bm_fable"
    assert sidecar["request"]["speed"] == 1.2 and sidecar["request"]["source"] == "api"
    assert sf.info(str(wav)).samplerate == 24000
    assert not list(live_server.outputs.rglob("*.tmp"))


def test_concurrent_requests_get_their_own_files(live_server):
    texts = ["First voice here.", "Second voice here."]
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda t: speech(live_server.url, input=t, response_format="wav"), texts))
    assert [r.status_code for r in responses] == [200, 200]
    ids = [r.headers["X-Output-Id"] for r in responses]
    assert ids[0] != ids[1]
    for output_id, text in zip(ids, texts):
        [sidecar] = list(live_server.outputs.glob(f"*/{output_id}.json"))
        assert json.loads(sidecar.read_text(encoding="utf-8"))["request"]["input"] == text


def test_metrics_count_requests_latency_rtf_and_queue(live_server):
    before = httpx.get(f"{live_server.url}/metrics").text
    speech(live_server.url, input="Count me.", response_format="wav")
    speech(live_server.url, input="")
    text = httpx.get(f"{live_server.url}/metrics").text
    assert re.search(r'indextts_http_requests_total\{method="POST",route="/v1/audio/speech",status="200"\} \d', text)
    assert re.search(r'indextts_http_requests_total\{method="POST",route="/v1/audio/speech",status="400"\} \d', text)
    assert 'indextts_errors_total{kind="invalid_request",route="/v1/audio/speech"}' in text
    assert re.search(r'indextts_request_duration_seconds_count\{route="/v1/audio/speech"\} [1-9]', text)
    assert re.search(r"indextts_synthesis_rtf_count [1-9]", text)
    api = re.compile(r'^indextts_generations_total\{source="api"\} (\S+)$', re.MULTILINE)
    assert float(api.search(text)[1]) == float(api.search(before)[1]) + 1  # the 200 counts, the 400 does not
    assert "indextts_queue_depth 0.0" in text and 'indextts_engine{indextts_engine="ready"} 1.0' in text


# ---------------------------------------------------------------- live server: bad input

LIMIT = Settings.load(environ={}).engine.max_chars
BAD_REQUESTS = {
    "empty input": ({"input": ""}, 400, "'input' is empty", "input"),
    "whitespace input": ({"input": "   \n"}, 400, "'input' is empty", "input"),
    "missing input": ({"voice": "jm_kumo"}, 400, "'input' is required", "input"),
    "input not text": ({"input": 123}, 400, "'input'", "input"),
    "over the limit": ({"input": "a" * (LIMIT + 1)}, 400, f"the limit is {LIMIT}", "input"),
    "unknown voice": ({"input": SHORT, "voice": "darth"}, 400, "unknown voice 'darth'; available voices: af_alloy",
                      "voice"),
    "bad mix": ({"input": SHORT, "voice": "af_bella(x)+af_sky"}, 400, "invalid voice mix", "voice"),
    "mix of an unknown voice": ({"input": SHORT, "voice": "af_bella+darth"}, 400, "unknown voice 'darth'", "voice"),
    "speed too fast": ({"input": SHORT, "speed": 4.5}, 400, "speed must be between 0.25 and 4", "speed"),
    "speed too slow": ({"input": SHORT, "speed": 0.2}, 400, "got 0.2", "speed"),
    "bad format": ({"input": SHORT, "response_format": "m4a"}, 400, "unsupported response_format 'm4a'",
                   "response_format"),
    "unread lang_code": ({"input": SHORT, "lang_code": "j"}, 400, "lang_code 'j' is not read", "lang_code"),
    "lang and lang_code disagree": ({"input": SHORT, "lang": "en", "lang_code": "z"}, 400, "disagree", "lang_code"),
    "volume too loud": ({"input": SHORT, "volume_multiplier": 10}, 400, "volume_multiplier must be", "volume_multiplier"),
    "unknown model": ({"input": SHORT, "model": "gpt-5"}, 400, "unknown model 'gpt-5'", "model"),
    "unknown lang": ({"input": SHORT, "lang": "fr"}, 400, "unknown lang 'fr'", "lang"),
    "typo field": ({"input": SHORT, "sped": 1.0}, 400, "unknown field 'sped'", "sped"),
    "sse streaming": ({"input": SHORT, "stream_format": "sse"}, 400, "only 'audio' is supported", "stream_format"),
    "nothing speakable": ({"input": "🙂🙂 ---"}, 400, "nothing that can be spoken", "input"),
}


@pytest.mark.parametrize("body,status,fragment,param", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_requests_get_clear_openai_errors(live_server, body, status, fragment, param):
    assert_openai_error(speech(live_server.url, **body), status, fragment, param)
    assert_alive(live_server.url)


def test_malformed_json_wrong_content_type_wrong_method_unknown_route(live_server):
    url = live_server.url
    post = f"{url}/v1/audio/speech"
    assert_openai_error(httpx.post(post, content=b'{"input": "hi"', headers={"content-type": "application/json"}),
                        400, "the body is not valid JSON")
    assert_openai_error(httpx.post(post, content=b'["hi"]', headers={"content-type": "application/json"}),
                        400, "must be an object")
    assert_openai_error(httpx.post(post, content=b"input=hi", headers={"content-type": "text/plain"}),
                        415, "send a JSON body with 'Content-Type: application/json' (got 'text/plain')")
    assert_openai_error(httpx.post(post, data={"input": "hi"}), 415, "application/x-www-form-urlencoded")
    assert_openai_error(httpx.post(post, content=b"x" * (1024 * 1024 + 1),
                                   headers={"content-type": "application/json"}), 413, "larger than")
    assert_openai_error(httpx.get(post), 405, "use POST")
    assert_openai_error(httpx.get(f"{url}/v1/nothing"), 404, "no such API route /v1/nothing")
    assert_alive(url)


# ---------------------------------------------------------------- live server: real clients

def test_openai_client_speaks_and_raises_our_message(live_server, tmp_path):
    import openai

    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="not-needed", max_retries=0)
    response = client.audio.speech.create(model="tts-1", voice="nova", input=SHORT, response_format="wav")
    out = tmp_path / "speech.wav"
    response.write_to_file(out)
    info = sf.info(str(out))
    assert info.samplerate == 24000 and 0.8 < info.duration < 4.0
    assert "tts-1" in {m.id for m in client.models.list()}
    with pytest.raises(openai.BadRequestError, match="speed must be between 0.25 and 4") as caught:
        client.audio.speech.create(model="tts-1", voice="nova", input=SHORT, speed=4.5)
    assert caught.value.status_code == 400 and caught.value.param == "speed"
    assert_alive(live_server.url)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl(live_server, tmp_path):
    out = tmp_path / "curl.mp3"
    body = json.dumps({"input": "Hello from curl.", "voice": "jm_kumo", "response_format": "mp3"})
    done = subprocess.run(["curl", "-sS", "-f", "-o", str(out), "-D", "-", "-H", "Content-Type: application/json",
                           "-d", body, f"{live_server.url}/v1/audio/speech"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "x-output-id:" in done.stdout.lower()
    audio, rate = sf.read(str(out))
    assert rate == 24000 and len(audio) / rate > 0.5


def raw_get(port: int, target: str) -> tuple[int, bytes]:
    """A GET with the target sent byte for byte (clients would normalise '..' away)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


def test_no_file_outside_the_app_is_served(live_server):
    secret_files = ["/etc/passwd", str(ROOT / "config.yaml"), str(ROOT / "cache_hub" / "manifest.json")]
    targets = []
    for path in secret_files:
        targets += [f"/file={path}", f"/gradio_api/file={path}", f"/gradio_api/file={path.replace('/', '%2F')}"]
    targets += ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/gradio_api/file=../../../../etc/passwd",
                f"/gradio_api/file={live_server.outputs}/../../../../etc/passwd",
                "/static/../../../../etc/passwd", "/assets/..%2f..%2f..%2fetc/passwd"]
    for target in targets:
        status, data = raw_get(live_server.port, target)
        assert b"root:x:0:0" not in data and b"sha256" not in data and b"concurrency_limit" not in data, target
        assert status != 200 or b"<html" in data.lower(), (target, status)  # at most the UI page itself
    # control: the app's own outputs are reachable through the same route, so the refusals above are real
    output_id = speech(live_server.url, input="Mine.", response_format="wav").headers["X-Output-Id"]
    [own] = list(live_server.outputs.glob(f"*/{output_id}.wav"))
    status, data = raw_get(live_server.port, f"/gradio_api/file={own}")
    assert status == 200 and b"RIFF" in data
    assert_alive(live_server.url)


# ---------------------------------------------------------------- app.py: flags and startup errors

def run_app(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    clean = clean_env()
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, env={**clean, **(env or {})},
                          capture_output=True, text=True, timeout=60)


def test_port_taken_is_one_clear_line(live_server):
    done = run_app("--port", str(live_server.port))
    assert done.returncode == 1
    assert f"port {live_server.port} is already in use" in done.stderr and "--port" in done.stderr
    assert "Traceback" not in done.stderr


def test_invalid_settings_exit_2_with_the_reason():
    done = run_app("--listen")
    assert done.returncode == 2 and "requires auth" in done.stderr and "Traceback" not in done.stderr
    done = run_app("--port", "0")
    assert done.returncode == 2 and "server.port" in done.stderr
    done = run_app(env={"INDEXTTS_SERVER__AUTH_USER": "me"})
    assert done.returncode == 2 and "needs both server.auth_user and server.auth_password" in done.stderr


def test_flags_override_file_and_environment(tmp_path):
    import app as launcher

    config = tmp_path / "c.yaml"
    config.write_text("server:\n  port: 9000\nengine:\n  threads: 4\n")
    args = launcher.parse_args(["--config", str(config), "--port", "9100", "--device", "cpu", "--listen",
                                "--no-auth", "--fp16"])
    settings = Settings.load(args.config, overrides=launcher.overrides_from(args),
                             environ={"INDEXTTS_ENGINE__THREADS": "3", "INDEXTTS_SERVER__PORT": "9050"})
    assert settings.server.port == 9100 and settings.engine.threads == 3 and settings.engine.device == "cpu"
    assert settings.server.bind_host == "0.0.0.0" and settings.engine.fp16
    assert launcher.overrides_from(launcher.parse_args([])) == {}


# ---------------------------------------------------------------- in-process apps with fake engines

def test_readyz_is_503_while_loading_and_the_page_answers(make_app):
    from fastapi.testclient import TestClient

    release = threading.Event()

    def slow_loader(settings):
        release.wait(30)
        return FakeEngine()

    app, settings = make_app(loader=slow_loader)
    try:
        with TestClient(app) as client:
            response = client.get("/readyz")
            assert response.status_code == 503 and response.headers["Retry-After"]
            assert response.json() == {"status": "loading", "model": "kokoro-82m", "device": "auto",
                                       "precision": "fp32", "version": "0.1.0", "error": None}
            assert client.get("/healthz").status_code == 200
            assert client.get("/").status_code == 200  # the UI answers while the model loads
            busy = client.post("/v1/audio/speech", json={"input": "hi"})
            assert busy.status_code == 503 and busy.headers["Retry-After"]
            assert "still loading" in busy.json()["error"]["message"]
            assert busy.json()["error"]["type"] == "server_error"
            assert "indextts_engine{indextts_engine=\"loading\"} 1.0" in client.get("/metrics").text
            release.set()
            app.state.holder.wait(10)
            ready = client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["status"] == "ready"
            assert client.post("/v1/audio/speech", json={"input": "hi", "response_format": "wav"}).status_code == 200
    finally:
        release.set()


def test_page_temp_files_older_than_a_day_are_removed_and_newer_kept(make_app, tmp_path):
    import os

    from fastapi.testclient import TestClient

    cache = tmp_path / "outputs" / ".gradio"
    old, fresh = cache / "a" / "old.wav", cache / "b" / "fresh.wav"
    for path in (old, fresh):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"RIFF")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    saved = tmp_path / "outputs" / "2026-01-01" / "kept.wav"  # a generation: the store's, never touched
    saved.parent.mkdir(parents=True)
    saved.write_bytes(b"RIFF")
    os.utime(saved, (two_days_ago, two_days_ago))
    app, _ = make_app()
    with TestClient(app):
        deadline = time.time() + 10
        while old.exists() and time.time() < deadline:
            time.sleep(0.05)
        assert not old.exists() and not old.parent.exists()
        assert fresh.exists() and saved.exists()


def test_failed_load_is_reported_not_fatal(make_app):
    from fastapi.testclient import TestClient

    def broken(settings):
        raise InputError("model file missing: run python -m indextts.weights ensure")

    app, _ = make_app(loader=broken)
    with TestClient(app) as client:
        app.state.holder.wait(10)
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "failed"
        assert "weights ensure" in ready.json()["error"]
        assert_openai_error(client.post("/v1/audio/speech", json={"input": "hi"}), 503, "failed to load")
        assert client.get("/healthz").status_code == 200


def test_engine_input_error_is_400(make_app):
    from fastapi.testclient import TestClient

    app, _ = make_app()
    with TestClient(app) as client:
        app.state.holder.wait(10)
        assert_openai_error(client.post("/v1/audio/speech", json={"input": "forbidden words"}), 400,
                            "the engine refused this text", "input")
        assert client.get("/healthz").status_code == 200


def test_full_queue_gives_503(make_app):
    from fastapi.testclient import TestClient

    app, _ = make_app(loader=lambda s: FakeEngine(delay_s=1.5), server={"concurrency_limit": 1, "max_queue": 1})
    with TestClient(app) as client:
        app.state.holder.wait(10)
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(client.post, "/v1/audio/speech", json={"input": f"n {i}"}) for i in range(3)]
            responses = [f.result() for f in futures]
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 200, 503], statuses
        [full] = [r for r in responses if r.status_code == 503]
        assert_openai_error(full, 503, "the queue is full")
        assert full.json()["error"]["code"] == "queue_full" and full.headers["Retry-After"]
        metrics = client.get("/metrics").text
        assert 'indextts_errors_total{kind="queue_full",route="/v1/audio/speech"} 1.0' in metrics
        assert "indextts_queue_depth 0.0" in metrics
        assert client.get("/healthz").status_code == 200


def test_retention_keeps_the_newest_files(make_app, tmp_path):
    from fastapi.testclient import TestClient

    app, settings = make_app(outputs={"keep_files": 2})
    with TestClient(app) as client:
        app.state.holder.wait(10)
        ids = []
        for i in range(4):
            response = client.post("/v1/audio/speech", json={"input": f"take {i}", "response_format": "wav"})
            ids.append(response.headers["X-Output-Id"])
            time.sleep(0.02)  # distinct modification times
    kept = sorted(p.stem for p in settings.paths.outputs.glob("*/*.wav"))
    assert kept == sorted(ids[-2:])
    assert len(list(settings.paths.outputs.glob("*/*.json"))) == 2


def test_auth_protects_ui_and_api_but_not_probes(make_app):
    from fastapi.testclient import TestClient

    app, _ = make_app(server={"listen": True, "auth_user": "ana", "auth_password": "s3cret"})
    good = {"Authorization": "Basic " + base64.b64encode(b"ana:s3cret").decode()}
    bad = {"Authorization": "Basic " + base64.b64encode(b"ana:wrong").decode()}
    with TestClient(app) as client:
        app.state.holder.wait(10)
        for path in ["/", "/v1/models", "/v1/voices", "/metrics", "/docs", "/gradio_api/info", "/config"]:
            response = client.get(path)
            assert response.status_code == 401, path
            assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
            assert client.get(path, headers=bad).status_code == 401, path
        assert client.get("/v1/models").json()["error"]["type"] == "authentication_error"
        assert client.post("/v1/audio/speech", json={"input": "hi"}).status_code == 401
        assert client.get("/", headers=good).status_code == 200
        assert client.get("/v1/models", headers=good).status_code == 200
        spoken = client.post("/v1/audio/speech", json={"input": "hi", "response_format": "wav"}, headers=good)
        assert spoken.status_code == 200
        bearer = {"Authorization": "Bearer s3cret"}  # what OpenAI clients send (api_key = the password)
        assert client.get("/v1/voices", headers=bearer).status_code == 200
        assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200


def test_upload_size_limit(make_app):
    from fastapi.testclient import TestClient

    app, _ = make_app(server={"max_upload_mb": 1})
    with TestClient(app) as client:
        big = client.post("/gradio_api/upload", files={"files": ("big.wav", b"\0" * (1024 * 1024 + 10), "audio/wav")})
        assert big.status_code == 413, big.text
        small = client.post("/gradio_api/upload", files={"files": ("small.wav", b"\0" * 1000, "audio/wav")})
        assert small.status_code == 200, small.text
        [stored] = small.json()
        assert Path(stored).resolve().is_relative_to((app.state.settings.paths.outputs / ".gradio").resolve())


# ---------------------------------------------------------------- audio codec (no server)

@pytest.mark.parametrize("fmt", RESPONSE_FORMATS)
def test_codec_round_trip(fmt):
    tone = (0.5 * np.sin(np.arange(24000) * 2 * np.pi * 220 / 24000)).astype(np.float32)
    data, media_type = encode(tone, 24000, fmt)
    assert media_type.startswith("audio/")
    if fmt == "pcm":
        decoded = np.frombuffer(data, "<i2") / 32767.0
        np.testing.assert_allclose(decoded, tone, atol=1e-4)
        return
    decoded, rate = decode(data, fmt)
    assert rate == 24000 and abs(len(decoded) - len(tone)) < 0.1 * 24000
    if fmt in ("wav", "flac"):
        np.testing.assert_allclose(decoded, tone, atol=1e-4)


def test_codec_rejects_unknown_formats_and_cleans_bad_samples():
    with pytest.raises(InputError, match="unsupported audio format 'm4a'"):
        encode(np.zeros(10, np.float32), 24000, "m4a")
    data, _ = encode(np.array([np.nan, 2.0, -2.0], np.float32), 24000, "pcm")
    assert np.frombuffer(data, "<i2").tolist() == [0, 32767, -32767]


def test_gradio_client_through_basic_auth(make_app, tmp_path):
    """A real socket server (uvicorn in a thread, fake engine): the UI's API works with the auth header."""
    from gradio_client import Client

    from conftest import serving

    app, _ = make_app(server={"auth_user": "ana", "auth_password": "s3cret"})
    with serving(app) as base:
        url = base + "/"
        assert httpx.get(url).status_code == 401
        header = {"Authorization": "Basic " + base64.b64encode(b"ana:s3cret").decode()}
        client = Client(url, headers=header, verbose=False, download_files=str(tmp_path), analytics_enabled=False)
        assert client.predict(api_name="/voices") == FakeEngine().voices.names
        client.close()
