"""Mode 2: an emotion reference clip -> its prosody, and the transfer onto a neutral rendering.

The clip is decoded (soundfile: WAV/FLAC/OGG/MP3), mixed to mono, resampled (soxr) and checked
(length, silence, NaN). Its measures (analysis.measure) are compared with the same measures of the
engine's neutral rendering of each target segment (same voice, same text), and the differences
become a ProsodyEdit:

- pitch level: the difference of median F0, limited to +-MAX_SHIFT_ST, so a reference spoken by a
  much higher or lower voice does not turn the target voice into another speaker;
- pitch range: the ratio of the 5-95 % F0 spans (semitones), limited to RANGE_LIMITS;
- loudness: the difference of speech-frame level, limited to +-MAX_ENERGY_DB. Recording gain is
  part of it (a quietly recorded clip reads as soft speech): a known limit of this mode;
- tempo: the ratio of syllable rates (loudness peaks per second of talk), limited to TEMPO_LIMITS;
- pauses: the ratio of pause shares, limited to PAUSE_LIMITS.
Timbre is never taken from the clip: the voice stays the selected one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..audio import READABLE_FORMATS, decode_audio
from ..errors import InputError
from .analysis import ProsodyMeasures, measure
from .profiles import ProsodyEdit

MIN_CLIP_S = 1.0
MAX_CLIP_S = 60.0
MIN_VOICED_S = 0.3
MAX_SHIFT_ST = 5.0
RANGE_LIMITS = (0.4, 2.0)
MAX_ENERGY_DB = 6.0
TEMPO_LIMITS = (0.7, 1.4)
PAUSE_LIMITS = (0.5, 2.5)
SILENCE_PEAK = 1e-3  # -60 dBFS


@dataclass(frozen=True)
class ReferenceProsody:
    """A measured reference clip (what the engine transfers)."""

    measures: ProsodyMeasures
    duration_s: float

    def as_dict(self) -> dict:
        return {"duration_s": round(self.duration_s, 2), **self.measures.as_dict()}


FIELD = "emotion_reference"  # the request field an InputError about the clip names


def decode_clip(data: bytes | str, what: str = "the emotion reference clip") -> tuple[np.ndarray, int]:
    """Bytes or a path -> (mono float32, sample rate). InputError for anything that is not usable audio."""
    if isinstance(data, (bytes, bytearray)) and len(data) == 0:
        raise InputError(f"{what} is empty (0 bytes); upload a {READABLE_FORMATS} recording", field=FIELD)
    try:
        audio, rate = decode_audio(data, what)
    except InputError as exc:  # decode_audio serves every upload, so it cannot know which field this one is
        raise InputError(str(exc), field=FIELD) from None
    return audio.mean(axis=1), rate


def check_clip(audio: np.ndarray, rate: int, what: str = "the emotion reference clip") -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if rate < 8000:
        raise InputError(f"{what} has a sample rate of {rate} Hz; record at 16 kHz or more", field=FIELD)
    if not np.isfinite(audio).all():
        raise InputError(f"{what} contains invalid samples (NaN or infinity); re-export it", field=FIELD)
    seconds = len(audio) / rate
    if seconds < MIN_CLIP_S:
        raise InputError(f"{what} is {seconds:.2f} s long; give at least {MIN_CLIP_S:g} s of speech", field=FIELD)
    if seconds > MAX_CLIP_S:
        raise InputError(f"{what} is {seconds:.0f} s long; the limit is {MAX_CLIP_S:g} s (3-15 s of speech is "
                         f"enough)", field=FIELD)
    if float(np.max(np.abs(audio))) < SILENCE_PEAK:
        raise InputError(f"{what} is silent (peak below -60 dBFS); record some speech", field=FIELD)
    return audio


def measure_reference(data: bytes | str | tuple[np.ndarray, int]) -> ReferenceProsody:
    """Decode (bytes or path) or take (audio, rate), check, and measure a reference clip."""
    audio, rate = data if isinstance(data, tuple) else decode_clip(data)
    audio = check_clip(audio, rate)
    measures = measure(audio, rate)
    if measures.voiced_s < MIN_VOICED_S:
        raise InputError(f"the emotion reference clip has only {measures.voiced_s:.2f} s of voiced speech; "
                         f"give a clip where someone speaks for at least a second", field=FIELD)
    return ReferenceProsody(measures, len(audio) / rate)


def _clamp(value: float, low: float, high: float) -> float:
    return float(min(high, max(low, value)))


def transfer(ref: ProsodyMeasures, neutral: ProsodyMeasures) -> ProsodyEdit:
    """The edit that moves the neutral rendering's measures toward the reference's (full weight)."""
    shift = _clamp(ref.f0_median_st - neutral.f0_median_st, -MAX_SHIFT_ST, MAX_SHIFT_ST)
    rng = _clamp(ref.f0_range_st / neutral.f0_range_st, *RANGE_LIMITS) if neutral.f0_range_st > 0.5 else 1.0
    energy = _clamp(ref.energy_db - neutral.energy_db, -MAX_ENERGY_DB, MAX_ENERGY_DB)
    tempo = (_clamp(ref.syllable_rate / neutral.syllable_rate, *TEMPO_LIMITS)
             if ref.syllable_rate > 0 and neutral.syllable_rate > 0 else 1.0)
    # pause shares are small numbers: compare them with a floor so 0 vs 0.01 is not a 10x change
    pause = _clamp((ref.pause_ratio + 0.05) / (neutral.pause_ratio + 0.05), *PAUSE_LIMITS)
    return ProsodyEdit(f0_shift_st=shift, f0_range=rng, f0_tilt_st=0.0, energy_db=energy, tempo=tempo, pause=pause)


def weighted(edit: ProsodyEdit, weight: float) -> ProsodyEdit:
    return edit.scaled(weight) if not math.isclose(weight, 1.0) else edit
