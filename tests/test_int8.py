"""Int8 on the CPU: the decoder's convolutions and ALBERT's linear layers against the float model they come from
(close in inference, exact with autograd; the same words heard, durations within a frame)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from audio_metrics import log_mel_l1
from test_speed import TEXTS
from indextts.model.checkpoint import float_convolutions
from indextts.model.int8 import Int8Conv1d, Int8Linear, int8_available, quantize_convolutions

slow = pytest.mark.slow
needs_int8 = pytest.mark.skipif(not int8_available(), reason="this torch build has no oneDNN int8 kernels")
RATE = 24000


@needs_int8
def test_int8_conv_is_close_in_inference_and_exact_with_autograd():
    torch.manual_seed(0)
    conv = nn.Conv1d(64, 96, 7, padding=3, dilation=1).eval()
    x = torch.randn(1, 64, 300)
    q = Int8Conv1d(conv)
    with torch.inference_mode():
        reference, quantized = conv(x), q(x)
    error = float((quantized - reference).norm() / reference.norm())
    assert 0 < error < 0.02, error  # the int8 path ran (not bit-equal) and stays close
    with torch.no_grad():
        assert torch.equal(q(x), quantized)  # no_grad is inference too
    leaf = x.clone().requires_grad_(True)
    out = q(leaf)
    assert torch.equal(out, conv(x))  # with autograd: the float convolution, exactly
    out.square().mean().backward()
    expected = x.clone().requires_grad_(True)
    conv(expected).square().mean().backward()
    assert torch.allclose(leaf.grad, expected.grad) and leaf.grad.abs().sum() > 0


@needs_int8
def test_quantize_convolutions_picks_large_ungrouped_convs_only():
    module = nn.Module()
    module.big = nn.Conv1d(64, 64, 3, padding=1)
    module.tiny = nn.Conv1d(1, 1, 3, padding=1)  # 3 MACs per step: not worth it
    module.grouped = nn.Conv1d(64, 64, 3, padding=1, groups=4)
    module.keep = nn.Conv1d(64, 64, 3, padding=1)
    module.inner = nn.Sequential(nn.Conv1d(64, 64, 3, padding=1))
    assert quantize_convolutions(module, exclude=("keep",)) == 2
    assert isinstance(module.big, Int8Conv1d) and isinstance(module.inner[0], Int8Conv1d)
    assert all(type(m) is nn.Conv1d for m in (module.tiny, module.grouped, module.keep))


@slow
@needs_int8
def test_the_engine_runs_int8_decoder_convolutions_by_default(engine, settings):
    assert settings.engine.int8 is True
    quantized = [name for name, m in engine.model.decoder.named_modules() if isinstance(m, Int8Conv1d)]
    assert sum(name.startswith("generator.") for name in quantized) >= 20, quantized  # the 800/4800 Hz stages
    assert isinstance(engine.model.decoder.encode.conv1, Int8Conv1d)  # the 40-80 Hz blocks (weight-bound)
    assert all(isinstance(block.conv2, Int8Conv1d) for block in engine.model.decoder.decode)
    assert type(engine.model.decoder.generator.conv_post) is nn.Conv1d  # exponentiated output: kept float
    assert type(engine.model.decoder.F0_conv) is nn.Conv1d  # one channel: nothing to gain
    assert not any(isinstance(m, Int8Conv1d) for m in engine.model.predictor.modules())  # durations: float
    assert not any(isinstance(m, Int8Conv1d) for m in engine.model.text_encoder.modules())


def _inputs(engine, text: str, lang: str, voice: str):
    (segment,) = engine.segments(text, lang=lang, first_max_tokens=0)  # one segment: the sentence whole
    style = engine.voices.style(voice, len(segment.tokens))
    tokens = torch.tensor([[0, *segment.tokens, 0]], dtype=torch.long)
    return tokens, style


@slow
@needs_int8
@pytest.mark.parametrize(("lang", "text", "voice"), [
    ("en", "The quick brown fox jumps over the lazy dog.", "jm_kumo"),
    ("zh", "今天天气很好，我们去公园散步吧。", "jf_alpha"),
], ids=["en", "zh"])
def test_int8_audio_matches_the_float_model(engine, float_model, asr, lang, text, voice):
    tokens, style = _inputs(engine, text, lang, voice)
    with torch.inference_mode():
        prosody = float_model.predict_prosody(tokens, style, 1.0)
        int8_prosody = engine.model.predict_prosody(tokens, style, 1.0)
        # ALBERT runs in int8 (test_speed.py): a rare token's rounding flips by one frame; the audio compared
        # below is rendered from the same (float) prosody in both models
        assert (int8_prosody.frames - prosody.frames).abs().max() <= 1
        reference = float_model.render(tokens, style, prosody).numpy()
        quantized = engine.model.render(tokens, style, prosody).numpy()
    assert len(quantized) == len(reference)
    distance = log_mel_l1(quantized, reference)
    assert 0.0 < distance < 0.15, distance  # measured ~0.1; a different voice scores 0.7+
    if lang == "en":  # heard the same (Mandarin: the distance above; Whisper is the slow part)
        transcribe, normalize = asr
        heard = normalize(transcribe(quantized, RATE, lang), lang)
        assert heard == normalize(transcribe(reference, RATE, lang), lang) == normalize(text, lang)


@slow
@needs_int8
def test_the_int8_model_gives_float_audio_and_gradients_with_autograd(engine, float_model):
    """The voice fitter differentiates through the decoder: that must stay the float model's math."""
    tokens, style = _inputs(engine, "Hello there.", "en", "jf_alpha")
    with torch.no_grad():
        prosody = float_model.predict_prosody(tokens, style, 1.0)
    grads = []
    outputs = []
    for model in (engine.model, float_model):
        leaf = style.clone().requires_grad_(True)
        with torch.enable_grad(), float_convolutions(model):  # the int8 model's float weights, read back
            audio = model.render(tokens, leaf, prosody)
            audio.square().mean().backward()
        outputs.append(audio.detach())
        grads.append(leaf.grad)
    assert torch.equal(outputs[0], outputs[1])
    assert torch.isfinite(grads[0]).all() and grads[0].abs().sum() > 0
    assert torch.allclose(grads[0], grads[1])


# ---------------------------------------------------------------- the text reader (ALBERT)

@needs_int8
def test_int8_linear_is_close_in_inference_and_exact_with_autograd():
    torch.manual_seed(0)
    linear = nn.Linear(768, 2048).eval()
    x = torch.randn(1, 70, 768)
    q = Int8Linear(linear)
    with torch.inference_mode():
        reference, quantized = linear(x), q(x)
    assert quantized.shape == reference.shape
    error = float((quantized - reference).norm() / reference.norm())
    assert 0 < error < 0.02, error  # the int8 path ran (not bit-equal) and stays close
    leaf = x.clone().requires_grad_(True)
    out = q(leaf)
    assert torch.equal(out, linear(x))  # with autograd: the float layer, exactly
    out.square().mean().backward()
    assert leaf.grad is not None and leaf.grad.abs().sum() > 0


@slow
@needs_int8
def test_the_int8_text_reader_keeps_the_float_durations(engine, float_model):
    """ALBERT in int8 (2.8x faster): the predicted durations stay the float model's but for rounding flips."""
    assert all(isinstance(layer, Int8Linear) for layer in (
        engine.model.bert.encoder.albert_layer_groups[0].albert_layers[0].ffn,
        engine.model.bert.encoder.albert_layer_groups[0].albert_layers[0].attention.query))
    same = total = 0
    for lang, text, voice in TEXTS:
        for segment in engine.segments(text, lang=lang):
            style = engine.voices.style(voice, len(segment.tokens))
            tokens = torch.tensor([[0, *segment.tokens, 0]])
            with torch.inference_mode():
                ours = engine.model.predict_prosody(tokens, style)
                reference = float_model.predict_prosody(tokens, style)
            assert (ours.expected_frames - reference.expected_frames).abs().max() < 1.0  # pre-rounding
            diff = (ours.frames - reference.frames).abs()
            assert int(diff.max()) <= 1
            same, total = same + int((diff == 0).sum()), total + diff.numel()
    assert same / total >= 0.93, f"{same}/{total} token durations as the float model's"
