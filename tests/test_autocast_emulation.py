"""The CPU emulation of CUDA's reduced precision (tests/autocast_emulation.py), and the model's fp16/bf16
decoder checked through it, since CI has no GPU.

The emulation's own tests run on tiny tensors. The model tests load the decoder converted to fp16 and bf16
(``load_model(decoder_dtype=...)``, as the engine does on CUDA) and synthesize through the engine under the
emulation (``autocast=False``: the product converts weights instead of using autocast), against the float32
model without int8 (the GPU's float32 path).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from audio_metrics import log_mel_l1
from autocast_emulation import AutocastEmulation, AutocastError

H, BF, F32, F64 = torch.float16, torch.bfloat16, torch.float32, torch.float64


def _emulated(fn: Callable[[], torch.Tensor], dtype: torch.dtype = H, **options: object) -> torch.Tensor:
    with torch.inference_mode(), AutocastEmulation(dtype, **options):
        return fn()


# ------------------------------------------------------------------ the emulation on tiny tensors
@pytest.mark.parametrize("dtype", [H, BF], ids=["fp16", "bf16"])
def test_casting_rules(dtype):
    x, w = torch.randn(1, 8, 40), torch.randn(8, 8, 3)
    low = x.to(dtype)
    assert _emulated(lambda: F.conv1d(x, w), dtype).dtype == dtype  # lower-precision list
    assert _emulated(lambda: torch.exp(low), dtype).dtype == F32  # float32 list
    assert _emulated(lambda: low.exp(), dtype).dtype == F32
    assert _emulated(lambda: torch.sin(low), dtype).dtype == dtype  # neither: runs as given
    assert _emulated(lambda: torch.addcmul(x, low, low), dtype).dtype == F32  # promote
    assert _emulated(lambda: torch.addcmul(low, low, low), dtype).dtype == dtype
    assert _emulated(lambda: low.sum(), dtype).dtype == F32
    assert _emulated(lambda: low.sum(dtype=dtype), dtype).dtype == dtype  # an explicit dtype wins
    assert _emulated(lambda: F.conv1d(x.double(), w.double()), dtype).dtype == F64  # float64 is never cast


def test_lower_precision_ops_round_like_a_half_kernel():
    x, w = torch.randn(4, 64), torch.randn(32, 64)
    expected = F.linear(x.half().float(), w.half().float()).half()  # inputs rounded, float32 sums, rounded out
    assert torch.equal(_emulated(lambda: F.linear(x, w)), expected)


def test_polar_of_mixed_dtypes_fails_naming_the_op_and_line():
    h = torch.randn(1, 11, 40).half()
    with pytest.raises(AutocastError, match=r"polar: dtype error") as caught:
        _emulated(lambda: torch.polar(torch.exp(h), torch.sin(h)), package="tests")
    assert "tests/test_autocast_emulation.py:" in str(caught.value)
    assert "(<lambda>)" in str(caught.value)  # the innermost frame under the package


def test_overflow_to_inf_fails():
    x = torch.randn(1, 8, 40) * 1000  # AdaIN's E[x^2] in half: |x| > 256 overflows
    with pytest.raises(AutocastError, match=r"mul: finite inputs gave inf/NaN in torch.float16"):
        _emulated(lambda: (x.half() * x.half()).mean(dim=2))
    square = _emulated(lambda: (x.bfloat16() * x.bfloat16()).mean(dim=2), BF)  # bf16 has float32's range
    assert torch.isfinite(square).all()


def test_finite_math_passes_and_inf_inputs_are_not_blamed():
    x = torch.randn(1, 8, 40)
    lstm = torch.nn.LSTM(8, 4, batch_first=True, bidirectional=True)

    def net() -> torch.Tensor:
        h = F.leaky_relu(F.conv1d(x, torch.randn(8, 8, 3) * 0.1, padding=1), 0.2)  # half
        h = F.layer_norm(h.transpose(1, 2), (8,))  # float32
        out, _ = lstm(h)  # half: cuDNN runs RNNs in half under autocast
        return torch.tanh(out) * 2.0

    for dtype in (H, BF):
        out = _emulated(net, dtype)
        assert out.dtype == dtype and torch.isfinite(out).all()
    with_inf = torch.tensor([1.0, float("inf")]).half()
    assert _emulated(lambda: with_inf * 2).dtype == H  # the inf was there already
    assert _emulated(lambda: x.masked_fill(x > 0, float("-inf"))).dtype == F32  # asked for


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")
def test_fft_follows_cufft():
    signal = torch.randn(1, 400).half()
    window = torch.hann_window(20)
    # a float32 window promotes the transform to float32, as on a GPU
    assert _emulated(lambda: torch.stft(signal, 20, 5, window=window, return_complex=True)).dtype == torch.complex64
    with pytest.raises(AutocastError, match="powers of two"):
        _emulated(lambda: torch.stft(signal, 20, 5, window=window.half(), return_complex=True))
    pow2 = _emulated(lambda: torch.stft(signal, 16, 4, window=torch.hann_window(16).half(), return_complex=True))
    assert pow2.dtype == torch.complex32  # computed on float32 copies here: the CPU has no half FFT
    with pytest.raises(AutocastError, match="bfloat16"):
        _emulated(lambda: torch.fft.rfft(signal.bfloat16()), BF)


def test_nested_autocast_off_and_flag_restored():
    h = torch.randn(8).half()
    with torch.inference_mode(), AutocastEmulation(H):
        assert torch.is_autocast_enabled("cuda")
        with torch.autocast("cuda", enabled=False):
            assert torch.exp(h).dtype == H
        assert torch.exp(h).dtype == F32
    assert not torch.is_autocast_enabled("cuda")


def test_without_autocast_only_gpu_rules_apply():
    h, w = torch.randn(1, 8, 40).half(), torch.randn(8, 8, 3)
    assert _emulated(lambda: torch.exp(h), autocast=False).dtype == H
    assert _emulated(lambda: F.conv1d(h, w.half()), autocast=False).dtype == H
    with pytest.raises(AutocastError, match="conv1d: dtype error"):
        _emulated(lambda: F.conv1d(h, w), autocast=False)


def test_not_strict_records_and_goes_on():
    h = torch.randn(4).half()
    with torch.inference_mode(), AutocastEmulation(H, strict=False) as mode:
        spec = torch.polar(torch.exp(h), torch.sin(h))
    assert spec.dtype == torch.complex64 and len(mode.problems) == 1 and mode.problems[0].startswith("polar")


# The same calls on CPU tensors under the emulation, and on fake CUDA tensors under the installed torch's own
# CUDA autocast kernels (they are in the CPU build; FakeTensorMode computes dtypes without a GPU).
ORACLE_CASES: dict[str, Callable[[Callable[..., torch.Tensor]], torch.Tensor]] = {
    "conv1d": lambda T: F.conv1d(T(1, 4, 16), T(4, 4, 3), T(4)),
    "conv1d half weight": lambda T: F.conv1d(T(1, 4, 16), T(4, 4, 3, dtype=H)),
    "conv_transpose1d": lambda T: F.conv_transpose1d(T(1, 4, 16), T(4, 2, 3)),
    "linear": lambda T: F.linear(T(2, 8), T(4, 8)),
    "matmul operator": lambda T: T(4, 4) @ T(4, 4),
    "bmm": lambda T: torch.bmm(T(2, 4, 4), T(2, 4, 4)),
    "sdpa": lambda T: F.scaled_dot_product_attention(T(1, 2, 4, 8), T(1, 2, 4, 8), T(1, 2, 4, 8)),
    "exp": lambda T: torch.exp(T(8, dtype=H)),
    "Tensor.exp": lambda T: T(8, dtype=H).exp(),
    "sin": lambda T: torch.sin(T(8, dtype=H)),
    "tanh": lambda T: torch.tanh(T(8, dtype=H)),
    "mean": lambda T: T(8, dtype=H).mean(),
    "pow": lambda T: T(8, dtype=H) ** 2,
    "rpow": lambda T: 2 ** T(8, dtype=H),
    "rtruediv": lambda T: 1 / T(8, dtype=H),
    "square": lambda T: T(8, dtype=H).square(),
    "rsqrt": lambda T: torch.rsqrt(T(8, dtype=H)),
    "log": lambda T: T(8, dtype=H).log(),
    "layer_norm": lambda T: F.layer_norm(T(2, 8, dtype=H), (8,)),
    "group_norm": lambda T: F.group_norm(T(2, 4, 8, dtype=H), 2),
    "softmax": lambda T: F.softmax(T(2, 8, dtype=H), -1),
    "softmax with dtype": lambda T: F.softmax(T(2, 8, dtype=H), -1, dtype=H),
    "sum": lambda T: T(8, dtype=H).sum(),
    "cumsum": lambda T: T(8, dtype=H).cumsum(0),
    "norm": lambda T: T(8, dtype=H).norm(),
    "interpolate nearest": lambda T: F.interpolate(T(1, 2, 8, dtype=H), scale_factor=2.0),
    "interpolate linear": lambda T: F.interpolate(T(1, 2, 8, dtype=H), scale_factor=2.0, mode="linear"),
    "interpolate area": lambda T: F.interpolate(T(1, 2, 8, dtype=H), scale_factor=2.0, mode="area"),
    "addcmul mixed": lambda T: torch.addcmul(T(8), T(8, dtype=H), T(8, dtype=H)),
    "addcmul half": lambda T: torch.addcmul(T(8, dtype=H), T(8, dtype=H), T(8, dtype=H)),
    "atan2 mixed": lambda T: torch.atan2(T(8, dtype=H), T(8)),
    "cat mixed": lambda T: torch.cat([T(8, dtype=H), T(8)]),
    "mul mixed": lambda T: T(8, dtype=H) * T(8),
    "leaky_relu": lambda T: F.leaky_relu(T(8, dtype=H), 0.1),
    "stft half signal": lambda T: torch.stft(T(1, 400, dtype=H), 16, 4, window=T(16), return_complex=True),
    "conv1d float64": lambda T: F.conv1d(T(1, 2, 8, dtype=F64), T(2, 2, 3, dtype=F64)),
    "exp float64": lambda T: torch.exp(T(8, dtype=F64)),
}


@pytest.fixture(scope="module")
def cuda_autocast_dtypes() -> Callable[[Callable, torch.dtype], torch.dtype]:
    """``dtype_of(case, dtype)``: the dtype the installed torch's CUDA autocast gives ``case``. (cuDNN's RNN
    casting lives in the CUDA library, absent here: LSTMs are not checked this way.)"""
    try:
        from torch._subclasses.fake_tensor import FakeTensorMode

        fake = FakeTensorMode()
        with fake:
            torch.empty(1, device="cuda")
    except Exception as exc:  # a private API: skip rather than fail if it moves
        pytest.skip(f"fake CUDA tensors unavailable: {exc}")

    def dtype_of(case: Callable, dtype: torch.dtype) -> torch.dtype:
        def make(*shape: int, dtype: torch.dtype = F32) -> torch.Tensor:
            return torch.randn(*shape, device="cuda").to(dtype)

        saved = torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda")
        torch.set_autocast_enabled("cuda", True)
        torch.set_autocast_dtype("cuda", dtype)
        try:
            with fake:
                return case(make).dtype
        finally:
            torch.set_autocast_enabled("cuda", saved[0])
            torch.set_autocast_dtype("cuda", saved[1])

    return dtype_of


def _with_inputs_in(case: Callable, low: torch.dtype) -> Callable:
    """``case`` with its half inputs made in ``low`` instead (the bf16 runs)."""
    return lambda T: case(lambda *shape, dtype=F32: T(*shape, dtype=low if dtype == H else dtype))


@pytest.mark.parametrize("dtype", [H, BF], ids=["fp16", "bf16"])
def test_rules_match_the_installed_torch_cuda_autocast(cuda_autocast_dtypes, dtype):
    def make(*shape: int, dtype: torch.dtype = F32) -> torch.Tensor:
        return (torch.rand(*shape) + 0.5).to(dtype)  # positive: log, rsqrt, 1 / x stay finite

    mismatches = {}
    for name, case in ORACLE_CASES.items():
        case = _with_inputs_in(case, dtype)
        expected = cuda_autocast_dtypes(case, dtype)
        got = _emulated(lambda: case(make), dtype).dtype
        if got != expected:
            mismatches[name] = (got, expected)
    assert not mismatches, f"emulation vs CUDA autocast, (emulated, CUDA): {mismatches}"


# ------------------------------------------------------------------ the model's fp16/bf16 decoder
TEXTS = [("en", "Hello there.", "jf_alpha"), ("zh", "你好，欢迎使用。", "jm_kumo")]
SAMPLE_RATE = 24000
# Log-mel L1 (tests/audio_metrics.py) to the float32 model, measured through the engine on 6 sentences x 2 voices
# (jm_kumo, jf_alpha; en and zh): float32 islands exact, fp16 0.0024-0.0031 and bf16 0.019-0.027; the islands'
# weights rounded through the reduced dtype (Decoder.convert as of ce67364: Stft window, conv_post, F0/N
# convolutions, the source's linear layer), fp16 0.015-0.057 and bf16 0.052-0.074; AdaIN statistics in the
# reduced dtype, 0.3 and more.
TOLERANCE = {H: 0.01, BF: 0.04}


@pytest.fixture(scope="module")
def gpu_models(settings):
    """The model as a GPU runs it (no int8 convolutions): float32, and its decoder converted to fp16 / bf16."""
    from indextts.model import load_model
    from indextts.weights import ensure_weights

    paths = ensure_weights(settings.paths.cache_hub)
    return {dtype: load_model(paths.model, paths.config, device="cpu", int8=False, decoder_dtype=dtype)
            for dtype in (None, H, BF)}


@pytest.fixture
def gpu_engine(engine, gpu_models, monkeypatch) -> Callable:
    """``use(dtype)``: the session engine running that GPU model, eager (compiled CPU kernels are not what a
    GPU runs, and torch.compile does not belong under a torch function mode); restored after the test."""
    from indextts.model import fusion

    monkeypatch.setitem(fusion._state, "enabled", False)

    def use(dtype: torch.dtype | None):
        monkeypatch.setattr(engine, "model", gpu_models[dtype])
        return engine
    return use


def _untrimmed(result) -> np.ndarray:
    """The one segment's audio with its trimmed lead-in back as zeros: renderings align sample for sample."""
    (segment,) = result.segments
    return np.concatenate([np.zeros(round(segment.trim_start_s * SAMPLE_RATE), np.float32), segment.audio])


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [H, BF], ids=["fp16", "bf16"])
@pytest.mark.parametrize("lang,text,voice", TEXTS, ids=[t[0] for t in TEXTS])
def test_reduced_precision_decoder_as_on_a_gpu(gpu_engine, dtype, lang, text, voice):
    reference = gpu_engine(None).synthesize(text, voice=voice, lang=lang)
    engine = gpu_engine(dtype)
    assert engine.model.decoder.dtype == dtype
    with AutocastEmulation(dtype, autocast=False):  # raises where a GPU run would break
        result = engine.synthesize(text, voice=voice, lang=lang)
    assert np.isfinite(result.audio).all()
    frames = [[s.prosody.frames.tolist() for s in r.segments] for r in (result, reference)]
    assert frames[0] == frames[1]  # durations are the float32 predictor's
    distance = log_mel_l1(_untrimmed(result), _untrimmed(reference))
    assert distance < TOLERANCE[dtype], f"{lang} {dtype}: log-mel L1 to float32 {distance:.4f}"


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [H, BF], ids=["fp16", "bf16"])
def test_planted_precision_bugs_are_caught(gpu_engine, monkeypatch, dtype):
    from indextts.model import blocks, vocoder

    engine = gpu_engine(dtype)
    lang, text, voice = TEXTS[0]

    def run() -> object:
        with AutocastEmulation(dtype, autocast=False):
            return engine.synthesize(text, voice=voice, lang=lang)

    def polar_of_mixed_dtypes(self, magnitude, phase):  # the magnitude left in the decoder's dtype
        spec = torch.polar(magnitude.to(dtype), phase.float())
        return torch.istft(spec, self.n_fft, self.hop, window=self.window, center=True)

    with monkeypatch.context() as patch:
        patch.setattr(vocoder.Stft, "inverse", polar_of_mixed_dtypes)
        with pytest.raises(AutocastError, match=r"polar: dtype error.* at indextts/model/vocoder\.py:\d+ \(forward\)"):
            run()

    def stft_in_decoder_dtype(self, x):  # the STFT converted with the decoder (n_fft 20 is no power of two)
        spec = torch.stft(x.to(dtype), self.n_fft, self.hop, window=self.window.to(dtype), center=True,
                          return_complex=True)
        return spec.abs(), spec.angle()

    with monkeypatch.context() as patch:
        patch.setattr(vocoder.Stft, "transform", stft_in_decoder_dtype)
        with pytest.raises(AutocastError, match="powers of two" if dtype == H else "bfloat16"):
            run()

    def statistics_in_decoder_dtype(x, weight, bias, eps, extra=None):  # AdaIN's E[x^2] - E[x]^2 without float32
        total, squares, count = (0, 0, 0) if extra is None else (extra[0].to(x.dtype), extra[1].to(x.dtype), extra[2])
        count = count + x.shape[2]
        mean = (x.sum(dim=2, keepdim=True) + total) / count
        var = (((x * x).sum(dim=2, keepdim=True) + squares) / count - mean * mean).clamp_min(0.0)
        factor = weight * torch.rsqrt(var + eps)
        return factor.to(x.dtype), (bias - mean * factor).to(x.dtype)

    reference = gpu_engine(None).synthesize(text, voice=voice, lang=lang)
    gpu_engine(dtype)
    with monkeypatch.context() as patch:
        patch.setattr(blocks, "_normalizing_affine", statistics_in_decoder_dtype)
        try:
            degraded = log_mel_l1(_untrimmed(run()), _untrimmed(reference))
        except AutocastError:  # an overflow to inf: caught as well
            degraded = float("inf")
    assert degraded > TOLERANCE[dtype], f"cancellation in {dtype} statistics went unnoticed ({degraded:.4f})"
