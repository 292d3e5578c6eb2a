"""Emotion control: lexicon, vector validation, the engine's edits (measured on output audio),
the API fields and the UI inputs."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import pytest
import soundfile as sf

from indextts.emotion import EMOTIONS, EmotionSpec, EmotionVector, resolve_text, spec_from_request
from indextts.emotion.analysis import measure
from indextts.emotion.reference import measure_reference
from indextts.errors import InputError

EN = "The weather is lovely today, and we are going to the park."


def nonzero(text: str) -> dict[str, float]:
    return {k: v for k, v in resolve_text(text).vector.as_dict().items() if v}


# ---------------------------------------------------------------- lexicon (no model)
@pytest.mark.parametrize("text, expected", [
    ("有点难过", {"sad": 0.4}),
    ("非常生气", {"angry": 1.0}),
    ("开心极了", {"happy": 1.0}),
    ("不开心", {"sad": 0.6}),
    ("不太开心", {"sad": 0.3}),
    ("一点也不害怕", {"calm": 0.9}),
    ("心平气和", {"calm": 0.7}),
    ("a little sad", {"sad": 0.4}),
    ("very angry", {"angry": 0.9}),
    ("I am not afraid", {"calm": 0.6}),
    ("not very happy", {"sad": 0.3}),
    ("excited and a little scared", {"happy": 0.56, "surprised": 0.21, "afraid": 0.4}),
    ("very angry but trying to stay calm", {"angry": 0.54, "calm": 0.7}),
])
def test_lexicon_reads_descriptions(text, expected):
    assert nonzero(text) == pytest.approx(expected, abs=1e-3)


def test_lexicon_rejects_what_it_cannot_read():
    with pytest.raises(InputError, match="no emotion word"):
        resolve_text("the quarterly report")
    with pytest.raises(InputError, match="empty"):
        resolve_text("  ")
    with pytest.raises(InputError, match="under 200"):
        resolve_text("sad " * 100)


# ---------------------------------------------------------------- vector and spec validation
def test_vector_validation_messages():
    with pytest.raises(InputError, match=r"unknown emotion name\(s\) 'joyful'.*happy, angry"):
        EmotionVector.from_mapping({"joyful": 0.5})
    with pytest.raises(InputError, match="emotion 'sad' must be from 0 to 1, got 1.5"):
        EmotionVector.from_mapping({"sad": 1.5})
    with pytest.raises(InputError, match="must be a number"):
        EmotionVector.from_mapping({"sad": "lots"})
    with pytest.raises(InputError, match="emotion weight must be from 0 to 1"):
        spec_from_request(vector={"happy": 1}, weight=2)
    with pytest.raises(InputError, match="seed"):
        EmotionSpec(seed=-1)
    with pytest.raises(InputError, match="one emotion source"):
        spec_from_request(vector={"happy": 1}, text="sad")
    assert spec_from_request() is None  # mode 1


def test_mixing_scales_from_neutral_and_averages():
    happy = EmotionVector.from_mapping({"happy": 1.0}).edit()
    assert EmotionVector.from_mapping({"happy": 1.0}).edit(0.0).is_neutral
    half = EmotionVector.from_mapping({"happy": 0.5}).edit()
    assert half.f0_shift_st == pytest.approx(happy.f0_shift_st / 2)
    mix = EmotionVector.from_mapping({"happy": 1.0, "sad": 1.0}).edit()
    sad = EmotionVector.from_mapping({"sad": 1.0}).edit()
    assert mix.f0_shift_st == pytest.approx((happy.f0_shift_st + sad.f0_shift_st) / 2)


def test_tempo_change_is_carried_by_vowels_and_keeps_the_total():
    import torch

    from indextts.emotion.apply import duration_factors
    from indextts.text.vocab import load_vocab

    vocab = load_vocab()
    tokens = torch.tensor([[0, *(vocab[c] for c in "kˈʌm ɪn,"), 0]])
    expected = torch.tensor([3.0, 4.0, 0.5, 6.0, 5.0, 1.0, 5.0, 4.0, 7.0, 3.0])
    for tempo in (1.15, 0.85):
        f = duration_factors(tokens, expected, tempo)
        speech = torch.tensor([False, True, True, True, True, True, True, True, False, False])
        assert torch.isclose((expected * f)[speech].sum(), expected[speech].sum() / tempo)
        consonant, vowel = f[1].item(), f[3].item()  # k, ʌ
        assert consonant == pytest.approx(tempo ** -0.5)
        assert abs(vowel - 1) > abs(consonant - 1) and (vowel - 1) * (consonant - 1) > 0
        assert f[0].item() == f[-2].item() == pytest.approx(1 / tempo)  # edge silence and the comma


# ---------------------------------------------------------------- engine (model, quick sentences)
def test_an_emotion_at_zero_weight_is_bit_identical_to_none(engine):
    plain = engine.synthesize(EN, voice="jm_kumo")
    zero = engine.synthesize(EN, voice="jm_kumo", emotion=spec_from_request(vector={"sad": 1.0}, weight=0.0))
    assert np.array_equal(plain.audio, zero.audio)


def test_random_variation_is_seeded(engine):
    spec = lambda seed: spec_from_request(vector={"happy": 0.5}, random=True, seed=seed)  # noqa: E731
    a = engine.synthesize(EN, voice="jm_kumo", emotion=spec(7))
    b = engine.synthesize(EN, voice="jm_kumo", emotion=spec(7))
    c = engine.synthesize(EN, voice="jm_kumo", emotion=spec(8))
    assert np.array_equal(a.audio, b.audio)
    assert len(a.audio) != len(c.audio) or not np.array_equal(a.audio, c.audio)


def test_happy_is_higher_and_faster_than_sad_in_the_audio(engine):
    happy = engine.synthesize(EN, voice="jm_kumo", emotion=spec_from_request(vector={"happy": 1.0}))
    sad = engine.synthesize(EN, voice="jm_kumo", emotion=spec_from_request(vector={"sad": 1.0}))
    mh, ms = measure(happy.audio, 24000), measure(sad.audio, 24000)
    assert mh.f0_median_st - ms.f0_median_st > 3.0, (mh, ms)
    assert mh.energy_db - ms.energy_db > 3.0, (mh, ms)
    assert sad.duration_s / happy.duration_s > 1.15


def test_a_small_loudness_edit_changes_the_level_by_what_was_asked(engine):
    """Calm at 0.3 asks -0.6 dB. Peaks are limited locally, so the level does not move with one
    sample's height (scaling the whole segment by its peak would swing it by +-0.5 dB, the wrong way here)."""
    plain = engine.synthesize(EN, voice="jm_kumo")
    calm = engine.synthesize(EN, voice="jm_kumo", emotion=spec_from_request(vector={"calm": 1.0}, weight=0.3))
    change = measure(calm.audio, 24000).energy_db - measure(plain.audio, 24000).energy_db
    assert -0.9 < change < -0.35, change
    assert np.abs(calm.audio).max() <= 0.97 and np.abs(plain.audio).max() <= 0.97


def test_reference_clip_transfers_its_prosody(engine):
    sad = engine.synthesize(EN, voice="jf_alpha", emotion=spec_from_request(vector={"sad": 1.0}))
    buf = io.BytesIO()
    sf.write(buf, sad.audio, 24000, format="WAV")
    spec = spec_from_request(reference=buf.getvalue())
    out = engine.synthesize("We are going to the park with our friends.", voice="jm_kumo", emotion=spec)
    neutral = engine.synthesize("We are going to the park with our friends.", voice="jm_kumo")
    assert out.duration_s > neutral.duration_s  # the slow, pausing reference slows it down
    with pytest.raises(InputError, match="could not be read as audio"):
        measure_reference(b"not audio at all")
    with pytest.raises(InputError, match="silent"):
        measure_reference((np.zeros(48000, np.float32), 24000))
    with pytest.raises(InputError, match="at least 1 s"):
        measure_reference((np.ones(1000, np.float32) * 0.1, 24000))


# ---------------------------------------------------------------- HTTP API
def test_api_emotion_fields(live_server):
    url = live_server.url
    r = httpx.post(f"{url}/v1/emotion/resolve", json={"text": "有点难过"}, timeout=30)
    assert r.status_code == 200 and r.json()["vector"]["sad"] == 0.4
    assert httpx.post(f"{url}/v1/emotion/resolve", json={"text": "report"}, timeout=30).status_code == 400
    assert [e["id"] for e in httpx.get(f"{url}/v1/emotions", timeout=30).json()["data"]] == list(EMOTIONS)
    body = {"input": "Hello there.", "response_format": "wav", "emotion": {"happy": 0.8}, "emotion_weight": 0.7}
    r = httpx.post(f"{url}/v1/audio/speech", json=body, timeout=120)
    assert r.status_code == 200 and r.headers["content-type"].startswith("audio/wav")
    r = httpx.post(f"{url}/v1/audio/speech", json={"input": "Hello there.", "response_format": "wav",
                                                   "emotion_text": "非常生气", "emotion_random": True,
                                                   "emotion_seed": 3}, timeout=120)
    assert r.status_code == 200
    bad = [({"emotion": {"joyful": 1}}, "emotion", "happy, angry"),
           ({"emotion": {"sad": 2}}, "emotion", "from 0 to 1"),
           ({"emotion_text": "quarterly report"}, "emotion_text", "no emotion word"),
           ({"emotion_reference": "%%%"}, "emotion_reference", "base64"),
           ({"emotion_reference": base64.b64encode(b"junk").decode()}, "emotion_reference", "could not be read"),
           ({"emotion": {"sad": 1}, "emotion_text": "sad"}, "emotion_text", "one emotion source"),
           ({"emotion": {"sad": 1}, "emotion_weight": 3}, "emotion_weight", "weight")]
    for extra, param, message in bad:
        r = httpx.post(f"{url}/v1/audio/speech", json={"input": "Hi.", **extra}, timeout=30)
        assert r.status_code == 400, (extra, r.text)
        assert message in r.json()["error"]["message"] and r.json()["error"]["param"] == param, r.json()


# ---------------------------------------------------------------- UI (gradio_client)
def test_ui_emotion_inputs(live_server):
    from gradio_client import Client

    client = Client(live_server.url + "/", verbose=False)
    params = [p["parameter_name"] for p in
              client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/synthesize"]["parameters"]]
    assert params[:8] == ["text", "voice", "speed", "lang", "max_tokens", "pause_s", "fmt", "ui_lang"]
    assert params[8:] == ["emo_mode", *EMOTIONS, "emo_weight", "emo_text", "emo_reference", "emo_random", "emo_seed",
                          "duration_s"]  # new inputs come last: older clients' positional calls keep working
    audio, *_ = client.predict("Hello there.", "jm_kumo", 1.0, "en", 400, 0.25, "wav", "en", "text",
                               emo_text="excited and a little scared", api_name="/synthesize")
    assert sf.info(audio).duration > 0.5
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="no emotion word"):
        client.predict("Hello.", "jm_kumo", 1.0, "en", 400, 0.25, "wav", "en", "text", emo_text="report",
                       api_name="/synthesize")
    with pytest.raises(AppError, match="needs an audio clip"):
        client.predict("Hello.", "jm_kumo", 1.0, "en", 400, 0.25, "wav", "en", "reference", api_name="/synthesize")
