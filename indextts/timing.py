"""Word and segment times in a joined clip, from the model's own durations.

The model decides how many 25 ms frames each token lasts (``Prosody.frames``, after speed and emotion tempo),
and a segment's audio is those frames less the silence trimmed before the speech (``trim_start_s``). A written
word (``Segment.words``: its token span) therefore starts where its first token's frames start and ends where
its last token's frames end, shifted by the trim and by where the segment sits in the clip (after the pauses
``Engine.join`` puts between segments). Pure arithmetic: no model, no audio processing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

from .model.kokoro import SAMPLES_PER_FRAME
from .model_facts import SAMPLE_RATE
from .text.frontend import Segment

if TYPE_CHECKING:
    from .engine import Engine, SynthesisResult
    from .request import SynthesisRequest


# The decoder's sound leads the durations' frame grid: a word is heard about two frames before its first token's
# frames begin. Measured on af_heart (4 words after pauses: acoustic onset at -35 dB 17-86 ms, median 42 ms,
# before the frame grid; the last word's sound ended 69 ms before it); kokoro's own timestamps shift by 3.
DECODER_LEAD_S = 2 * SAMPLES_PER_FRAME / SAMPLE_RATE


class RenderedSegment(Protocol):
    """What the timing needs of a rendered segment (``engine.SegmentResult``)."""
    tokens: tuple[int, ...]
    audio: np.ndarray
    trim_start_s: float
    prosody: object  # Prosody: ``frames`` per model token, boundary tokens included


@dataclass(frozen=True)
class TimedText:
    """A word or a segment with its time in the clip, in seconds."""
    text: str
    start_s: float
    end_s: float
    written: str = ""  # a word: the source text from it up to the next word (its punctuation and spaces; a
                       # segment's first word also what comes before it), so words show as written (subtitles)

    def as_json(self) -> dict:
        return {"text": self.text, "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3)}


@dataclass(frozen=True)
class ClipTiming:
    words: list[TimedText]
    segments: list[TimedText]


def token_start_samples(frames: Sequence[int]) -> np.ndarray:
    """Frames per model token (boundary tokens included) -> each token's first sample, then the end, counted
    from the start of the model's (untrimmed) output."""
    edges = np.concatenate([[0], np.cumsum(np.asarray(frames, dtype=np.int64))])
    return edges * SAMPLES_PER_FRAME


def segment_offsets_s(clip: np.ndarray, segment_audio: Sequence[np.ndarray], sample_rate: int) -> list[float]:
    """Where each segment's audio (as joined: ``engine.segment_audio``) starts in ``clip``, found in it sample for
    sample, in order: whatever pauses the join put between segments, the times follow the clip as rendered. A
    segment not found there exactly is placed right after the previous one."""
    offsets: list[float] = []
    at = 0
    for audio in segment_audio:
        found = _find(clip, np.asarray(audio, dtype=clip.dtype), at)
        start = at if found is None else found
        offsets.append(start / sample_rate)
        at = start + len(audio)
    return offsets


def _find(clip: np.ndarray, audio: np.ndarray, start: int) -> int | None:
    """The first index >= ``start`` where ``audio`` lies in ``clip`` exactly (None: nowhere)."""
    if not len(audio) or start + len(audio) > len(clip):
        return None
    probe = int(np.argmax(np.abs(audio)))  # a loud sample: few silent places in the clip share its value
    for at in np.flatnonzero(clip[start + probe:len(clip) - len(audio) + probe + 1] == audio[probe]):
        at = start + int(at)
        if np.array_equal(clip[at:at + len(audio)], audio):
            return at
    return None


def clip_timing(segments: Sequence[Segment], rendered: Sequence[RenderedSegment], offsets_s: Sequence[float],
                sample_rate: int) -> ClipTiming:
    """Word and segment times in the clip. ``segments`` are the frontend's (their ``words``), ``rendered``
    the engine's results for them in the same order, ``offsets_s`` where each starts in the clip
    (``segment_offsets_s``). Times are clamped inside each segment's audio."""
    if len(segments) != len(rendered) or len(rendered) != len(offsets_s):
        raise ValueError(f"{len(segments)} segments, {len(rendered)} rendered, {len(offsets_s)} offsets")
    words: list[TimedText] = []
    spans: list[TimedText] = []
    for segment, result, offset in zip(segments, rendered, offsets_s):
        if tuple(segment.tokens) != tuple(result.tokens):
            raise ValueError(f"segment {segment.text[:40]!r} was rendered from other tokens")
        duration = len(result.audio) / sample_rate
        starts = (token_start_samples(result.prosody.frames.tolist()) / sample_rate - result.trim_start_s
                  - DECODER_LEAD_S)

        def at(token: int) -> float:  # a phoneme index (the model input has a boundary token before it)
            return offset + min(max(float(starts[token + 1]), 0.0), duration)
        for k, word in enumerate(segment.words):
            following = segment.words[k + 1].start if k + 1 < len(segment.words) else len(segment.text)
            lead = segment.text[:word.start] if k == 0 else ""
            start, end = at(word.phoneme_start), at(word.phoneme_end)
            words.append(TimedText(word.text, start, max(start, end),
                                   lead + segment.text[word.start:following]))
        spans.append(TimedText(segment.text, offset, offset + duration))
    return ClipTiming(words, spans)


def synthesis_timing(engine: "Engine", request: "SynthesisRequest", result: "SynthesisResult") -> ClipTiming:
    """The times of ``result``, the clip ``engine`` made for ``request`` (before any volume change): the request's
    segments again (the frontend's cached readings, with their written words) against the rendered ones, found
    where the join put them. ValueError when the text now reads differently (the glossary changed meanwhile)."""
    from .engine import segment_audio  # the engine imports the model: only callers that have one pay for it
    offsets = segment_offsets_s(result.audio, [segment_audio(s) for s in result.segments], result.sample_rate)
    return clip_timing(engine.segments(request), result.segments, offsets, result.sample_rate)
