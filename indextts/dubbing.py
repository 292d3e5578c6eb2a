"""Dubbing: subtitle cues -> one audio track where each cue is spoken in its own time slot.

A cue's slot runs from its start until its end or the next cue's start, whichever is first. Its natural
length is the engine's duration plan for its text (``Engine.natural_length_s``: the predictor only, no audio),
so the whole table of natural and target lengths is known before anything is rendered.

Fit modes (``DubOptions.fit``):

- ``shrink`` (default): a cue that fits its slot is spoken at its natural pace; one that does not is sped up
  (``duration_s``) to end exactly at its slot's end, up to 2x.
- ``fill``: every cue is stretched or compressed to its slot, within 0.5x-2x of its natural length (a cue
  whose slot is over twice its natural length is spoken at 0.5x, then silence).

A cue too long even at 2x (status ``too_long``) is spoken at 2x and runs past its slot: never clipped. When
it runs into the next cue, the next cue waits until it has finished (plus ``OVERRUN_GAP_S``) and so on; every
cue's real start and end in the track are reported (``delay_s``, ``overrun_s``). ``on_overflow: "error"``
refuses the whole job before any rendering instead, listing every such cue.

Limits: at most MAX_CUES cues and MAX_TRACK_S seconds of track (the last cue's end).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from .errors import Cancelled, InputError
from .model_facts import SAMPLE_RATE
from .request import DURATION_FIT_RANGE, SynthesisRequest
from .subtitles import Cue

FIT_MODES = ("shrink", "fill")
OVERFLOW_MODES = ("report", "error")
MAX_CUES = 1000
MAX_TRACK_S = 1800.0  # 30 minutes: the float32 track is ~170 MB at 24 kHz
# A cue rendered at its natural pace can come out a frame or two longer than predicted (the duration plan
# matched the trimmed audio within 1.5 frames of 12.5 ms): a cue this close to its slot's end is fitted to the
# slot exactly instead, so it ends in time.
NATURAL_MARGIN_S = 0.05
# The engine checks duration_s against 0.5x-2x of the natural length it predicts again when rendering; the
# plan's extremes stay this far inside so a rounding difference cannot turn them into an error.
EDGE_MARGIN = 1e-3
OVERRUN_GAP_S = 0.1  # a cue that waits for an overrunning one starts this long after it ends


@dataclass(frozen=True)
class DubOptions:
    fit: str = "shrink"  # FIT_MODES
    on_overflow: str = "report"  # OVERFLOW_MODES: "report" speaks a too-long cue at 2x, "error" refuses the job

    def __post_init__(self) -> None:
        if self.fit not in FIT_MODES:
            raise InputError(f"unknown fit {self.fit!r}; use one of {', '.join(FIT_MODES)}", field="fit")
        if self.on_overflow not in OVERFLOW_MODES:
            raise InputError(f"unknown on_overflow {self.on_overflow!r}; use one of {', '.join(OVERFLOW_MODES)}",
                             field="on_overflow")


@dataclass(frozen=True)
class CuePlan:
    """One cue's row in the dubbing table; ``rendered_*`` are set once it is in the track."""

    index: int  # 1-based, in time order
    start_s: float
    end_s: float
    slot_s: float  # from its start until min(its end, the next cue's start)
    text: str
    natural_s: float  # its speech at the natural pace (the duration plan's prediction)
    target_s: float  # the length it is spoken in
    factor: float  # natural_s / target_s: above 1 faster than natural
    status: str  # "fits" (natural pace), "fitted" (retimed to its slot), "too_long" (2x and still over)
    rendered_start_s: float | None = None
    rendered_end_s: float | None = None

    @property
    def needed_factor(self) -> float:
        """The speed-up that would have fitted the slot."""
        return self.natural_s / self.slot_s if self.slot_s > 0 else float("inf")

    @property
    def delay_s(self) -> float:
        """How late it starts because an earlier cue ran over (0 before rendering)."""
        return max(0.0, (self.rendered_start_s or self.start_s) - self.start_s)

    @property
    def overrun_s(self) -> float:
        """How far past its end time it is heard (0 before rendering)."""
        return max(0.0, (self.rendered_end_s or 0.0) - self.end_s)

    def as_json(self) -> dict[str, Any]:
        row = {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}
        if self.rendered_end_s is not None:
            row.update(delay_s=round(self.delay_s, 3), overrun_s=round(self.overrun_s, 3))
        return row

    def too_long_summary(self) -> dict[str, Any]:
        """What a client needs to fix a too-long cue (no text: it goes into a header)."""
        return {"index": self.index, "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
                "natural_s": round(self.natural_s, 3),
                "needed_factor": round(self.needed_factor, 2) if self.slot_s > 0 else None}  # None: no slot


@dataclass(frozen=True)
class DubResult:
    audio: np.ndarray  # float32 mono at ``sample_rate``
    sample_rate: int
    cues: list[CuePlan]
    compute_s: float

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def too_long(self) -> list[CuePlan]:
        return [c for c in self.cues if c.status == "too_long"]

    @property
    def late(self) -> list[CuePlan]:
        """Cues that start after their start time because an earlier one ran over."""
        return [c for c in self.cues if c.delay_s > 0.0005]


def check_limits(cues: Sequence[Cue], field: str | None = None) -> None:
    """The job's size: at least one cue, at most MAX_CUES, the last ending by MAX_TRACK_S."""
    if not cues:
        raise InputError("the subtitles have no cue with text to speak", field=field)
    if len(cues) > MAX_CUES:
        raise InputError(f"the subtitles have {len(cues)} cues; at most {MAX_CUES} are dubbed at once: split the "
                         f"file", field=field)
    end = max(c.end_s for c in cues)
    if end > MAX_TRACK_S:
        raise InputError(f"the subtitles run to {end:.0f} s; a dubbed track is at most {MAX_TRACK_S:.0f} s "
                         f"({MAX_TRACK_S / 60:.0f} min): split the file", field=field)


def slots(cues: Sequence[Cue]) -> list[float]:
    """Each cue's slot: from its start until its end or the next cue's start, whichever comes first."""
    return [max(0.0, min(c.end_s, cues[k + 1].start_s if k + 1 < len(cues) else c.end_s) - c.start_s)
            for k, c in enumerate(cues)]


def cue_target(natural_s: float, slot_s: float, fit: str) -> tuple[float, str]:
    """(the length a cue is spoken in, its status) for its natural length and slot."""
    low, high = DURATION_FIT_RANGE
    fastest = natural_s * low * (1 + EDGE_MARGIN)
    if slot_s < fastest:
        return fastest, "too_long"
    if fit == "fill":
        return min(slot_s, natural_s * high * (1 - EDGE_MARGIN)), "fitted"
    if natural_s <= slot_s - NATURAL_MARGIN_S:
        return natural_s, "fits"
    return slot_s, "fitted"


def cue_request(template: SynthesisRequest, cue: Cue | CuePlan) -> SynthesisRequest:
    """The template (voice, speed, language, emotion) with the cue's text."""
    return template.but(text=cue.text, duration_s=None)


def plan(engine, cues: Sequence[Cue], template: SynthesisRequest, options: DubOptions = DubOptions(),
         cancelled: Callable[[], bool] = lambda: False) -> list[CuePlan]:
    """The dubbing table: each cue's slot, natural length (predicted, no audio) and target, in time order.
    ``on_overflow: "error"`` with a cue too long even at 2x: InputError listing every such cue."""
    check_limits(cues)
    rows = []
    for k, (cue, slot_s) in enumerate(zip(cues, slots(cues))):
        if cancelled():
            raise Cancelled("the dubbing plan was stopped")
        try:
            natural_s = engine.natural_length_s(cue_request(template, cue))
        except InputError as exc:
            raise InputError(f"cue {k + 1} ({cue.text[:40]!r}): {exc}", field=exc.field) from None
        target_s, status = cue_target(natural_s, slot_s, options.fit)
        rows.append(CuePlan(k + 1, cue.start_s, cue.end_s, slot_s, cue.text, natural_s, target_s,
                            natural_s / target_s if target_s else 1.0, status))
    if options.on_overflow == "error":
        too_long = [r for r in rows if r.status == "too_long"]
        if too_long:
            raise InputError(overflow_message(too_long), field="on_overflow")
    return rows


def overflow_message(too_long: Sequence[CuePlan]) -> str:
    listed = "; ".join(f"#{c.index} {c.start_s:.3f}-{c.end_s:.3f} s (slot {c.slot_s:.2f} s, natural "
                       f"{c.natural_s:.2f} s, needs {c.needed_factor:.2f}x)" if c.slot_s > 0 else
                       f"#{c.index} {c.start_s:.3f}-{c.end_s:.3f} s (no time at all: it starts where it ends or "
                       f"where the next cue starts)" for c in too_long)
    return (f"{len(too_long)} cue(s) are too long for their slot even at 2x: {listed}. Shorten their text, "
            f"widen their times, or send on_overflow \"report\" to speak them at 2x past their end")


def render(engine, cues: Sequence[Cue], template: SynthesisRequest, options: DubOptions = DubOptions(),
           progress: Callable[[int, int], None] | None = None, cancelled: Callable[[], bool] = lambda: False,
           plans: Sequence[CuePlan] | None = None) -> DubResult:
    """The dubbed track: each cue's speech placed at its start (later when an earlier cue ran over), silence
    elsewhere; the table with each cue's real start and end. ``plans``: the table from ``plan`` when the
    caller has it already. ``progress(done, total)`` after each cue; ``cancelled()`` is asked before each
    cue (Cancelled when it says so)."""
    started = time.perf_counter()
    rows = list(plans) if plans is not None else plan(engine, cues, template, options, cancelled)
    placed: list[tuple[int, np.ndarray]] = []
    free_from = 0  # the first sample no earlier cue's speech reaches
    done = []
    for k, row in enumerate(rows):
        if cancelled():
            raise Cancelled(f"dubbing stopped after {k} of {len(rows)} cues")
        fitted = None if row.status == "fits" else row.target_s
        audio = engine.synthesize(cue_request(template, row).but(duration_s=fitted)).audio
        at = round(row.start_s * SAMPLE_RATE)
        if at < free_from:  # the previous cue ran over: this one waits for it
            at = free_from + round(OVERRUN_GAP_S * SAMPLE_RATE)
        placed.append((at, audio))
        free_from = at + len(audio)
        done.append(replace(row, rendered_start_s=at / SAMPLE_RATE, rendered_end_s=free_from / SAMPLE_RATE))
        if progress is not None:
            progress(k + 1, len(rows))
    length = max([free_from, round(max((r.end_s for r in rows), default=0) * SAMPLE_RATE)])
    track = np.zeros(length, dtype=np.float32)
    for at, audio in placed:
        track[at:at + len(audio)] = audio
    return DubResult(track, SAMPLE_RATE, done, time.perf_counter() - started)


def summary(result_or_rows: DubResult | Sequence[CuePlan]) -> dict[str, Any]:
    """Counts for headers and status lines: cues, too long, late, the track's length (rendered only)."""
    rows = result_or_rows.cues if isinstance(result_or_rows, DubResult) else list(result_or_rows)
    out = {"cue_count": len(rows), "too_long": sum(r.status == "too_long" for r in rows),
           "fitted": sum(r.status == "fitted" for r in rows),
           "late": sum(r.delay_s > 0.0005 for r in rows)}
    if isinstance(result_or_rows, DubResult):
        out["duration_s"] = round(result_or_rows.duration_s, 3)
    return out


def table_lines(rows: Sequence[CuePlan]) -> list[str]:
    """The cue table as text (the CLI's): # / start / end / natural / target / status, then the text."""
    lines = [f"{'#':>4} {'start':>9} {'end':>9} {'natural':>8} {'target':>8}  {'status':9} text"]
    for r in rows:
        where = f"  (heard {r.rendered_start_s:.2f}-{r.rendered_end_s:.2f} s)" if r.rendered_end_s is not None \
            and (r.delay_s > 0.0005 or r.overrun_s > 0.0005) else ""
        lines.append(f"{r.index:>4} {r.start_s:>8.2f}s {r.end_s:>8.2f}s {r.natural_s:>7.2f}s {r.target_s:>7.2f}s  "
                     f"{r.status:9} {r.text[:60]}{where}")
    return lines
