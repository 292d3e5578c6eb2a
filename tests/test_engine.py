"""The engine end to end: real model, real audio, checked by ear (Whisper) and by measurement."""

from __future__ import annotations

import numpy as np
import pytest

from indextts.errors import InputError
from indextts.request import SynthesisRequest

pytestmark = pytest.mark.slow

SHORT_EN = "Please call me back tomorrow morning."
SHORT_ZH = "我们明天早上见面。"


def test_english_sounds_like_the_text(engine, asr):
    transcribe, normalize = asr
    result = engine.synthesize(SHORT_EN)
    assert result.sample_rate == 24000 and result.audio.dtype == np.float32
    assert 1.2 < result.duration_s < 4.5  # six words of ordinary speech
    assert normalize(transcribe(result.audio, 24000, "en"), "en") == normalize(SHORT_EN, "en")


@pytest.mark.parametrize("voice", ["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"])
def test_every_shipped_voice_speaks_both_languages(engine, asr, voice):
    from indextts.evaluation.asr import cer, wer

    transcribe, _ = asr
    en = engine.synthesize("The weather is nice today.", voice=voice)
    zh = engine.synthesize("今天天气很好。", voice=voice)
    assert wer("The weather is nice today.", transcribe(en.audio, 24000, "en")) <= 0.2
    assert cer("今天天气很好。", transcribe(zh.audio, 24000, "zh")) <= 0.2


def test_segments_pauses_and_details(engine):
    text = "First sentence here. 第二句话在这里。Third one!"
    result = engine.synthesize(text, pause_s=0.5)
    assert [s.lang for s in result.segments] == ["en", "zh", "en"]
    assert [s.text for s in result.segments] == ["First sentence here.", "第二句话在这里。", "Third one!"]
    spoken = sum(s.duration_s for s in result.segments)
    assert result.duration_s == pytest.approx(spoken + 2 * 0.5, abs=0.01)
    for seg in result.segments:
        assert seg.prosody.f0.shape[-1] == 2 * seg.prosody.total_frames
        assert len(seg.prosody.frames) == len(seg.tokens) + 2  # plus the boundary tokens


def test_deterministic_and_never_clips(engine):
    first = engine.synthesize("Loud and clear, again and again!", voice="jf_alpha")
    second = engine.synthesize("Loud and clear, again and again!", voice="jf_alpha")
    assert np.array_equal(first.audio, second.audio)
    assert np.isfinite(first.audio).all() and np.abs(first.audio).max() <= 0.971


def test_speed_changes_length(engine):
    normal = engine.synthesize(SHORT_EN, speed=1.0).duration_s
    fast = engine.synthesize(SHORT_EN, speed=1.5).duration_s
    slow = engine.synthesize(SHORT_EN, speed=0.75).duration_s
    assert 0.55 < fast / normal < 0.8
    assert 1.2 < slow / normal < 1.5


@pytest.mark.parametrize(
    ("kwargs", "message", "field"),
    [
        ({"text": ""}, "empty", "text"),
        ({"text": "   \n\t "}, "empty", "text"),
        ({"text": "x" * 5001}, "limit is 5000", "text"),
        ({"text": "Hi.", "voice": "nobody"}, "unknown voice 'nobody'.*jm_kumo", "voice"),
        ({"text": "Hi.", "speed": 4.5}, "speed must be between", "speed"),
        ({"text": "Hi.", "lang": "fr"}, "unknown language 'fr'", "lang"),
        ({"text": "🙂🙂🙂"}, "nothing that can be spoken", "text"),
        ({"text": "Hi.", "max_tokens": 5}, "max tokens per segment must be 16-510", "max_tokens"),
        ({"text": "Hi.", "pause_s": 6.0}, "pause between segments must be 0-5 s", "pause_s"),
    ],
)
def test_bad_input_is_named(engine, kwargs, message, field):
    """Each bad field is refused with a message and the field's name (servers map it to their parameter)."""
    with pytest.raises(InputError, match=message) as refused:
        engine.synthesize(SynthesisRequest(**kwargs))
    assert refused.value.field == field


def test_peak_limiter_holds_the_ceiling_and_leaves_the_rest_alone():
    from indextts.audio import PEAK_CEILING, limit_peak

    t = np.arange(24000) / 24000
    audio = (0.6 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    audio[6000], audio[18000] = 1.4, -2.0  # two clicks far over full scale
    out = limit_peak(audio, 24000)
    assert np.abs(out).max() <= PEAK_CEILING
    far = np.abs(np.arange(len(t))[:, None] - np.array([6000, 18000])).min(axis=1) > 24 * 11  # beyond 11 ms
    assert np.array_equal(out[far], audio[far])  # speech away from the peaks keeps its level exactly
    quiet = audio * 0.5
    quiet[6000] = quiet[18000] = 0.0
    assert np.array_equal(limit_peak(quiet, 24000), quiet)  # nothing over the ceiling: untouched
