"""Intelligibility guard for fitted voices: does the clone still articulate like its base voice?

A fitted timbre can pull Kokoro's decoder into garbled speech (measured: an espeak voice's clone at
35-58 % WER while its base voice reads the same sentences at 0-15 %). The fit renders the clone with the
base voice's durations and F0, so the two renderings are aligned frame by frame. Per mel band, the
log-energy over time is standardised (which removes each voice's own spectral balance, i.e. most of
timbre) and the two renderings' trajectories are correlated: the score is the mean correlation, 1 for
the same articulation. Calibrated on the tuning voices only (bench/RESULTS.md, "Voice cloning"):
clones Whisper reads at <= 10 % WER scored 0.74-0.91; deliberately over-fitted, garbled ones
(87-1249 % WER) 0.15-0.66. ``MIN_ARTICULATION`` sits between the two.
"""

from __future__ import annotations

import numpy as np

MIN_ARTICULATION = 0.70
SPEECH_RANGE_DB = 40.0  # frames within this of the base rendering's loudest are compared


def _log_mel(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=np.asarray(audio, dtype=np.float32), sr=sample_rate, n_fft=1024,
                                         hop_length=sample_rate // 80, n_mels=40)
    return np.log(mel + 1e-6)


def _standardised(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-6)


def articulation_match(clone: np.ndarray, base: np.ndarray, sample_rate: int = 24000) -> float:
    """Mean per-band correlation of the two aligned renderings' log-mel trajectories (speech frames)."""
    a, b = _log_mel(clone, sample_rate), _log_mel(base, sample_rate)
    n = min(a.shape[1], b.shape[1])
    a, b = a[:, :n], b[:, :n]
    loudness = b.max(axis=0)
    speech = loudness > loudness.max() - SPEECH_RANGE_DB * np.log(10) / 10
    if speech.sum() < 2:
        return 0.0
    return float((_standardised(a[:, speech]) * _standardised(b[:, speech])).mean())
