"""The PyTorch model against the shipped Kokoro int8 ONNX: same tokens, style and speed.

Thresholds follow the measured gap between float activations and the ONNX's
int8 ones: the ONNX quantizes every activation, which moves pre-round
durations by up to about one frame, so rounding flips some tokens (measured:
0-10 % of tokens, never more than one frame). With the ONNX's durations
forced, F0 is within 2 Hz and the log-mel distance is 0.09-0.21, against
0.7+ for a different voice.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio_metrics import log_mel_l1

pytestmark = pytest.mark.slow

ONNX_FRAMES = "/encoder/Clip_output_0"  # per-token frames after speed, round and clip
ONNX_F0 = "/encoder/F0_proj/Conv_output_0"

CASES = [
    ("en", "The quick brown fox jumps over the lazy dog.", "jm_kumo"),
    ("en", "Hello there.", "jf_alpha"),
    ("zh", "今天天气很好，我们去公园散步吧。", "jm_kumo"),
]


@pytest.fixture(scope="module")
def onnx_session(onnx_path):
    import onnx
    import onnxruntime as ort

    graph = onnx.load(str(onnx_path))
    for name in (ONNX_FRAMES, ONNX_F0):  # expose intermediate tensors as extra outputs
        graph.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(graph.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def run_onnx(session, tokens: tuple[int, ...], style: torch.Tensor, speed: float = 1.0):
    audio, frames, f0 = session.run(
        ["audio", ONNX_FRAMES, ONNX_F0],
        {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style.numpy().astype(np.float32),
            "speed": np.array([speed], dtype=np.float32),
        },
    )
    return audio.ravel(), np.rint(frames.ravel()).astype(int), f0.ravel()


@pytest.fixture(scope="module", params=CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def rendered(request, engine, onnx_session, float_model):
    lang, text, voice = request.param
    (segment,) = engine.segments(text, lang=lang, first_max_tokens=0)  # the sentence whole, as ONNX gets it
    style = engine.voices.style(voice, len(segment.tokens))
    tokens = torch.tensor([[0, *segment.tokens, 0]])
    onnx_audio, onnx_frames, onnx_f0 = run_onnx(onnx_session, segment.tokens, style)
    with torch.inference_mode():
        own = engine.model.predict_prosody(tokens, style)
        forced = engine.model.prosody_for_frames(own.encoded, own.expected_frames, torch.from_numpy(onnx_frames), style)
        forced_audio = engine.model.render(tokens, style, forced).numpy()
        float_audio = float_model.render(tokens, style, forced).numpy()
    return dict(lang=lang, text=text, onnx_audio=onnx_audio, onnx_frames=onnx_frames, onnx_f0=onnx_f0,
                own=own, forced=forced, forced_audio=forced_audio, float_audio=float_audio)


def test_durations_match(rendered):
    own = rendered["own"].frames.numpy()
    ref = rendered["onnx_frames"]
    assert own.shape == ref.shape
    diff = np.abs(own - ref)
    assert diff.max() <= 1, f"a token is off by {diff.max()} frames"
    assert (diff == 0).mean() >= 0.85
    assert abs(own.sum() - ref.sum()) <= 0.02 * ref.sum()


def test_pitch_and_spectrum_match_with_the_same_durations(rendered):
    f0 = rendered["forced"].f0[0].numpy()
    assert f0.shape == rendered["onnx_f0"].shape
    assert np.abs(f0 - rendered["onnx_f0"]).mean() <= 2.0  # Hz
    audio, onnx_audio = rendered["forced_audio"], rendered["onnx_audio"]
    assert len(audio) == len(onnx_audio)
    assert log_mel_l1(audio[10:], onnx_audio[10:]) <= 0.25  # a different voice scores 0.7+
    rms_ratio = np.sqrt(np.mean(onnx_audio[10:] ** 2) / np.mean(audio[10:] ** 2))
    assert 0.9 <= rms_ratio <= 1.1


def test_a_different_voice_is_far(engine, onnx_session):
    """Guards the metric itself: the same text in another voice must not pass as parity."""
    (segment,) = engine.segments(CASES[0][1], lang="en", first_max_tokens=0)
    tokens = torch.tensor([[0, *segment.tokens, 0]])
    kumo = engine.voices.style("jm_kumo", len(segment.tokens))
    nezumi = engine.voices.style("jf_nezumi", len(segment.tokens))
    onnx_audio, onnx_frames, _ = run_onnx(onnx_session, segment.tokens, kumo)
    with torch.inference_mode():
        own = engine.model.predict_prosody(tokens, nezumi)
        forced = engine.model.prosody_for_frames(own.encoded, own.expected_frames, torch.from_numpy(onnx_frames), nezumi)
        other = engine.model.render(tokens, nezumi, forced).numpy()
    assert log_mel_l1(other[10:], onnx_audio[10:]) > 0.4


def test_same_transcript(rendered, asr):
    transcribe, normalize = asr
    ours = normalize(transcribe(rendered["forced_audio"], 24000, rendered["lang"]), rendered["lang"])
    theirs = normalize(transcribe(rendered["onnx_audio"], 24000, rendered["lang"]), rendered["lang"])
    # The same words as the ONNX, or the text itself where Whisper mishears the ONNX, or what it hears from
    # the float model with the same durations: "Hello there." in jf_alpha sits on Whisper's edge (heard as
    # "hello dear" from the ONNX once, and from both the float model and the int8 engine another time).
    float_heard = normalize(transcribe(rendered["float_audio"], 24000, rendered["lang"]), rendered["lang"])
    assert ours in (theirs, normalize(rendered["text"], rendered["lang"]), float_heard)
