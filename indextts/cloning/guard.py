"""Intelligibility guard for fitted voices: does the clone still articulate like its base voice?

A fitted timbre can pull Kokoro's decoder into garbled speech (measured: an espeak voice's clone at
35-58 % WER while its base voice reads the same sentences at 0-15 %). The fit renders the clone with the
base voice's durations and F0, so the two renderings are aligned frame by frame and two things are
compared on their log-mel frames (speech only):
- ``match``: per mel band, the log-energy over time is standardised (which removes each voice's own
  spectral balance, i.e. most of timbre) and the two trajectories are correlated; the mean over bands,
  1 for the same articulation. Catches scrambled speech.
- ``contrast``: how much the spectral shape (each frame's log-mel minus its mean) moves over time, clone
  over base (median over bands of the std over time). Catches smeared speech: the failure the match
  missed was a clone whose formant movements had flattened (0.86-0.87) while its trajectories still
  correlated (0.73-0.82).
Both thresholds are calibrated on the tuning voices only (bench/RESULTS.md, "Voice cloning"): clones
Whisper reads at <= 10 % WER had match 0.74-0.91 and contrast 0.925-1.08; deliberately over-fitted,
garbled ones (20-1249 % WER) match 0.15-0.66 or contrast 0.857-0.870.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model_facts import SAMPLE_RATE

MIN_MATCH = 0.70
MIN_CONTRAST = 0.90
SPEECH_RANGE_DB = 40.0  # frames within this of the base rendering's loudest are compared


@dataclass(frozen=True)
class Articulation:
    match: float  # mean per-band correlation of the standardised log-mel trajectories
    contrast: float  # clone / base variation of the spectral shape over time

    @property
    def clear(self) -> bool:
        return self.match >= MIN_MATCH and self.contrast >= MIN_CONTRAST


def _log_mel(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=np.asarray(audio, dtype=np.float32), sr=sample_rate, n_fft=1024,
                                         hop_length=sample_rate // 80, n_mels=40)
    return np.log(mel + 1e-6)


def _standardised(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-6)


def _shape_variation(x: np.ndarray) -> np.ndarray:
    """Per band, the std over time of the spectral shape (each frame's log-mel minus its own mean)."""
    return (x - x.mean(axis=0, keepdims=True)).std(axis=1)


def compare(clone: np.ndarray, base: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Articulation:
    """Articulation of ``clone`` against the aligned rendering ``base`` (same durations and F0)."""
    a, b = _log_mel(clone, sample_rate), _log_mel(base, sample_rate)
    n = min(a.shape[1], b.shape[1])
    a, b = a[:, :n], b[:, :n]
    loudness = b.max(axis=0)
    speech = loudness > loudness.max() - SPEECH_RANGE_DB * np.log(10) / 10
    if speech.sum() < 2:
        return Articulation(0.0, 0.0)
    a, b = a[:, speech], b[:, speech]
    match = float((_standardised(a) * _standardised(b)).mean())
    contrast = float(np.median(_shape_variation(a) / (_shape_variation(b) + 1e-6)))
    return Articulation(match, contrast)
