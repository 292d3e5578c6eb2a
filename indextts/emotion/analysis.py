"""Prosody measures of an audio clip: F0 (YIN), loudness, rate and pausing. numpy only.

Used three ways: to measure an emotion reference clip (mode 2), to measure the engine's neutral
rendering it is compared with, and by bench/emotion.py and the tests to check output audio.

F0 is YIN (de Cheveigné & Kawahara 2002, JASA 111(4)): the cumulative-mean-normalised difference
function per 40 ms frame (10 ms hop, 16 kHz), first dip under 0.25, parabolic refinement, 60-500 Hz.
A small implementation here instead of librosa.pyin: librosa would add numba, llvmlite and scipy
to the runtime install for one function, and pYIN's Viterbi pass is slow on 2 cores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

RATE = 16000
HOP = 160  # 10 ms
WINDOW = 640  # 40 ms: two periods of 50 Hz
F0_MIN, F0_MAX = 60.0, 500.0
YIN_THRESHOLD = 0.25
ACTIVE_DB = -35.0  # frames within this of the loudest 10 ms frame are speech
PAUSE_MIN_S = 0.12  # silences at least this long inside speech count as pauses


def to_analysis_rate(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    if sample_rate != RATE:
        import soxr

        x = soxr.resample(x, sample_rate, RATE)
    return np.ascontiguousarray(x, dtype=np.float64)


def _frames(x: np.ndarray, length: int) -> np.ndarray:
    n = max(0, 1 + (len(x) - length) // HOP)
    if n == 0:
        return np.zeros((0, length))
    idx = np.arange(length)[None, :] + HOP * np.arange(n)[:, None]
    return x[idx]


def yin(x: np.ndarray) -> np.ndarray:
    """F0 in Hz per 10 ms hop of 16 kHz audio; 0 where unvoiced."""
    tau_max = int(RATE / F0_MIN)
    tau_min = int(RATE / F0_MAX)
    frames = _frames(x, WINDOW + tau_max)
    if len(frames) == 0:
        return np.zeros(0)
    frames = frames - frames.mean(axis=1, keepdims=True)
    w = WINDOW
    n_fft = 1 << int(np.ceil(np.log2(2 * (w + tau_max))))
    spec_a = np.fft.rfft(frames[:, :w], n_fft)
    spec_b = np.fft.rfft(frames, n_fft)
    corr = np.fft.irfft(np.conj(spec_a) * spec_b, n_fft)[:, : tau_max + 1]  # r(tau) = sum x_j x_{j+tau}
    sq = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames ** 2, axis=1)], axis=1)
    e0 = sq[:, w:w + 1]
    e_tau = sq[:, w: w + tau_max + 1] - sq[:, : tau_max + 1]
    diff = np.maximum(e0 + e_tau - 2 * corr, 0.0)
    cum = np.cumsum(diff[:, 1:], axis=1)
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] * np.arange(1, tau_max + 1) / np.maximum(cum, 1e-12)
    f0 = np.zeros(len(frames))
    below = cmnd[:, tau_min:] < YIN_THRESHOLD
    has = below.any(axis=1)
    for i in np.flatnonzero(has):
        tau = tau_min + int(np.argmax(below[i]))
        while tau + 1 <= tau_max and cmnd[i, tau + 1] < cmnd[i, tau]:  # walk down to the dip's bottom
            tau += 1
        if 1 <= tau < tau_max:
            a, b, c = cmnd[i, tau - 1], cmnd[i, tau], cmnd[i, tau + 1]
            denom = a - 2 * b + c
            shift = 0.5 * (a - c) / denom if abs(denom) > 1e-12 else 0.0
            f0[i] = RATE / (tau + float(np.clip(shift, -1, 1)))
    return np.where((f0 >= F0_MIN) & (f0 <= F0_MAX), f0, 0.0)


@dataclass(frozen=True)
class ProsodyMeasures:
    """One clip's prosody. Semitones are relative to 100 Hz."""

    f0_median_st: float  # pitch level
    f0_range_st: float  # 5th-95th percentile span of voiced F0, semitones
    energy_db: float  # mean power of speech frames, dBFS
    speech_s: float  # from the first to the last speech frame
    pause_ratio: float  # share of that span in pauses of >= PAUSE_MIN_S
    syllable_rate: float  # energy-envelope peaks (syllable nuclei) per second of non-pause speech
    voiced_s: float

    def as_dict(self) -> dict:
        return {k: round(v, 3) for k, v in asdict(self).items()}


def frame_db(x: np.ndarray) -> np.ndarray:
    frames = _frames(x, HOP)
    return 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)


def measure(audio: np.ndarray, sample_rate: int) -> ProsodyMeasures:
    x = to_analysis_rate(audio, sample_rate)
    db = frame_db(x)
    f0 = yin(x)
    if len(db) == 0 or not np.isfinite(db).any():
        return ProsodyMeasures(0.0, 0.0, -120.0, 0.0, 0.0, 0.0, 0.0)
    active = db > db.max() + ACTIVE_DB
    idx = np.flatnonzero(active)
    first, last = (int(idx[0]), int(idx[-1])) if len(idx) else (0, 0)
    span = active[first:last + 1]
    # pauses: runs of inactive frames inside the span, at least PAUSE_MIN_S long
    pause_frames = 0
    run = 0
    for a in np.append(span, True):
        if not a:
            run += 1
        else:
            if run * HOP / RATE >= PAUSE_MIN_S:
                pause_frames += run
            run = 0
    speech_s = len(span) * HOP / RATE
    n = min(len(f0), len(active))
    voiced = f0[:n][active[:n] & (f0[:n] > 0)]
    st = 12 * np.log2(voiced / 100.0) if len(voiced) else np.zeros(0)
    median = float(np.median(st)) if len(st) >= 5 else 0.0
    rng = float(np.percentile(st, 95) - np.percentile(st, 5)) if len(st) >= 5 else 0.0
    energy = float(10 * np.log10(np.mean(10 ** (db[active] / 10)))) if active.any() else -120.0
    return ProsodyMeasures(median, rng, energy, speech_s, pause_frames / max(1, len(span)),
                           _syllable_rate(db, active, first, last, speech_s - pause_frames * HOP / RATE),
                           len(voiced) * HOP / RATE)


def _syllable_rate(db: np.ndarray, active: np.ndarray, first: int, last: int, talk_s: float) -> float:
    """Syllable nuclei as peaks of the smoothed loudness contour that stand 2 dB above the dips on both
    sides and are at least 100 ms apart (after de Jong & Wempe 2009, without their Praat script)."""
    if talk_s <= 0:
        return 0.0
    env = np.convolve(db[first:last + 1], np.hanning(7) / np.hanning(7).sum(), mode="same")
    act = active[first:last + 1]
    peaks = []
    for i in range(1, len(env) - 1):
        if act[i] and env[i] >= env[i - 1] and env[i] > env[i + 1]:
            left = env[max(0, i - 15):i].min()
            right = env[i + 1:i + 16].min()
            if env[i] - max(left, right) >= 2.0 and (not peaks or i - peaks[-1] >= 10):
                peaks.append(i)
    return len(peaks) / talk_s
