"""Native voices and the conventions OpenAI-style clients expect, through the real server: the voice and
model listings Kokoro-style servers and Open WebUI read, OpenAI's voice names, mixes, instructions, aac,
lang_code, volume_multiplier, gradio_client with any voice, and an ASR check of the two default voices."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from http_checks import assert_openai_error, decode, speech

pytestmark = pytest.mark.slow


def sidecar(live_server, response: httpx.Response) -> dict:
    [wav] = list(live_server.outputs.glob(f"*/{response.headers['X-Output-Id']}.wav"))
    return json.loads(wav.with_suffix(".json").read_text(encoding="utf-8"))


def test_voice_listings_as_kokoro_style_clients_read_them(live_server):
    url = live_server.url
    listed = httpx.get(f"{url}/v1/audio/voices").json()["voices"]
    by_id = {v["id"]: v for v in listed}
    assert all(v["id"] == v["name"] for v in listed)
    assert by_id["af_heart"]["language"] == "en-US" and by_id["af_heart"]["gender"] == "female"
    assert by_id["zm_yunxi"]["language"] == "zh" and by_id["zm_yunxi"]["gender"] == "male"
    assert by_id["bm_george"]["language_name"] == "British English"
    assert sum(v["kind"] == "stock" for v in listed) == 54
    assert by_id["coral"] == {"id": "coral", "name": "coral", "kind": "openai", "voice": "af_heart"}
    legacy = httpx.get(f"{url}/v1/audio/voices", params={"legacy": "true"}).json()["voices"]
    assert legacy == [v["id"] for v in listed]
    full = httpx.get(f"{url}/v1/voices").json()
    assert full["default"] == {"en": "af_heart", "zh": "zf_xiaobei"}
    assert {a["id"] for a in full["aliases"]} >= {"alloy", "ash", "ballad", "coral", "sage", "verse", "marin", "cedar"}
    assert {m["id"] for m in httpx.get(f"{url}/v1/audio/models").json()["models"]} >= {"tts-1", "kokoro"}
    assert httpx.get(f"{url}/v1/models/tts-1").json() == {"id": "tts-1", "object": "model", "created": 0,
                                                          "owned_by": "indextts"}
    assert_openai_error(httpx.get(f"{url}/v1/models/gpt-9"), 404, "no model 'gpt-9'", "model")
    assert httpx.get(f"{url}/health").json() == {"status": "healthy"}


def test_the_openai_client_with_current_voice_names_instructions_and_aac(live_server):
    import openai

    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="unused")
    assert client.models.retrieve("tts-1").id == "tts-1"
    plain = client.audio.speech.create(model="gpt-4o-mini-tts", voice="coral", input="Good news today.",
                                       response_format="wav")
    happy = client.audio.speech.with_raw_response.create(
        model="gpt-4o-mini-tts", voice="coral", input="Good news today.", response_format="aac",
        instructions="Speak in a cheerful and happy tone.")
    assert happy.headers["content-type"] == "audio/aac"
    audio, rate = decode(happy.content, "aac")
    assert rate == 24000 and len(audio) > 0.5 * rate and np.abs(audio).max() > 0.05
    record = sidecar(live_server, happy)["request"]
    assert record["voice_used"] == "af_heart" and record["emotion"]["mode"] == "text"
    assert record["emotion"]["vector"]["happy"] > 0
    neutral = client.audio.speech.with_raw_response.create(
        model="tts-1", voice="ash", input="Good news today.", response_format="wav",
        instructions="Read clearly and at a steady pace.")  # no emotion word: nothing changes, no error
    assert sidecar(live_server, neutral)["request"]["emotion"] is None
    assert len(plain.content) > 10_000


def test_mixes_lang_code_and_volume(live_server):
    url = live_server.url
    quiet = speech(url, input="Mixing two voices.", voice="af_bella(2)+af_sky(1)", response_format="wav")
    assert quiet.status_code == 200, quiet.text
    assert sidecar(live_server, quiet)["request"]["voice_used"] == "af_bella(0.6667)+af_sky(0.3333)"
    loud = speech(url, input="Mixing two voices.", voice="af_bella(2)+af_sky(1)", response_format="wav",
                  volume_multiplier=2.0)
    a, _ = decode(quiet.content, "wav")
    b, _ = decode(loud.content, "wav")
    gain_db = 20 * np.log10(np.sqrt(np.mean(b ** 2)) / np.sqrt(np.mean(a ** 2)))
    assert 4.0 < gain_db < 6.5, gain_db  # x2 = +6 dB, less where the limiter holds peaks
    zh = speech(url, input="你好", lang_code="z", response_format="wav")
    assert zh.status_code == 200 and sidecar(live_server, zh)["request"]["lang"] == "zh"
    assert sidecar(live_server, zh)["request"]["voice_used"] == "zf_xiaobei"  # Mandarin text, no voice named


def test_gradio_client_accepts_any_voice_and_previews(live_server):
    from gradio_client import Client

    client = Client(live_server.url + "/", verbose=False)
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "enum" not in api["/synthesize"]["parameters"][1]["type"]  # any voice, not the build-time list
    unnamed = [(name, r["label"]) for name, e in api.items() for r in e["returns"] if r["label"].startswith("value_")]
    assert unnamed == []
    for voice in ("coral", "af_heart+am_michael", ""):
        audio, *_ = client.predict("Hello from the page.", voice, 1.0, "auto", 400, 0.25, "wav", "en",
                                   api_name="/synthesize")
        assert audio.endswith(".wav")
    preview = client.predict("zf_xiaobei", "zh", api_name="/preview_voice")
    again = client.predict("zf_xiaobei", "zh", api_name="/preview_voice")
    assert preview.endswith(".wav") and open(preview, "rb").read() == open(again, "rb").read()


@pytest.mark.parametrize("voice, lang, text, limit", [
    ("af_heart", "en", "The quick brown fox jumps over the lazy dog near the riverbank.", 0.0),
    ("zf_xiaobei", "zh", "今天天气很好，我们一起去公园散步吧。", 0.12),
    ("bm_george", "en", "Please remember to bring your umbrella this afternoon.", 0.1),
    ("zm_yunxi", "zh", "春天来了，花园里的花都开了。", 0.15),
])
def test_native_voices_are_intelligible(live_server, asr, voice, lang, text, limit):
    """The two defaults and a sample of the other native voices, heard by Whisper base."""
    response = speech(live_server.url, input=text, voice=voice, response_format="wav")
    audio, rate = decode(response.content, "wav")
    transcribe, normalize = asr
    from indextts.evaluation.asr import score

    heard = transcribe(audio, rate, lang)
    assert score(text, heard, lang) <= limit, heard
