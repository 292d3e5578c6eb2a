"""Voice names: stock voices' language and gender, OpenAI names, Kokoro's mixing syntax, the default voice by
language, and names a saved voice may not take. Fast tests use a voice bank of blank packs; the ones marked
slow use the real engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from indextts.errors import InputError
from indextts.text.langdetect import main_lang
from indextts.voices import OPENAI_VOICES, VoiceBank, parse_mix, stock_info


def bank(*names: str) -> VoiceBank:
    return VoiceBank({name: torch.full((510, 1, 256), float(i)) for i, name in enumerate(names)})


def test_stock_voices_carry_language_and_gender_from_their_prefix():
    assert stock_info("af_heart").to_json() == {"id": "af_heart", "name": "af_heart", "kind": "stock",
                                                "language": "en-US", "language_name": "American English",
                                                "gender": "female"}
    assert (stock_info("bm_george").language, stock_info("bm_george").gender) == ("en-GB", "male")
    assert (stock_info("zf_xiaobei").language_name, stock_info("zm_yunxi").gender) == ("Mandarin", "male")
    assert stock_info("jm_kumo").language == "ja" and stock_info("pf_dora").language == "pt-BR"
    assert stock_info("narrator").language is None  # not a Kokoro name: nothing guessed


def test_mixing_syntax_weights_and_errors():
    assert parse_mix("af_heart") is None
    assert parse_mix("af_bella+af_sky") == [("af_bella", 0.5), ("af_sky", 0.5)]
    assert parse_mix(" af_bella(2) + af_sky(1) ") == [("af_bella", 2 / 3), ("af_sky", 1 / 3)]
    for bad in ("af_bella+", "+af_sky", "af_bella(x)+af_sky", "af_bella(-1)+af_sky", "a b+c"):
        with pytest.raises(InputError, match="invalid voice mix"):
            parse_mix(bad)
    with pytest.raises(InputError, match="must not all be 0"):
        parse_mix("af_bella(0)+af_sky(0)")


def test_a_mix_is_the_weighted_average_of_its_packs():
    voices = bank("af_a", "af_b", "am_c")  # packs filled with 0, 1, 2
    mix = voices.resolve("af_b(3)+am_c(1)")
    assert mix.kind == "mix" and mix.name == "af_b(0.75)+am_c(0.25)"
    assert torch.allclose(mix.pack, torch.full((510, 256), 0.75 * 1 + 0.25 * 2))
    assert mix.fingerprint != voices.resolve("af_b(1)+am_c(3)").fingerprint
    assert mix.fingerprint == voices.resolve("af_b(6)+am_c(2)").fingerprint  # same weights, same voice
    with pytest.raises(InputError, match="unknown voice 'af_zz'"):
        voices.resolve("af_b+af_zz")


def test_openai_names_resolve_to_native_voices_or_the_shipped_ones():
    native = bank(*{target for target, _ in OPENAI_VOICES.values()}, "jm_kumo")
    for alias, (target, _) in OPENAI_VOICES.items():
        assert native.resolve(alias).name == target
        assert stock_info(target).language in ("en-US", "en-GB")
    assert {stock_info(t).gender for t, _ in OPENAI_VOICES.values()} == {"female", "male"}
    shipped = bank("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
    assert shipped.resolve("coral").name == "jf_alpha" and shipped.resolve("onyx").name == "jm_kumo"
    assert set(OPENAI_VOICES) == {"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                                  "shimmer", "verse", "marin", "cedar"}  # OpenAI's current voices


def test_main_language_of_a_text():
    assert main_lang("Hello there, how are you?") == "en"
    assert main_lang("今天天气很好，我们去公园吧。") == "zh"
    assert main_lang("我们用 Python 和 PyTorch 写了一个 demo。") == "zh"
    assert main_lang("The word 你好 means hello in Mandarin.") == "en"
    assert main_lang("2024!") == "en"


@pytest.mark.slow
def test_default_voice_follows_the_text_language(engine):
    installed = engine.voices.kind("af_heart") is not None
    en, zh = ("af_heart", "zf_xiaobei") if installed else ("jm_kumo", "jm_kumo")
    assert engine.default_voice("Hello there.") == en
    assert engine.default_voice("你好，世界。") == zh
    assert engine.default_voice("Hello", lang="zh") == zh
    assert engine.default_voices == {"en": en, "zh": zh}
    result = engine.synthesize("你好。")  # no voice named: the Mandarin default speaks
    assert result.duration_s > 0.3


@pytest.mark.slow
@pytest.mark.parametrize("name", ["alloy", "nova", "coral", "af_heart"])
def test_a_saved_voice_may_not_take_an_openai_or_stock_name(engine, name):
    if engine.voices.kind(name) is None and name not in OPENAI_VOICES:
        pytest.skip("the native voices are not installed")
    with pytest.raises(InputError, match="OpenAI voice name|stock voice name"):
        engine.studio.blend("jf_alpha", "jm_kumo", 0.5, name)
    with pytest.raises(InputError, match="OpenAI voice name|stock voice name"):
        engine.studio.save("jm_kumo", name)


@pytest.mark.slow
def test_a_mixed_voice_speaks_between_its_parts(engine):
    """A female and a male voice mixed 1:1: the model's pitch for the mix lies between theirs."""

    def pitch(voice: str) -> float:
        f0 = np.concatenate([s.prosody.f0.numpy().ravel() for s in engine.synthesize(
            "Mixing two voices gives a third one.", voice=voice).segments])
        return float(np.median(f0[f0 > 60]))

    high, low, mixed = pitch("jf_alpha"), pitch("jm_kumo"), pitch("jf_alpha(1)+jm_kumo(1)")
    assert low * 1.15 < mixed < high / 1.15, (low, mixed, high)
