"""Reference clips: read anything soundfile reads, check it, and keep the best <= 15 s of speech.

mono -> 24 kHz (soxr) -> reject (corrupt, silent, NaN, heavily clipped, < 2 s of speech) -> silence
trimmed (edges cut, inner pauses shortened) -> best 15 s window -> loudness normalised.
Every rejection is an InputError whose message says what to do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soxr

from ..audio import decode_audio
from ..errors import InputError
from ..model_facts import SAMPLE_RATE

MIN_SPEECH_S = 2.0
MAX_KEEP_S = 15.0
MAX_READ_S = 600.0  # longer uploads: only the first 10 minutes are read
FRAME_S = 0.02
MAX_PAUSE_S = 0.3
CLIP_LEVEL = 0.999
MAX_CLIPPED = 0.01  # fraction of samples at full scale
TARGET_RMS_DBFS = -23.0


@dataclass(frozen=True)
class Reference:
    audio: np.ndarray  # float32 mono 24 kHz, trimmed and normalised
    sample_rate: int
    sha256: str  # of the processed samples: the fit cache key
    source_s: float  # duration of what was read
    speech_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


def _read(source) -> tuple[np.ndarray, int]:
    if isinstance(source, tuple) and len(source) == 2 and not isinstance(source[0], (bytes, str, Path)):
        sr, audio = source  # gradio's (sample_rate, array)
        audio = np.asarray(audio)
        if audio.dtype.kind == "i":
            audio = audio.astype(np.float32) / np.iinfo(audio.dtype).max
        return np.asarray(audio, dtype=np.float32), int(sr)
    if isinstance(source, np.ndarray):
        raise InputError("give a raw array as (sample_rate, array)")
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise InputError(f"reference clip not found: {source}")
    return decode_audio(source if isinstance(source, (bytes, bytearray)) else str(source), "the reference clip",
                        max_s=MAX_READ_S)


def load_reference(source) -> Reference:
    """``source``: a path, the file's bytes, or (sample_rate, array)."""
    audio, sr = _read(source)
    if audio.size == 0 or sr <= 0:
        raise InputError("the reference clip is empty (0 samples); record or upload a few seconds of speech")
    if not np.isfinite(audio).all():
        raise InputError("the reference clip contains invalid samples (NaN or infinity); export it again")
    audio = audio.mean(axis=1) if audio.ndim == 2 else audio
    notes = []
    source_s = len(audio) / sr
    if source_s >= MAX_READ_S - 1e-6:
        notes.append(f"only the first {MAX_READ_S / 60:.0f} minutes were read")
    peak = float(np.abs(audio).max())
    if peak < 10 ** (-70 / 20):
        raise InputError("the reference clip is silent; check the microphone or the file")
    if peak > 1.0:  # float files may exceed full scale without being clipped
        audio = audio / peak
    elif float(np.mean(np.abs(audio) >= CLIP_LEVEL * max(peak, 0.5))) > MAX_CLIPPED and peak >= 0.98:
        share = 100 * float(np.mean(np.abs(audio) >= CLIP_LEVEL * peak))
        raise InputError(f"the reference clip is heavily clipped ({share:.1f} % of samples at full scale); "
                         f"record again with the input level lower")
    if sr != SAMPLE_RATE:
        audio = soxr.resample(audio, sr, SAMPLE_RATE).astype(np.float32)
    speech = _speech_frames(audio)
    frame = int(FRAME_S * SAMPLE_RATE)
    speech_s = float(speech.sum()) * FRAME_S
    if speech_s < MIN_SPEECH_S:
        raise InputError(f"the reference clip has only {speech_s:.1f} s of speech; at least {MIN_SPEECH_S:.0f} s "
                         f"are needed (5-15 s work best)")
    keep = _shorten_pauses(speech)
    frames = np.flatnonzero(keep)
    trimmed = np.concatenate([audio[i * frame : (i + 1) * frame] for i in frames])
    kept_speech = speech[frames]
    limit = int(MAX_KEEP_S / FRAME_S)
    if len(frames) > limit:
        counts = np.convolve(kept_speech.astype(float), np.ones(limit), "valid")
        best = int(np.argmax(counts))
        trimmed = trimmed[best * frame : (best + limit) * frame]
        notes.append(f"kept the {MAX_KEEP_S:.0f} s with the most speech")
        kept_speech = kept_speech[best : best + limit]
    rms = float(np.sqrt(np.mean(trimmed.reshape(-1, frame)[kept_speech] ** 2)))
    out = trimmed * (10 ** (TARGET_RMS_DBFS / 20) / max(rms, 1e-9))
    out_peak = float(np.abs(out).max())
    if out_peak > 0.97:
        out = out * (0.97 / out_peak)
    out = out.astype(np.float32)
    digest = hashlib.sha256(out.tobytes()).hexdigest()
    return Reference(out, SAMPLE_RATE, digest, source_s, float(kept_speech.sum()) * FRAME_S, notes)


def _speech_frames(audio: np.ndarray) -> np.ndarray:
    """Per 20 ms frame: louder than -35 dB under the loud frames and than -60 dBFS."""
    frame = int(FRAME_S * SAMPLE_RATE)
    n = len(audio) // frame
    if n == 0:
        return np.zeros(0, dtype=bool)
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-20)
    db = 20 * np.log10(rms)
    loud = np.percentile(db, 95)
    return (db > loud - 35) & (db > -60)


def _shorten_pauses(speech: np.ndarray) -> np.ndarray:
    """Frames to keep: speech, plus at most MAX_PAUSE_S of each pause (none at the edges)."""
    keep = speech.copy()
    max_run = int(MAX_PAUSE_S / FRAME_S)
    idx = np.flatnonzero(speech)
    first, last = idx[0], idx[-1]
    run = 0
    for i in range(first, last + 1):
        if speech[i]:
            run = 0
        else:
            run += 1
            keep[i] = run <= max_run
    return keep
