"""Spectral distances for comparing two renderings of the same utterance."""

from __future__ import annotations

import numpy as np
import torch


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10 ** (mel / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_max: float) -> torch.Tensor:
    """Triangular HTK-mel filters, (n_mels, n_fft // 2 + 1)."""
    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(0.0, _hz_to_mel(np.array(f_max)), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return torch.from_numpy(np.maximum(0.0, np.minimum(rising, falling))).float()


def log_mel(audio: np.ndarray, sample_rate: int = 24000) -> torch.Tensor:
    """log10 mel power, 80 bands 0-12 kHz, n_fft 1024, hop 256: (80, frames)."""
    x = torch.from_numpy(np.asarray(audio, dtype=np.float32))
    spec = torch.stft(x, 1024, 256, window=torch.hann_window(1024), return_complex=True).abs() ** 2
    return torch.log10(mel_filterbank(sample_rate, 1024, 80, sample_rate / 2) @ spec + 1e-5)


def log_mel_l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute log-mel difference over the common length."""
    n = min(len(a), len(b))
    return float((log_mel(a[:n]) - log_mel(b[:n])).abs().mean())
