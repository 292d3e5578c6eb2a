"""Int8 convolutions for CPU inference (oneDNN, AVX-512 VNNI where the CPU has it).

The vocoder's convolutions are most of a call's time and are compute-bound in
float32. Like the shipped ONNX export, each input is quantized per call to
uint8 with its own range (dynamic quantization); unlike it, weights are int8
per output channel (finer than the export's per-tensor scale), and the output
comes back as float32 so norms and activations stay in float.

Only inference takes the int8 path: with autograd on (the voice fitter) or off
the CPU, the original float convolution runs, so gradients stay exact.

``Int8Linear`` does the same for linear layers: ALBERT's (the predictor's text
reader, most of the predictor's time in float32).
"""

from __future__ import annotations

import torch
from torch import nn

from .fusion import fusable

_QMAX = 255  # uint8 activations
_WMAX = 127  # symmetric int8 weights


def int8_available() -> bool:
    """oneDNN's quantized convolution is in this torch build."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.onednn, "qconv_pointwise")


def runs_int8(x: torch.Tensor) -> bool:
    """Whether an Int8Conv1d given ``x`` takes the int8 path: CPU float32 inference (autograd on
    means the voice fitter, which needs the float convolution's exact gradients)."""
    return not torch.is_grad_enabled() and x.device.type == "cpu" and x.dtype == torch.float32


class Int8Conv1d(nn.Module):
    """A drop-in for a float ``nn.Conv1d`` (groups 1) that runs in int8 during CPU inference."""

    def __init__(self, conv: nn.Conv1d) -> None:
        super().__init__()
        if conv.groups != 1 or not isinstance(conv.padding, tuple):
            raise ValueError("only ungrouped convolutions with numeric padding are quantized")
        self.float_conv = conv
        self.geometry = (list(conv.stride), list(conv.padding), list(conv.dilation), 1)
        weight = conv.weight.detach().float()
        scale = weight.abs().amax(dim=(1, 2)).clamp_min(1e-12) / _WMAX
        int8_weight = torch.round(weight / scale[:, None, None]).clamp(-_WMAX, _WMAX).to(torch.int8)
        self.register_buffer("w_scale", scale, persistent=False)
        self.register_buffer("w_zero_point", torch.zeros_like(scale, dtype=torch.int32), persistent=False)
        stride, padding, dilation, groups = self.geometry
        # The prepacked weight does not depend on the input scale given here (1.0): each call passes its own.
        self.packed = torch.ops.onednn.qconv_prepack(int8_weight, scale, 1.0, 0, stride, padding, dilation, groups,
                                                     None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not runs_int8(x):
            if not self.has_float_weight:
                raise RuntimeError("this int8 convolution's float32 weight was released after loading (only autograd "
                                   "reads it): run autograd inside indextts.model.checkpoint.float_convolutions(model)")
            return self.float_conv(x)
        qx, scale, zero_point = quantize_uint8(x)
        scale, zero_point = float(scale), int(zero_point)
        stride, padding, dilation, groups = self.geometry
        return torch.ops.onednn.qconv_pointwise(
            qx, scale, zero_point, self.packed, self.w_scale, self.w_zero_point, self.float_conv.bias,
            stride, padding, dilation, groups, 1.0, 0, torch.float32, "none", [], "",
        )

    @property
    def has_float_weight(self) -> bool:
        """Whether the float32 weight is loaded (the autograd path needs it; the int8 path does not)."""
        return self.float_conv.weight.numel() > 0

    def set_float_weight(self, weight: torch.Tensor | None) -> None:
        """Load the float32 weight (exactly the one quantized), or release it with None: 181 MB for the
        decoder's int8 convolutions, kept only while autograd runs (``checkpoint.float_convolutions``)."""
        value = torch.empty(0, device=self.w_scale.device) if weight is None else weight
        self.float_conv.weight = nn.Parameter(value, requires_grad=False)


@fusable
def quantize_uint8(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x as uint8 over its own range (zero exact, for the padding), with that scale and zero point;
    as the ONNX export's DynamicQuantizeLinear. Two loops when compiled (``fusion.py``), seven passes eager."""
    low, high = x.min().clamp(max=0.0), x.max().clamp(min=0.0)
    scale = ((high - low) / _QMAX).clamp(min=1e-8)
    zero_point = torch.round(-low / scale)
    return torch.clamp(torch.round(x / scale) + zero_point, 0, _QMAX).to(torch.uint8), scale, zero_point


def quantize_convolutions(module: nn.Module, exclude: tuple[str, ...] = (), min_macs_per_step: int = 4096) -> int:
    """Swap every large ungrouped Conv1d under ``module`` for an Int8Conv1d; returns how many.

    ``exclude`` names submodules (dotted, relative to ``module``) to keep in float; ``min_macs_per_step``
    (in x out x kernel) skips the tiny ones (1-channel F0/energy convs) where quantizing saves nothing."""
    swapped = 0
    for name, conv in list(module.named_modules()):
        if name in exclude or type(conv) is not nn.Conv1d or conv.groups != 1 or isinstance(conv.padding, str):
            continue
        if conv.in_channels * conv.out_channels * conv.kernel_size[0] < min_macs_per_step:
            continue
        parent, _, attr = name.rpartition(".")
        setattr(module.get_submodule(parent), attr, Int8Conv1d(conv))
        swapped += 1
    return swapped


class Int8Linear(nn.Module):
    """A drop-in for a float ``nn.Linear`` that runs in int8 during CPU inference (as Int8Conv1d: weights int8
    per output row, the input quantized per call over its own range, float32 out)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.float_linear = linear
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp_min(1e-12) / _WMAX
        int8_weight = torch.round(weight / scale[:, None]).clamp(-_WMAX, _WMAX).to(torch.int8)
        self.register_buffer("w_scale", scale, persistent=False)
        self.register_buffer("w_zero_point", torch.zeros_like(scale, dtype=torch.int32), persistent=False)
        self.packed = torch.ops.onednn.qlinear_prepack(int8_weight, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not runs_int8(x):
            return self.float_linear(x)
        rows = x.reshape(-1, x.shape[-1])  # oneDNN's int8 matmul takes 2-D input
        qx, scale, zero_point = quantize_uint8(rows)
        out = torch.ops.onednn.qlinear_pointwise(
            qx, float(scale), int(zero_point), self.packed, self.w_scale, self.w_zero_point, self.float_linear.bias,
            1.0, 0, torch.float32, "none", [], "",
        )
        return out.reshape(*x.shape[:-1], out.shape[-1])


def quantize_linears(module: nn.Module) -> int:
    """Swap every ``nn.Linear`` under ``module`` for an Int8Linear; returns how many."""
    swapped = 0
    for name, linear in list(module.named_modules()):
        if type(linear) is not nn.Linear:
            continue
        parent, _, attr = name.rpartition(".")
        setattr(module.get_submodule(parent), attr, Int8Linear(linear))
        swapped += 1
    return swapped
