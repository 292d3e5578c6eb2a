"""The decoder: aligned text features + F0 + energy + timbre style -> 24 kHz waveform.

An iSTFTNet vocoder driven by a harmonic source built from the F0 curve. The
source is deterministic (no random phase, no noise), as in the shipped export,
so the same input always gives the same audio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..model_facts import SAMPLE_RATE
from .blocks import AdaINResBlock1, AdainResBlk1d, EdgeCut
from .int8 import runs_int8
from .precision import as_float32

# The shipped export's inverse STFT overlap-adds with a window sum that makes
# its output 1.5x torch.istft's; keep that gain so loudness matches it.
_ISTFT_GAIN = 1.5


@dataclass(frozen=True)
class VocoderConfig:
    upsample_rates: tuple[int, ...] = (10, 6)
    upsample_kernel_sizes: tuple[int, ...] = (20, 12)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    gen_istft_n_fft: int = 20
    gen_istft_hop_size: int = 5


class HarmonicSource(nn.Module):
    """F0 curve -> a sine excitation with 8 overtones, merged to one channel."""

    def __init__(self, upsample_scale: int, harmonics: int = 9, sine_amp: float = 0.1, voiced_hz: float = 10.0):
        super().__init__()
        self.upsample_scale = upsample_scale
        self.sine_amp = sine_amp
        self.voiced_hz = voiced_hz
        self.register_buffer("multiples", torch.arange(1, harmonics + 1, dtype=torch.float32), persistent=False)
        self.l_linear = nn.Linear(harmonics, 1)

    def forward(self, f0: torch.Tensor) -> torch.Tensor:
        """f0 (B, P) at one point per ``upsample_scale`` samples -> source (B, P * scale)."""
        f0 = as_float32(f0)  # a running phase over thousands of samples: float32 in every precision
        # Phase advance per sample of each harmonic, accumulated at the low rate,
        # then interpolated: cheap, and smooth across the upsampling.
        cycles = torch.remainder(f0[:, :, None] * self.multiples / SAMPLE_RATE, 1.0)
        phase = torch.cumsum(cycles, dim=1) * (2 * math.pi * self.upsample_scale)
        phase = F.interpolate(phase.transpose(1, 2), scale_factor=float(self.upsample_scale), mode="linear")
        voiced = torch.repeat_interleave(f0 > self.voiced_hz, self.upsample_scale, dim=1)
        sines = torch.sin(phase.transpose(1, 2)) * self.sine_amp * voiced[:, :, None]
        return torch.tanh(self.l_linear(sines)).squeeze(-1)


class Stft(nn.Module):
    """Magnitude/phase STFT and its inverse with a periodic Hann window."""

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)

    def transform(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        return spec.abs(), spec.angle()

    def inverse(self, magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        spec = torch.polar(magnitude, phase)
        return torch.istft(spec, self.n_fft, self.hop, window=self.window, center=True) * _ISTFT_GAIN


class Generator(nn.Module):
    """Upsampling conv stack whose output is a spectrogram, turned to audio by the iSTFT."""

    def __init__(self, style_dim: int, cfg: VocoderConfig) -> None:
        super().__init__()
        n_fft = cfg.gen_istft_n_fft
        self.m_source = HarmonicSource(math.prod(cfg.upsample_rates) * cfg.gen_istft_hop_size)
        self.stft = Stft(n_fft, cfg.gen_istft_hop_size)
        self.noise_convs = nn.ModuleList()
        self.noise_res = nn.ModuleList()
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        channels = cfg.upsample_initial_channel
        for i, (rate, kernel) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes)):
            self.ups.append(nn.ConvTranspose1d(channels, channels // 2, kernel, rate, padding=(kernel - rate) // 2))
            channels //= 2
            later = math.prod(cfg.upsample_rates[i + 1 :])
            if later > 1:  # bring the source's STFT frames down to this stage's rate
                self.noise_convs.append(nn.Conv1d(n_fft + 2, channels, later * 2, later, padding=(later + 1) // 2))
                self.noise_res.append(AdaINResBlock1(channels, 7, [1, 3, 5], style_dim))
            else:
                self.noise_convs.append(nn.Conv1d(n_fft + 2, channels, 1))
                self.noise_res.append(AdaINResBlock1(channels, 11, [1, 3, 5], style_dim))
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes):
                self.resblocks.append(AdaINResBlock1(channels, k, list(d), style_dim))
        self.conv_post = nn.Conv1d(channels, n_fft + 2, 7, padding=3)
        self.kernels_per_stage = len(cfg.resblock_kernel_sizes)

    def forward(self, x: torch.Tensor, style: torch.Tensor, f0: torch.Tensor, cut: EdgeCut | None = None) -> torch.Tensor:
        """x (B, C, F) and style in the convolution stack's dtype, f0 (B, 2F) -> audio (B, N), float32.
        With ``cut``, x holds only the window's frames and f0 is the whole utterance's: the harmonic source runs
        over all of it, so its phase in the window is the one the whole rendering has."""
        wave = self.m_source(f0)
        if cut is not None:
            per_frame = wave.shape[1] // (cut.left + cut.window + cut.right)
            wave = wave[:, cut.left * per_frame : (cut.left + cut.window) * per_frame]
        magnitude, phase = self.stft.transform(wave)  # float32 (see precision.py)
        source = torch.cat([magnitude, phase], dim=1).to(x.dtype)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, 0.1))
            if i == len(self.ups) - 1:
                x = F.pad(x, (1, 0), mode="reflect")  # match the source's centred STFT length
            if runs_int8(x):
                x = _channels_last(x)
            x = x + self.noise_res[i](self.noise_convs[i](source), style, cut)
            stage = self.resblocks[i * self.kernels_per_stage : (i + 1) * self.kernels_per_stage]
            x = sum(block(x, style, cut) for block in stage) / self.kernels_per_stage
        x = self.conv_post(F.leaky_relu(as_float32(x), 0.01))  # float32: exponentiated into magnitudes
        bins = self.stft.n_fft // 2 + 1
        return self.stft.inverse(torch.exp(x[:, :bins]), torch.sin(x[:, bins:]))


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T) stored time-major, the layout the int8 convolutions return: adds and convolutions
    then meet one layout, instead of copying between the two at every block."""
    return x.transpose(1, 2).contiguous().transpose(1, 2)


class Decoder(nn.Module):
    """Aligned text features (B, C, F), F0 and energy (B, 2F), timbre style -> audio (B, 600 F)."""

    def __init__(self, dim_in: int, style_dim: int, cfg: VocoderConfig) -> None:
        super().__init__()
        side = 2 + 64  # F0 + energy + the asr residual, re-fed to every decode block
        self.encode = AdainResBlk1d(dim_in + 2, 1024, style_dim)
        self.decode = nn.ModuleList(
            [AdainResBlk1d(1024 + side, 1024, style_dim) for _ in range(3)]
            + [AdainResBlk1d(1024 + side, 512, style_dim, upsample=True)]
        )
        self.F0_conv = nn.Conv1d(1, 1, 3, stride=2, padding=1)
        self.N_conv = nn.Conv1d(1, 1, 3, stride=2, padding=1)
        self.asr_res = nn.Sequential(nn.Conv1d(512, 64, 1))
        self.generator = Generator(style_dim, cfg)

    # Submodules kept in float32 when the rest runs in fp16/bf16 (see precision.py).
    FLOAT32_PARTS = ("F0_conv", "N_conv", "generator.m_source", "generator.stft", "generator.conv_post")

    @property
    def dtype(self) -> torch.dtype:
        """The convolution stack's dtype (float32, or fp16/bf16 after ``convert``)."""
        return self.encode.norm1.fc.weight.dtype  # a layer that is converted and never int8

    def convert(self, dtype: torch.dtype) -> None:
        """Run the convolution stack in ``dtype`` from now on, its weights converted once (they are rounded:
        converting back does not restore them). The FLOAT32_PARTS are left untouched: exact float32 (a
        round trip through half would round their weights and the STFT window)."""
        kept = tuple(f"{name}." for name in self.FLOAT32_PARTS)
        for name, module in self.named_modules():
            if f"{name}.".startswith(kept):
                continue
            for key, param in module._parameters.items():
                if param is not None and param.is_floating_point():
                    module._parameters[key] = nn.Parameter(param.detach().to(dtype), requires_grad=param.requires_grad)
            for key, buffer in module._buffers.items():
                if buffer is not None and buffer.is_floating_point():
                    module._buffers[key] = buffer.to(dtype)

    def forward(self, asr: torch.Tensor, f0: torch.Tensor, energy: torch.Tensor, style: torch.Tensor,
                span: tuple[int, int] | None = None) -> torch.Tensor:
        """Inputs in any float dtype; F0 and energy are read in float32, the rest in ``dtype``. Float32 audio.
        ``style``: (B, S), or a track (B, S, F) with one style per frame.
        ``span`` (start, stop): render only frames [start, stop) (audio from sample 600 * start), as they sound in
        the whole rendering up to the instance norms' estimate of the silence cut (``EdgeCut``)."""
        dtype = self.dtype
        f0, energy = as_float32(f0), as_float32(energy)
        whole_f0, cut = f0, None
        frames = asr.shape[2]
        if span is not None and tuple(span) != (0, frames):
            start, stop = span
            cut = EdgeCut(start, frames - stop, stop - start)
            asr, f0, energy = asr[..., start:stop], f0[:, 2 * start : 2 * stop], energy[:, 2 * start : 2 * stop]
            if style.dim() == 3:  # a per-frame style track (B, S, F): the window's frames
                style = style[..., start:stop]
        f0_down = self.F0_conv(f0[:, None]).to(dtype)
        energy_down = self.N_conv(energy[:, None]).to(dtype)
        asr, style = asr.to(dtype), style.to(dtype)
        x = self.encode(torch.cat([asr, f0_down, energy_down], dim=1), style, cut)
        residual = self.asr_res(asr)
        for block in self.decode:
            x = block(torch.cat([x, residual, f0_down, energy_down], dim=1), style, cut)
        return self.generator(x, style, whole_f0, cut)
