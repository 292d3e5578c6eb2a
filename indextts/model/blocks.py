"""Style-conditioned building blocks shared by the prosody predictor and the vocoder.

Convolutions are plain ``nn.Conv1d``: the checkpoint's weight-norm pairs are
folded into one weight at load time (see ``checkpoint.py``), which is what
inference needs and avoids weight_norm's 0/0 on all-zero channels.

A style is either one vector per utterance, (B, S), or a style track, (B, S, L): one vector per step of
some time axis (tokens, frames). The style-conditioned layers accept both; a track is resized (nearest)
to the time axis of the signal it conditions, so one frame-rate track drives every upsampled stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .fusion import fusable
from .precision import as_float32

_SQRT2 = math.sqrt(2.0)
Stats = tuple[torch.Tensor, torch.Tensor, float]  # per-channel sum and sum of squares over time, and the count


@dataclass(frozen=True)
class EdgeCut:
    """The decoder renders frames [left, left + window) of an utterance of left + window + right frames; the
    frames cut are the silence at its edges, which the engine trims from the audio anyway.

    The instance norms average over time, and Kokoro's output level follows those averages (rendering a
    window with plain statistics made Mandarin up to 3.8 dB quieter), so they must still see the whole
    utterance. The cut frames count as copies of the silence just inside each edge of the window:
    ``probe`` frames, ``skip`` frames in (the outermost frames see the convolutions' zero padding). That
    silence is near constant (one repeated boundary token, unvoiced), which keeps the level within 0.3 dB."""

    left: int
    right: int
    window: int
    skip: int = 2
    probe: int = 4

    def extra_stats(self, x: torch.Tensor) -> Stats:
        """What the cut frames add to the statistics of ``x`` (B, C, T), a signal at any rate over the window."""
        steps = x.shape[2]
        rate = steps / self.window
        skip = min(round(self.skip * rate), steps - 1)
        width = max(1, min(round(self.probe * rate), steps - skip))
        xf = as_float32(x)
        first, last = xf[..., skip : skip + width], xf[..., steps - skip - width : steps - skip]
        n_first, n_last = self.left * rate, self.right * rate
        total = n_first * first.mean(dim=2, keepdim=True) + n_last * last.mean(dim=2, keepdim=True)
        squares = n_first * (first * first).mean(dim=2, keepdim=True) + n_last * (last * last).mean(dim=2, keepdim=True)
        return total, squares, n_first + n_last


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of (B, C, T) tensors (parameters named gamma/beta)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.transpose(1, -1), (x.shape[1],), self.gamma, self.beta, self.eps)
        return x.transpose(1, -1)


class AdaIN1d(nn.Module):
    """Instance norm whose scale and shift come from the style vector."""

    def __init__(self, style_dim: int, channels: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm1d(channels, affine=True)
        self.fc = nn.Linear(style_dim, channels * 2)

    def forward(self, x: torch.Tensor, style: torch.Tensor, cut: EdgeCut | None = None) -> torch.Tensor:
        weight, bias = self.style_affine(style, x.shape[2])
        factor, offset = _normalizing_affine(x, weight, bias, self.norm.eps, None if cut is None else cut.extra_stats(x))
        return torch.addcmul(offset, x, factor)

    def style_affine(self, style: torch.Tensor, steps: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, 1) weight and bias with ``forward(x) == weight * instance_norm(x) + bias``; for a style
        track (B, S, L), (B, C, steps): per step of a signal ``steps`` long."""
        if style.dim() == 3:
            # the linear layer per track step, then resized: the same as resizing the (cheaper) style first
            gamma, beta = along(per_step(self.fc, style).transpose(1, 2), steps).chunk(2, dim=1)
        else:
            gamma, beta = self.fc(style)[:, :, None].chunk(2, dim=1)
        return (1 + gamma) * self.norm.weight[:, None], (1 + gamma) * self.norm.bias[:, None] + beta


def per_step(layer: nn.Module, track: torch.Tensor) -> torch.Tensor:
    """``layer`` (a linear layer on styles) at each step of a track (B, S, L) -> (B, L, out).

    Computed once per distinct style, each as a (1, S) input: a track holds a few styles (a voice's, its
    blend partner's, the eased steps between), and a matrix product's rounding depends on its row count, so
    a step that holds the utterance style gets exactly what the single-style path computes for it."""
    out = []
    for item in track.transpose(1, 2):  # (L, S) per batch item
        rows, index = torch.unique(item, dim=0, return_inverse=True)
        out.append(torch.cat([layer(row[None]) for row in rows])[index])
    return torch.stack(out)


def along(track: torch.Tensor, steps: int) -> torch.Tensor:
    """A (B, C, L) track resized to ``steps`` along time (nearest: each step takes the track value it falls in)."""
    if track.shape[2] == steps:
        return track
    return F.interpolate(track, size=steps, mode="nearest")


def _normalizing_affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float,
                        extra: Stats | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Factor and offset with ``factor * x + offset == weight * instance_norm(x) + bias``.

    Normalisation and affine folded into one multiply-add over the signal, with no copy of the
    channels-last tensors the int8 convolutions return (nn.InstanceNorm1d would make one).
    The statistics are float32 in every precision (E[x^2] overflows fp16 above |x| ~ 256); factor and
    offset come back in x's dtype. ``extra``: statistics of frames outside ``x`` that count too (``EdgeCut``)."""
    xf = as_float32(x)
    if extra is None:
        mean = xf.mean(dim=2, keepdim=True)  # two plain means: ~20x faster than torch.var_mean on CPU
        var = ((xf * xf).mean(dim=2, keepdim=True) - mean * mean).clamp_min(0.0)
    else:
        total, squares, count = extra
        count = count + x.shape[2]
        mean = (xf.sum(dim=2, keepdim=True) + total) / count
        var = (((xf * xf).sum(dim=2, keepdim=True) + squares) / count - mean * mean).clamp_min(0.0)
    factor = as_float32(weight) * torch.rsqrt(var + eps)
    offset = as_float32(bias) - mean * factor
    return factor.to(x.dtype), offset.to(x.dtype)


class AdaLayerNorm(nn.Module):
    """Layer norm over channels of (B, T, C) tensors, scale and shift from the style."""

    def __init__(self, style_dim: int, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.fc = nn.Linear(style_dim, channels * 2)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """x (B, T, C); style (B, S) or a per-token track (B, S, T)."""
        affine = per_step(self.fc, style) if style.dim() == 3 else self.fc(style)[:, None, :]
        gamma, beta = affine.chunk(2, dim=-1)
        return (1 + gamma) * F.layer_norm(x, (self.channels,), eps=self.eps) + beta


class AdainResBlk1d(nn.Module):
    """Residual block with AdaIN; optionally doubles the time resolution."""

    def __init__(self, dim_in: int, dim_out: int, style_dim: int, upsample: bool = False) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv1 = nn.Conv1d(dim_in, dim_out, 3, padding=1)
        self.conv2 = nn.Conv1d(dim_out, dim_out, 3, padding=1)
        self.norm1 = AdaIN1d(style_dim, dim_in)
        self.norm2 = AdaIN1d(style_dim, dim_out)
        if dim_in != dim_out:
            self.conv1x1 = nn.Conv1d(dim_in, dim_out, 1, bias=False)
        if upsample:
            # Depthwise transposed conv: a learned x2 upsampling on the residual path.
            self.pool = nn.ConvTranspose1d(dim_in, dim_in, 3, stride=2, padding=1, output_padding=1, groups=dim_in)

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv1x1(x) if hasattr(self, "conv1x1") else x

    def _residual(self, x: torch.Tensor, style: torch.Tensor, cut: EdgeCut | None) -> torch.Tensor:
        x = F.leaky_relu(self.norm1(x, style, cut), 0.2)
        if self.upsample:
            x = self.pool(x)
        x = self.conv1(x)
        x = F.leaky_relu(self.norm2(x, style, cut), 0.2)
        return self.conv2(x)

    def forward(self, x: torch.Tensor, style: torch.Tensor, cut: EdgeCut | None = None) -> torch.Tensor:
        return (self._residual(x, style, cut) + self._shortcut(x)) / _SQRT2


@fusable
def adain_snake(x: torch.Tensor, alpha: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                eps: float, extra: Stats | None = None) -> torch.Tensor:
    """Snake(AdaIN(x)), where Snake(y) = y + sin^2(a y) / a (a periodic bias for waveforms).

    Written as (z + sin^2 z) / a with z = a * AdaIN(x): four passes over the signal instead of
    nine in eager mode, one loop when compiled (``fusion.py``)."""
    factor, offset = _normalizing_affine(x, weight, bias, eps, extra)
    z = torch.addcmul(alpha * offset, x, alpha * factor)
    sine = torch.sin(z)
    return torch.addcmul(z, sine, sine) * (1 / alpha)


def _snake(norm: AdaIN1d, alpha: torch.Tensor, x: torch.Tensor, style: torch.Tensor,
           cut: EdgeCut | None = None) -> torch.Tensor:
    weight, bias = norm.style_affine(style, x.shape[2])
    return adain_snake(x, alpha, weight, bias, norm.norm.eps, None if cut is None else cut.extra_stats(x))


class AdaINResBlock1(nn.Module):
    """HiFi-GAN style dilated residual block with AdaIN and Snake activations."""

    def __init__(self, channels: int, kernel_size: int, dilations: list[int], style_dim: int) -> None:
        super().__init__()

        def conv(dilation: int) -> nn.Conv1d:
            padding = (kernel_size * dilation - dilation) // 2
            return nn.Conv1d(channels, channels, kernel_size, dilation=dilation, padding=padding)

        self.convs1 = nn.ModuleList(conv(d) for d in dilations)
        self.convs2 = nn.ModuleList(conv(1) for _ in dilations)
        self.adain1 = nn.ModuleList(AdaIN1d(style_dim, channels) for _ in dilations)
        self.adain2 = nn.ModuleList(AdaIN1d(style_dim, channels) for _ in dilations)
        self.alpha1 = nn.ParameterList(nn.Parameter(torch.ones(1, channels, 1)) for _ in dilations)
        self.alpha2 = nn.ParameterList(nn.Parameter(torch.ones(1, channels, 1)) for _ in dilations)

    def forward(self, x: torch.Tensor, style: torch.Tensor, cut: EdgeCut | None = None) -> torch.Tensor:
        for c1, c2, n1, n2, a1, a2 in zip(self.convs1, self.convs2, self.adain1, self.adain2, self.alpha1, self.alpha2):
            h = c1(_snake(n1, a1, x, style, cut))
            h = c2(_snake(n2, a2, h, style, cut))
            x = x + h
        return x
