"""Fitting a text's speech to a requested length (``SynthesisRequest.duration_s``): the plan, from predicted
durations only (no audio).

The natural length of a text is its segments' speech as the engine keeps it (edge silence trimmed) plus the
pauses ``pause_after`` puts between them. A segment's trimmed speech is measured before rendering from the
predicted energy curve: the frames between its first and last loud point (``speech_span`` without margin)
matched the trimmed audio within 1.5 frames (11 sentences, en and zh, af_heart and zf_xiaobei).

The change from natural to target goes to the pauses first (the silences between segments and the pause
and punctuation tokens inside them, together at most PAUSE_FIT_RANGE), then to the speech as one tempo factor
that vowels carry more than consonants (``emotion.apply.duration_factors``). The engine renders with the
plan's ``DurationFit`` and makes the clip exact by setting each pause from the audio made so far and
padding or trimming the last segment's tail (``exact_tail``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .emotion.apply import PAUSE_SYMBOLS, duration_factors, token_ids
from .errors import InputError
from .model import SAMPLE_RATE, Prosody
from .model.kokoro import SAMPLES_PER_FRAME, speech_span
from .request import DURATION_FIT_RANGE

PAUSE_FIT_RANGE = (0.5, 2.0)  # pauses change first, by at most this factor; the speech's tempo does the rest
TEMPO_SEARCH = (0.25, 4.0)  # the tempo factor is searched in here (DURATION_FIT_RANGE needs far less)
# The tempo from the token model is refined on the model's own energy curves for the fitted durations (the way
# the natural length is measured): the token model alone left the last segment 0.1-0.25 s off at 0.5x and 2x.
REFINE_STEPS = 3
TAIL_FADE_S = 0.01  # a trimmed tail fades out over this, so the cut does not click


@dataclass(frozen=True)
class DurationFit:
    """How a request's segments are retimed, relative to their natural reading (after speed and emotion).
    Hashable: it is part of the segment cache key."""

    tempo: float = 1.0  # speech-rate factor (>1 faster), vowels carrying more of it than consonants
    pause: float = 1.0  # factor on the pause and punctuation tokens and on the pauses between segments

    @property
    def pause_tokens_factor(self) -> float:
        """``duration_factors``' pause argument: it multiplies the tempo's 1/tempo, so pauses get ``pause``."""
        return self.pause * self.tempo

    def frames(self, tokens: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Natural frames per token (float, T) -> the fitted integer frames, at least one each."""
        factors = duration_factors(tokens, frames, self.tempo, self.pause_tokens_factor)
        return torch.round(frames.float() * factors).clamp(min=1).long()


@dataclass(frozen=True)
class NaturalSegment:
    """One segment's natural timing, from its prosody (``natural_segment``)."""

    tokens: torch.Tensor  # (1, T) with the boundary zeros
    frames: torch.Tensor  # (T,) float natural frames per token: speed (and emotion tempo) applied, unrounded
    speech_frames: int  # the predicted trimmed speech, in frames
    inside: torch.Tensor  # (T,) float: the share of each token's frames inside the speech (the boundary tokens'
    # edge silence is mostly outside: counting all of it made fast fits 0.1-0.25 s too long, slow ones too short)
    pause_after_s: float  # the natural pause after it (0 after the last)

    @property
    def pause_frames(self) -> float:
        """Frames of pause and punctuation tokens inside the speech."""
        pauses = torch.isin(self.tokens[0].cpu(), torch.tensor(token_ids(PAUSE_SYMBOLS)))
        return float((self.frames * self.inside)[pauses].sum())

    def speech_samples(self, fit: DurationFit) -> int:
        """Predicted trimmed speech length under ``fit``."""
        natural = torch.round(self.frames).clamp(min=1).long()
        change = float(((fit.frames(self.tokens, self.frames) - natural) * self.inside).sum())
        return max(1, round((self.speech_frames + change) * SAMPLES_PER_FRAME))


def natural_segment(tokens: torch.Tensor, prosody: Prosody, natural_frames: torch.Tensor,
                    pause_after_s: float) -> NaturalSegment:
    """``prosody``: the segment's prosody as rendered without a fit; ``natural_frames``: its unrounded frames
    per token (the fit scales these, as the renderer does)."""
    start, stop = speech_span(prosody, margin=0, step=1)
    frames = prosody.frames.cpu()
    ends = torch.cumsum(frames, 0)
    overlap = (torch.clamp(ends, max=stop) - torch.clamp(ends - frames, min=start)).clamp(min=0)
    return NaturalSegment(tokens.cpu(), natural_frames.float().cpu(), stop - start, overlap / frames,
                          pause_after_s)


def pause_samples(pause_s: float) -> int:
    """Samples of a pause: how the joined clip, the stream and the duration plan all count it."""
    return int(pause_s * SAMPLE_RATE)


@dataclass(frozen=True)
class DurationPlan:
    fit: DurationFit
    target_samples: int
    natural_s: float
    # where each segment should end in the clip (samples from the start), its following pause included
    planned_ends: tuple[int, ...]

    def pause_after(self, index: int, made: int) -> float:
        """Seconds of pause after segment ``index`` when ``made`` samples (it included) are out: whatever
        brings the clip back to the plan, so an estimate's error does not add up over segments."""
        return max(0, self.planned_ends[index] - made) / SAMPLE_RATE


def natural_samples(segments: list[NaturalSegment]) -> int:
    """The natural length of a text: its segments' predicted trimmed speech and the pauses between them."""
    return sum(seg.speech_samples(DurationFit()) for seg in segments) + \
        sum(pause_samples(seg.pause_after_s) for seg in segments[:-1])


def natural_length_s(segments: list[NaturalSegment]) -> float:
    return natural_samples(segments) / SAMPLE_RATE


def plan_duration(segments: list[NaturalSegment], target_s: float,
                  measure: Callable[[DurationFit], list[int]] | None = None) -> DurationPlan:
    """The fit that makes ``segments`` last ``target_s``; InputError (field duration_s) outside
    DURATION_FIT_RANGE of the natural length, naming it. ``measure``: each segment's predicted trimmed speech
    (samples) under a fit, from the model's curves for it; the tempo is refined on it."""
    gaps = [pause_samples(seg.pause_after_s) for seg in segments[:-1]]
    natural = natural_samples(segments)
    natural_s = natural / SAMPLE_RATE
    low, high = DURATION_FIT_RANGE
    if not low * natural_s <= target_s <= high * natural_s:
        raise InputError(f"duration_s {target_s:g} s is outside {low:g}x-{high:g}x of this text's natural length "
                         f"{natural_s:.2f} s (at this speed): ask for {low * natural_s:.2f}-{high * natural_s:.2f} s",
                         field="duration_s")
    target = round(target_s * SAMPLE_RATE)
    pause_total = sum(gaps) + sum(seg.pause_frames for seg in segments) * SAMPLES_PER_FRAME
    pause = 1.0
    if pause_total > 0:  # pauses first, within their limits
        pause = min(max((pause_total + target - natural) / pause_total, PAUSE_FIT_RANGE[0]), PAUSE_FIT_RANGE[1])
    gaps = [pause_samples(seg.pause_after_s * pause) for seg in segments[:-1]]

    def length(tempo: float) -> int:
        return sum(seg.speech_samples(DurationFit(tempo, pause)) for seg in segments) + sum(gaps)

    # the speech's tempo for the rest: bisection in log tempo (the length falls as the tempo rises)
    lo, hi = math.log(TEMPO_SEARCH[0]), math.log(TEMPO_SEARCH[1])
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if length(math.exp(mid)) > target else (lo, mid)
    fit = DurationFit(round(math.exp((lo + hi) / 2), 4), round(pause, 4))
    speech = [seg.speech_samples(fit) for seg in segments]
    speech_target = max(1, target - sum(gaps))
    for step in range(REFINE_STEPS if measure is not None else 0):
        speech = measure(fit)
        if abs(sum(speech) - speech_target) <= SAMPLES_PER_FRAME // 2 or step == REFINE_STEPS - 1:
            break
        tempo = min(max(fit.tempo * sum(speech) / speech_target, TEMPO_SEARCH[0]), TEMPO_SEARCH[1])
        fit = DurationFit(round(tempo, 4), fit.pause)
    ends, at = [], 0
    for i, length_i in enumerate(speech):
        at += length_i + (gaps[i] if i < len(gaps) else 0)
        ends.append(at)
    return DurationPlan(fit, target, natural_s, tuple(ends))


def exact_tail(audio: np.ndarray, samples: int) -> np.ndarray:
    """The last segment's audio made ``samples`` long: silence added after it, or its tail (the trim's quiet
    margin, when the estimate was close) cut with a short fade-out."""
    samples = max(0, samples)
    if samples >= len(audio):
        return np.concatenate([audio, np.zeros(samples - len(audio), dtype=audio.dtype)])
    cut = audio[:samples].copy()
    fade = min(len(cut), int(TAIL_FADE_S * SAMPLE_RATE))
    if fade:
        cut[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=cut.dtype)
    return cut
