"""English words inside Chinese said in an English voice's manner: the frontend marks the English runs of a
Mandarin segment, the engine moves those tokens' style toward the voice's English pair, and the model takes
a per-token style (the predictor per token, F0/energy and the decoder per frame) without cutting the sentence.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from indextts.text import Frontend
from indextts.text.g2p import G2P
from indextts.text.vocab import clean_phonemes

ZH_WITH_TERM = "我最近在学Python编程。"


@pytest.fixture(scope="module")
def frontend() -> Frontend:
    return Frontend()


# ---------------------------------------------------------------- the frontend's marking (fast)
def test_a_latin_run_in_chinese_is_marked_with_its_tokens(frontend):
    (segment,) = frontend.segments(ZH_WITH_TERM)
    assert segment.lang == "zh"
    (run,) = segment.english_runs
    assert segment.phonemes[run[0]:run[1]] == clean_phonemes(G2P().en_in_zh("Python"))
    assert len(segment.tokens) > run[1]  # token indices: one token per phoneme character


def test_neighbouring_english_words_are_one_run_and_apart_words_two(frontend):
    (segment,) = frontend.segments("我用 Apple Watch 看时间，GPU很贵。")
    assert [segment.phonemes[a:b] for a, b in segment.english_runs] == [
        clean_phonemes(G2P().en_in_zh("Apple Watch")), clean_phonemes(G2P().en_in_zh("GPU"))]


@pytest.mark.parametrize("text", ["今天天气很好，我们去公园散步吧。", "The weather is nice today."])
def test_text_without_english_inside_chinese_has_no_runs(frontend, text):
    assert all(s.english_runs == () for s in frontend.segments(text))


def test_an_english_reading_set_in_chinese_is_a_run(frontend):
    (segment,) = frontend.segments("我在用[微软](/mˈIkɹəsˌɔft/)的电脑。")
    assert [segment.phonemes[a:b] for a, b in segment.english_runs] == ["mˈIkɹəsˌɔft"]


# ---------------------------------------------------------------- the model's style track (real model)
def _tokens_and_style(engine, text: str, voice: str):
    (segment,) = engine.segments(text, lang="auto")
    tokens = torch.tensor([[0, *segment.tokens, 0]])
    return segment, tokens, engine.voices.style(voice, len(segment.tokens))


@pytest.mark.slow
def test_a_per_token_style_of_one_row_repeated_is_the_single_style_exactly(engine):
    """The track path (per-token predictor, per-frame F0/energy and decoder) with every row the voice's own
    row gives the (1, 256) path's durations, curves and audio bit for bit: a sentence's Chinese keeps exactly
    its style's gains wherever the track holds the voice's own style."""
    _, tokens, style = _tokens_and_style(engine, ZH_WITH_TERM, "zf_xiaobei")
    track = style[None].expand(1, tokens.shape[1], -1).contiguous()
    with torch.inference_mode():
        single = engine.model.predict_prosody(tokens, style)
        tracked = engine.model.predict_prosody(tokens, track)
        for name in ("frames", "f0", "energy"):
            assert torch.equal(getattr(single, name), getattr(tracked, name)), name
        a = engine.model.render(tokens, style, single).numpy()
        b = engine.model.render(tokens, track, single).numpy()
    assert np.array_equal(a, b)


@pytest.mark.slow
def test_a_per_token_style_must_have_one_row_per_token(engine):
    _, tokens, style = _tokens_and_style(engine, ZH_WITH_TERM, "zf_xiaobei")
    with pytest.raises(ValueError, match="one row per token"):
        engine.model.predict_prosody(tokens, style[None].expand(1, tokens.shape[1] - 1, -1))


def _with_blend(engine, monkeypatch, blend: float) -> None:
    monkeypatch.setattr(engine, "settings", engine.settings.model_copy(update={"engine": engine.settings.engine.model_copy(
        update={"english_in_chinese_blend": blend})}))


@pytest.mark.slow
def test_the_engine_moves_only_the_english_tokens_toward_the_pair(engine, monkeypatch):
    blend = 0.5
    _with_blend(engine, monkeypatch, blend)
    voice = engine.voices.resolve("zf_xiaobei")
    (segment,) = engine.segments(ZH_WITH_TERM, lang="auto")
    (run,) = segment.english_runs
    n = len(segment.tokens)
    own, pair = engine.voices.style("zf_xiaobei", n), engine.voices.style("af_heart", n)
    track = engine._style(segment, voice).cpu()
    assert track.shape == (1, n + 2, 256)
    inside = torch.zeros(n + 2, dtype=torch.bool)
    inside[run[0] + 1 : run[1] + 1] = True
    assert torch.equal(track[0, ~inside], own.expand(int((~inside).sum()), -1))
    assert torch.allclose(track[0, inside], (own + blend * (pair - own)).expand(int(inside.sum()), -1))
    male = engine._style(segment, engine.voices.resolve("zm_yunxi")).cpu()
    assert torch.allclose(male[0, run[0] + 1], engine.voices.style("zm_yunxi", n)[0]
                          + blend * (engine.voices.style("am_michael", n) - engine.voices.style("zm_yunxi", n))[0])


@pytest.mark.slow
@pytest.mark.parametrize("text, voice", [
    ("今天天气很好，我们去公园散步吧。", "zf_xiaobei"),   # no English run
    (ZH_WITH_TERM, "af_heart"),                        # an English voice: no pair
    (ZH_WITH_TERM, "zf_xiaobei+zf_xiaoxiao"),          # a mix: its language and gender are not known
])
def test_the_engine_keeps_the_single_style_elsewhere(engine, monkeypatch, text, voice):
    _with_blend(engine, monkeypatch, 0.5)
    (segment,) = engine.segments(text, lang="auto")
    style = engine._style(segment, engine.voices.resolve(voice))
    assert style.shape == (1, 256)


@pytest.mark.slow
def test_blend_zero_turns_it_off(engine, monkeypatch):
    """engine.english_in_chinese_blend: 0 gives the single style (today's path and audio); on, the audio differs."""
    _with_blend(engine, monkeypatch, 0.5)
    on = engine.synthesize(ZH_WITH_TERM, voice="zf_xiaobei").audio
    _with_blend(engine, monkeypatch, 0.0)
    (segment,) = engine.segments(ZH_WITH_TERM, lang="auto")
    assert engine._style(segment, engine.voices.resolve("zf_xiaobei")).shape == (1, 256)
    off = engine.synthesize(ZH_WITH_TERM, voice="zf_xiaobei").audio
    assert len(off) and not np.array_equal(on, off)
