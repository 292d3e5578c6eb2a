"""CUDA autocast's casting rules, emulated on the CPU, so CI without a GPU catches fp16/bf16 dtype bugs.

Usage::

    with torch.inference_mode(), AutocastEmulation(torch.float16):
        audio = model(tokens, style)  # raises AutocastError where a GPU run would break

The op lists follow torch 2.x's CUDA autocast (the "Autocast Op Reference" in the AMP docs, and
aten/src/ATen/autocast_mode.cpp for ops the docs omit); ``test_autocast_emulation.py`` checks them
against the installed torch's own CUDA autocast kernels. While the emulation is active, CUDA autocast
reads as enabled (``torch.is_autocast_enabled("cuda")``), as product code on a GPU would see it, and a
nested ``torch.autocast("cuda", enabled=False)`` turns the casting off, as on a GPU. Only top-level
calls are seen: a Python function such as ``F.interpolate`` is one op (its insides run unwatched).
"""

from __future__ import annotations

import math
import os
import re
import sys
from typing import Any, Callable

import torch
from torch.overrides import TorchFunctionMode

_REDUCED = (torch.float16, torch.bfloat16, torch.complex32)
_ELIGIBLE = (torch.float16, torch.bfloat16, torch.float32)  # autocast never casts float64 (nor ints)
_UPCAST = {torch.float16: torch.float32, torch.bfloat16: torch.float32, torch.complex32: torch.complex64}

# Run in the lower-precision dtype. cuDNN RNNs (nn.LSTM/GRU/RNN: _VF.lstm...) too: autocast casts
# their inputs and weights for _cudnn_rnn, which the docs leave out of the list.
LOWER_PRECISION = frozenset("""
    __matmul__ __rmatmul__ addbmm addmm addmv addr baddbmm bmm chain_matmul linalg_multi_dot multi_dot
    conv1d conv2d conv3d conv_tbc conv_transpose1d conv_transpose2d conv_transpose3d convolution _convolution
    linear matmul mm mv prelu einsum linalg_vecdot scaled_dot_product_attention
    lstm_cell gru_cell rnn_tanh_cell rnn_relu_cell lstm gru rnn_tanh rnn_relu""".split())
# Upcast lower-precision inputs to float32. `square` is pow(x, 2) and `__rdiv__` (1 / x) is a
# reciprocal inside, so both come out float32 on a GPU; F.interpolate is upsample_* (not "area").
FLOAT32 = frozenset("""
    pow __rpow__ __rdiv__ square acos asin cosh erfinv exp expm1 special_expm1 log log10 log1p special_log1p
    log2 reciprocal rsqrt sinh tan softplus layer_norm group_norm rms_norm frobenius_norm nuclear_norm
    normalize cosine_similarity poisson_nll_loss cosine_embedding_loss nll_loss cross_entropy
    hinge_embedding_loss kl_div l1_loss smooth_l1_loss huber_loss mse_loss margin_ranking_loss
    multilabel_margin_loss soft_margin_loss triplet_margin_loss multi_margin_loss
    binary_cross_entropy_with_logits dist pdist cdist renorm logsumexp special_logsumexp
    interpolate upsample upsample_nearest upsample_bilinear""".split())
# Float32 unless the call asks for an output dtype (autocast's fp32_set_opt_dtype/fp32_append_dtype).
FLOAT32_UNLESS_DTYPE = frozenset("""
    sum prod cumsum cumprod softmax log_softmax softmin special_softmax special_log_softmax
    norm linalg_norm linalg_vector_norm linalg_matrix_norm""".split())
# All inputs to the widest input type (float32 if any input is float32).
PROMOTE = frozenset("""
    addcdiv addcmul atan2 arctan2 bilinear cross dot vdot grid_sample index_put scatter_add tensordot""".split())
BANNED = frozenset({"binary_cross_entropy"})  # CUDA autocast refuses it outright
_INPLACE_OPERATORS = frozenset("""
    __iadd__ __isub__ __imul__ __itruediv__ __ifloordiv__ __imod__ __ipow__ __imatmul__ __iand__ __ior__
    __ixor__ __ilshift__ __irshift__""".split())

# A CPU kernel missing for a reduced dtype (a GPU has one, but for the pairs in _NO_CUDA_KERNEL, taken from
# the CUDA sources), versus a genuine dtype error.
_NO_CUDA_KERNEL = frozenset({("polar", torch.bfloat16)})
_MISSING_KERNEL = re.compile(
    r"not implemented for '(Half|BFloat16|ComplexHalf)'|doesn't support tensors of type|Unsupported dtype Half")
_DTYPE_ERROR = re.compile(r"dtype|scalar type|type \(|Half|BFloat16|Float|Double|same type|can't be cast")


class AutocastError(RuntimeError):
    """A dtype error or an inf/NaN that a reduced-precision GPU run would hit."""


def _map(obj: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``fn`` applied to every tensor in nested lists, tuples and dicts (an LSTM's weights are a list)."""
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, (list, tuple)) and not isinstance(obj, torch.Size):
        mapped = [_map(item, fn) for item in obj]
        if type(obj) in (list, tuple):
            return type(obj)(mapped)
        return type(obj)(*mapped) if hasattr(obj, "_fields") else type(obj)(mapped)  # namedtuple, structseq
    if isinstance(obj, dict):
        return {key: _map(value, fn) for key, value in obj.items()}
    return obj


def _tensors(obj: Any, found: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """Every tensor in nested lists, tuples and dicts."""
    found = [] if found is None else found
    if isinstance(obj, torch.Tensor):
        found.append(obj)
    elif isinstance(obj, (list, tuple)) and not isinstance(obj, torch.Size):
        for item in obj:
            _tensors(item, found)
    elif isinstance(obj, dict):
        for item in obj.values():
            _tensors(item, found)
    return found


def _finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t.to(torch.complex64) if t.dtype == torch.complex32 else t).all())


def _to(dtypes: tuple[torch.dtype, ...], target: torch.dtype) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda t: t.to(target) if t.dtype in dtypes else t


def product_frame(package: str = "indextts") -> str:
    """The innermost caller under ``package/``, as ``package/relpath:line (function)``."""
    marker = f"{os.sep}{package}{os.sep}"
    frame = sys._getframe(1)
    while frame is not None:
        path = frame.f_code.co_filename
        if marker in path and path != __file__:  # this module's own frames are never the culprit
            rel = path.rsplit(marker, 1)[1].replace(os.sep, "/")
            return f"{package}/{rel}:{frame.f_lineno} ({frame.f_code.co_name})"
        frame = frame.f_back
    return f"(no frame under {package}/)"


def _fft_sizes(name: str, x: torch.Tensor, args: tuple, kwargs: dict) -> tuple[torch.dtype, list[int]]:
    """The dtype an FFT op transforms in and its signal sizes (cuFFT's half-precision limits apply)."""
    if name in ("stft", "istft"):
        window = kwargs.get("window", args[4] if len(args) > 4 else None)
        dtype = torch.promote_types(x.dtype, window.dtype) if name == "stft" and window is not None else x.dtype
        return dtype, [int(kwargs.get("n_fft", args[1] if len(args) > 1 else 0))]
    sizes = kwargs.get("s") or ([kwargs["n"]] if kwargs.get("n") else None)
    if not sizes:
        dim = kwargs.get("dim")
        dims = [dim] if isinstance(dim, int) else list(dim) if dim else (
            [-2, -1] if name.endswith("2") else list(range(x.dim())) if name.endswith("n") else [-1])
        c2r = name[4:].startswith(("irfft", "hfft"))  # m bins on the last dim give 2 * (m - 1) points
        sizes = [2 * (x.shape[d] - 1) if c2r and d % x.dim() == x.dim() - 1 else x.shape[d] for d in dims]
    return x.dtype, [int(n) for n in sizes]


class AutocastEmulation(TorchFunctionMode):
    """CUDA autocast's casting rules, on the CPU: ops on autocast's lower-precision list compute in float32
    and return `dtype` (rounding like a half kernel would), ops on its float32 list upcast lower-precision
    inputs to float32, 'promote' ops promote to the widest input type; everything else runs on its inputs as
    given. Fails (raises AutocastError naming the op and the product source line) on dtype errors and on any op
    that turns finite inputs into inf/NaN.

    ``autocast=False`` applies no casting, only the GPU's rules for reduced-precision tensors (dtype errors,
    cuFFT limits, inf/NaN): for a model whose weights were converted to ``dtype`` instead of autocast.
    ``strict=False`` records problems in ``self.problems`` and goes on (a dtype error then computes in float32).
    """

    def __init__(self, dtype: torch.dtype = torch.float16, *, autocast: bool = True, strict: bool = True,
                 package: str = "indextts") -> None:
        if dtype not in (torch.float16, torch.bfloat16):
            raise ValueError(f"dtype must be torch.float16 or torch.bfloat16, not {dtype}")
        super().__init__()
        self.dtype, self.autocast, self.strict, self.package = dtype, autocast, strict, package
        self.problems: list[str] = []
        self._saved: list[tuple[bool, torch.dtype]] = []

    def __enter__(self) -> "AutocastEmulation":
        if self.autocast:  # CUDA's autocast flag only affects CUDA tensors: on CPU tensors it only reads as on
            self._saved.append((torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda")))
            torch.set_autocast_enabled("cuda", True)
            torch.set_autocast_dtype("cuda", self.dtype)
        return super().__enter__()

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        if self.autocast:
            enabled, dtype = self._saved.pop()
            torch.set_autocast_enabled("cuda", enabled)
            torch.set_autocast_dtype("cuda", dtype)

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        casting = self.autocast and torch.is_autocast_enabled("cuda")
        dtype = torch.get_autocast_dtype("cuda") if casting else self.dtype
        inplace = (name.endswith("_") and not name.startswith("__")) or name in _INPLACE_OPERATORS
        self_was_finite = bool(inplace and args and isinstance(args[0], torch.Tensor) and _finite(args[0]))
        if casting and name in BANNED:
            self._fail(name, "CUDA autocast refuses it (unsafe in reduced precision)")
        if name in ("stft", "istft") or name.startswith("fft_"):
            self._check_fft(name, args, kwargs)
        try:
            out = self._run(func, name, args, kwargs, dtype if casting else None)
        except (RuntimeError, ValueError, TypeError, NotImplementedError) as err:
            if not any(t.dtype in _REDUCED for t in _tensors((args, kwargs))):
                raise
            if _MISSING_KERNEL.search(str(err)):
                self._check_on_meta(func, name, args, kwargs)
                if any((name, t.dtype) in _NO_CUDA_KERNEL for t in _tensors((args, kwargs))):
                    self._fail(name, f"no CUDA kernel for these dtypes either: {err}", err)
            elif _DTYPE_ERROR.search(str(err)):
                self._fail(name, f"dtype error: {err}", err)
            else:
                raise
            out = self._upcast_run(func, args, kwargs)
        self._check_finite(name, out, args, kwargs, self_was_finite, inplace)
        return out

    def _run(self, func: Callable, name: str, args: tuple, kwargs: dict, dtype: torch.dtype | None) -> Any:
        """Applies the casting policy (``dtype`` None: none) and runs the op."""
        floats = [t.dtype for t in _tensors((args, kwargs)) if t.is_floating_point()]
        asks_dtype = kwargs.get("dtype") is not None or any(isinstance(a, torch.dtype) for a in args)
        area = name == "interpolate" and kwargs.get("mode", args[3] if len(args) > 3 else "") == "area"
        if dtype is not None and (name in FLOAT32 and not area or name in FLOAT32_UNLESS_DTYPE and not asks_dtype):
            args, kwargs = _map((args, kwargs), _to(_REDUCED[:2], torch.float32))
        elif dtype is not None and name in PROMOTE and any(d in _ELIGIBLE for d in floats):
            widest = torch.float32 if torch.float32 in floats else dtype
            args, kwargs = _map((args, kwargs), _to(_ELIGIBLE, widest))
        elif name in LOWER_PRECISION and floats:
            if dtype is not None:  # autocast: eligible inputs to dtype; then computed as below
                args, kwargs = _map((args, kwargs), _to(_ELIGIBLE, dtype))
                floats = [dtype if d in _ELIGIBLE else d for d in floats]
            if len(set(floats)) == 1 and floats[0] in _REDUCED:
                # A GPU kernel reads reduced inputs, accumulates in float32 and rounds its output: the same
                # here, without the CPU's slow (or missing) half convolutions.
                out = func(*_map(args, _to(_REDUCED, torch.float32)), **_map(kwargs, _to(_REDUCED, torch.float32)))
                return _map(out, _to((torch.float32,), floats[0]))
        return func(*args, **kwargs)

    def _upcast_run(self, func: Callable, args: tuple, kwargs: dict) -> Any:
        """The op on float32 copies of reduced inputs, its result rounded back when all inputs were reduced."""
        reduced = [t.dtype for t in _tensors((args, kwargs)) if t.is_floating_point() or t.is_complex()]
        out = func(*_map(args, lambda t: t.to(_UPCAST.get(t.dtype, t.dtype))),
                   **_map(kwargs, lambda t: t.to(_UPCAST.get(t.dtype, t.dtype))))
        if reduced and all(d in _REDUCED for d in reduced):
            real = next((d for d in reduced if d != torch.complex32), torch.float16)
            complex_ = torch.complex32 if real == torch.float16 else torch.complex64  # no bf16 complex type
            out = _map(out, lambda t: t.to(real) if t.dtype == torch.float32 else
                       t.to(complex_) if t.dtype == torch.complex64 else t)
        return out

    def _check_on_meta(self, func: Callable, name: str, args: tuple, kwargs: dict) -> None:
        """Dtype checks without the missing CPU kernel: the op on meta tensors of the same dtypes."""
        try:
            func(*_map(args, lambda t: t.to("meta")), **_map(kwargs, lambda t: t.to("meta")))
        except Exception as err:  # meta kernels fail for other reasons too (data-dependent shapes)
            if _DTYPE_ERROR.search(str(err)) and not _MISSING_KERNEL.search(str(err)):
                self._fail(name, f"dtype error: {err}", err)

    def _check_fft(self, name: str, args: tuple, kwargs: dict) -> None:
        x = args[0] if args else kwargs.get("input")
        if not isinstance(x, torch.Tensor):
            return
        dtype, sizes = _fft_sizes(name, x, args, kwargs)
        if dtype == torch.bfloat16:
            self._fail(name, "cuFFT has no bfloat16 transforms (GPU: 'Unsupported dtype BFloat16')")
        elif dtype in (torch.float16, torch.complex32) and any(n & (n - 1) for n in sizes):
            self._fail(name, f"cuFFT only supports dimensions whose sizes are powers of two when computing in "
                             f"half precision, but got a signal size of {sizes}")

    def _check_finite(self, name: str, out: Any, args: tuple, kwargs: dict, self_was_finite: bool,
                      inplace: bool) -> None:
        outputs = [t for t in _tensors(out) if t.is_floating_point() or t.is_complex()]
        inputs = [t for t in _tensors((args, kwargs)) if t.is_floating_point() or t.is_complex()]
        if not outputs or not inputs:
            return  # factories (torch.full(..., inf)) make what they are asked for
        if any(isinstance(a, float) and not math.isfinite(a) for a in (*args, *kwargs.values())):
            return  # asked for an inf (masked_fill(mask, -inf), clamp(max=inf))
        if not inplace:  # a view shows its input's values: an input's inf is not this op's
            storages = {t.untyped_storage().data_ptr() for t in inputs}
            outputs = [t for t in outputs if t.untyped_storage().data_ptr() not in storages]
        bad = next((t for t in outputs if not _finite(t)), None)
        if bad is None:
            return
        others = inputs[1:] if inplace else inputs
        if (self_was_finite or not inplace) and all(_finite(t) for t in others):
            self._fail(name, f"finite inputs gave inf/NaN in {bad.dtype} "
                             f"(inputs {sorted({str(t.dtype) for t in inputs})})")

    def _fail(self, name: str, detail: str, cause: BaseException | None = None) -> None:
        message = f"{name}: {detail} at {product_frame(self.package)}"
        if not self.strict:
            self.problems.append(message)
            return
        raise AutocastError(message) from cause
