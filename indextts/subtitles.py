"""Subtitles from timed words: cues of readable length, written as SRT or WebVTT.

A cue holds at most MAX_CUE_WIDTH columns (a Han or other wide character takes two, as on screen) and at
most MAX_CUE_S seconds. Cues end at sentence ends, and a sentence too long for one cue is cut at its
punctuation (commas, semicolons...) first, between words only where a clause alone is still too long.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

from .timing import TimedText

MAX_CUE_WIDTH = 42   # columns: the usual broadcast line length
MAX_CUE_S = 7.0
MIN_CUE_S = 0.3      # a cue is shown at least this long (when the next one leaves room)
FORMATS = ("srt", "vtt")
_SENTENCE_END_RE = re.compile(r"[.!?。！？…][\"'”’)\]）」』】]*\s*$")
_CLAUSE_END_RE = re.compile(r"[,;:，；：、—–\-][\"'”’)\]）」』】]*\s*$")


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str


def width(text: str) -> int:
    """Columns ``text`` takes on screen: wide (East Asian) characters count two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def cue_text(words: Sequence[TimedText]) -> str:
    """Words shown as written: their source text with its punctuation, spaces squeezed."""
    return " ".join("".join(w.written or (w.text + " ") for w in words).split())


def cues(words: Sequence[TimedText], max_width: int = MAX_CUE_WIDTH, max_s: float = MAX_CUE_S) -> list[Cue]:
    """The words cut into cues (see the module's docstring), in order, never overlapping."""
    out: list[Cue] = []
    for sentence in _runs(words, _SENTENCE_END_RE):
        for clauses in _pack(_runs(sentence, _CLAUSE_END_RE), max_width, max_s):
            # a clause too long alone: cut between its words
            pieces = [clauses] if _fits(clauses, max_width, max_s) else _pack([[w] for w in clauses], max_width, max_s)
            out += [Cue(run[0].start_s, run[-1].end_s, cue_text(run)) for run in pieces]
    return _spaced(out)


def _runs(words: Sequence[TimedText], ends: re.Pattern) -> list[list[TimedText]]:
    """``words`` cut after each word whose written text ends with ``ends``."""
    runs: list[list[TimedText]] = [[]]
    for w in words:
        runs[-1].append(w)
        if ends.search(w.written or w.text):
            runs.append([])
    return [r for r in runs if r]


def _fits(run: Sequence[TimedText], max_width: int, max_s: float) -> bool:
    return width(cue_text(run)) <= max_width and run[-1].end_s - run[0].start_s <= max_s


def _pack(runs: list[list[TimedText]], max_width: int, max_s: float) -> list[list[TimedText]]:
    """Neighbouring runs joined while they fit one cue (a run that does not fit alone stays alone)."""
    out: list[list[TimedText]] = []
    for run in runs:
        if out and _fits(out[-1] + run, max_width, max_s):
            out[-1] = out[-1] + run
        else:
            out.append(list(run))
    return out


def _spaced(cues_: list[Cue]) -> list[Cue]:
    """Each cue shown at least MIN_CUE_S where the next cue leaves room, never into the next one."""
    out = []
    for k, cue in enumerate(cues_):
        limit = cues_[k + 1].start_s if k + 1 < len(cues_) else cue.start_s + MIN_CUE_S
        end = min(max(cue.end_s, cue.start_s + MIN_CUE_S), max(limit, cue.end_s))
        out.append(Cue(cue.start_s, end, cue.text))
    return out


def _stamp(seconds: float, decimal: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{decimal}{ms:03d}"


def _one_line(text: str) -> str:
    return " ".join(text.replace("-->", "->").split())  # a cue's text cannot hold the timing arrow or blank lines


def to_srt(cues_: Sequence[Cue]) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, a blank line after each."""
    return "".join(f"{k}\n{_stamp(c.start_s, ',')} --> {_stamp(c.end_s, ',')}\n{_one_line(c.text)}\n\n"
                   for k, c in enumerate(cues_, 1))


def to_vtt(cues_: Sequence[Cue]) -> str:
    """WebVTT: the ``WEBVTT`` header, then cues ``HH:MM:SS.mmm --> HH:MM:SS.mmm``; & < > escaped."""
    body = "".join(f"{k}\n{_stamp(c.start_s, '.')} --> {_stamp(c.end_s, '.')}\n{_escaped(_one_line(c.text))}\n\n"
                   for k, c in enumerate(cues_, 1))
    return "WEBVTT\n\n" + body


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def subtitles(words: Sequence[TimedText], fmt: str) -> str:
    """The words as subtitles in ``fmt`` ("srt" or "vtt")."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown subtitle format {fmt!r}; use one of {', '.join(FORMATS)}")
    made = cues(words)
    return to_srt(made) if fmt == "srt" else to_vtt(made)
