"""Speaker embeddings: Resemblyzer's encoder with a torch front end, so a loss on them is differentiable.

Resemblyzer (d-vector, GE2E-trained) is a 3-layer LSTM over 40-band power mel frames of 16 kHz audio
(25 ms window, 10 ms hop). Its own front end is numpy/librosa; this module computes the same features in
torch (resample 24 kHz -> 16 kHz as a fixed polyphase sinc filter, power STFT, mel filterbank) and loads
the encoder weights shipped inside the ``resemblyzer`` package into an equivalent module. The utterance
embedding is Resemblyzer's: 1.6 s partials at 1.3 per second, averaged, L2-normalised.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from ..model import SAMPLE_RATE as MODEL_RATE

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s
PARTIAL_RATE = 1.3  # partials per second of audio
MIN_COVERAGE = 0.75
NORM_DBFS = -30.0  # Resemblyzer raises quieter audio to this level (never lowers)


def _weights_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.origin:
        raise ImportError("the 'resemblyzer' package is missing: pip install --no-deps resemblyzer==0.1.4")
    return Path(spec.origin).parent / "pretrained.pt"


class Resampler(nn.Module):
    """Rational resampling up/down (e.g. 24 kHz -> 16 kHz: up 2, down 3) as one strided conv.

    Zero-stuff by ``up``, low-pass with a Kaiser-windowed sinc at the lower Nyquist, keep every
    ``down``-th sample. Fixed weights, differentiable in the input."""

    def __init__(self, orig_sr: int, new_sr: int, half_width: int = 24, beta: float = 8.0) -> None:
        super().__init__()
        g = math.gcd(orig_sr, new_sr)
        self.up, self.down = new_sr // g, orig_sr // g
        rate = orig_sr * self.up
        cutoff = 0.5 * min(orig_sr, new_sr) * 0.94
        n = half_width * max(self.up, self.down)
        t = torch.arange(-n, n + 1, dtype=torch.float64)
        h = 2 * cutoff / rate * torch.sinc(2 * cutoff / rate * t)
        window = torch.kaiser_window(2 * n + 1, periodic=False, beta=beta, dtype=torch.float64)
        h = h * window * self.up
        self.pad = n
        self.register_buffer("kernel", h.float().flip(0).view(1, 1, -1), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(N,) or (B, N) -> resampled, length ceil(N * up / down)."""
        squeeze = audio.dim() == 1
        x = audio.view(-1, 1, audio.shape[-1])
        n_out = -(-x.shape[-1] * self.up // self.down)
        stuffed = x.new_zeros(x.shape[0], 1, x.shape[-1] * self.up)
        stuffed[..., :: self.up] = x
        stuffed = F.pad(stuffed, (self.pad, self.pad + self.down))
        y = F.conv1d(stuffed, self.kernel, stride=self.down)[..., :n_out]
        return y[:, 0] if not squeeze else y[0, 0]


@lru_cache(maxsize=1)
def _mel_basis() -> torch.Tensor:
    import librosa

    return torch.from_numpy(librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS)).float()


class SpeakerEncoder(nn.Module):
    """Resemblyzer's VoiceEncoder network (LSTM 40 -> 3x256, linear, ReLU, L2 norm) + torch features."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, 256)
        state = torch.load(_weights_path(), map_location="cpu", weights_only=False)["model_state"]
        self.load_state_dict({k: v for k, v in state.items() if not k.startswith("similarity_")}, strict=True)
        self.register_buffer("mel_basis", _mel_basis(), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        self.from_24k = Resampler(MODEL_RATE, SAMPLE_RATE)
        self.eval().requires_grad_(False)
        # cuDNN refuses an RNN backward in eval mode; the voice fitter backpropagates through this one.
        # An LSTM without dropout computes the same in training mode, so it stays there.
        self.lstm.train()

    def mel(self, audio16: torch.Tensor) -> torch.Tensor:
        """(N,) 16 kHz -> (frames, 40) power mel, as librosa.feature.melspectrogram (center, zero pad)."""
        spec = torch.stft(audio16, N_FFT, HOP, window=self.window, center=True, pad_mode="constant",
                          return_complex=True)
        return (self.mel_basis @ spec.abs().pow(2)).T

    @staticmethod
    def normalize_volume(audio: torch.Tensor) -> torch.Tensor:
        rms = audio.pow(2).mean().clamp_min(1e-12).sqrt()
        return audio * (10 ** (NORM_DBFS / 20) / rms).clamp_min(1.0)

    def embed(self, audio: torch.Tensor, sample_rate: int = MODEL_RATE) -> torch.Tensor:
        """Utterance embedding (256,), differentiable in ``audio`` (24 kHz or 16 kHz, mono)."""
        if sample_rate == MODEL_RATE:
            audio = self.from_24k(audio)
        elif sample_rate != SAMPLE_RATE:
            raise ValueError(f"SpeakerEncoder.embed takes 16 or 24 kHz audio, got {sample_rate}")
        audio = self.normalize_volume(audio)
        n_frames = int(np.ceil((len(audio) + 1) / HOP))
        step = int(np.round(SAMPLE_RATE / PARTIAL_RATE / HOP))
        starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
        last_cover = (len(audio) - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP)
        if last_cover < MIN_COVERAGE and len(starts) > 1:
            starts = starts[:-1]
        need = (starts[-1] + PARTIAL_FRAMES) * HOP
        if need >= len(audio):
            audio = F.pad(audio, (0, need - len(audio)))
        mel = self.mel(audio)
        mels = torch.stack([mel[s : s + PARTIAL_FRAMES] for s in starts])
        _, (hidden, _) = self.lstm(mels)
        partial = F.relu(self.linear(hidden[-1]))
        partial = partial / partial.norm(dim=1, keepdim=True).clamp_min(1e-12)
        mean = partial.mean(0)
        return mean / mean.norm().clamp_min(1e-12)


_shared: dict[torch.device, SpeakerEncoder] = {}


def shared_encoder(device: torch.device | str = "cpu") -> SpeakerEncoder:
    """One encoder per process and device (weights ~5 MB, loaded on first use)."""
    device = torch.device(device)
    if device not in _shared:
        _shared[device] = SpeakerEncoder().to(device)
    return _shared[device]
