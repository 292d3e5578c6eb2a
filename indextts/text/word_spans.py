"""Which phonemes say which written word: the link from a segment's tokens back to its source text.

Normalization rewrites the text before the G2P reads it ("$1,250.75" becomes eleven spoken words), so the
G2P's units cannot be looked up in the source directly. Instead the units' texts are aligned with the source
text character by character (case-folded): characters both share anchor the alignment, and a rewritten stretch
("$1,250.75" against "one thousand ... cents") maps as a whole onto the source stretch it replaced. Each unit
then covers a source span; in English the span grows to the whole written word around it (spaces part words),
and units whose spans meet are one written word. Each unit's phonemes are found, in order, in the segment's
phoneme string (one token per phoneme character), which gives each written word its token span.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Sequence

from .g2p import WordReading
from .normalize_en import ABBREVIATIONS
from .vocab import NEAR_MISSES, is_speakable, load_vocab

# Punctuation around a written word that is not part of it ("today." -> "today"); currency and % stay.
_EDGE_PUNCT = ".,;:!?\"'()[]{}<>“”‘’«»…—–-、，。！？；：（）《》「」『』【】"
_TOKEN_RE = re.compile(r"\S+")


@dataclass(frozen=True)
class WordSpan:
    """A word as written and the phonemes that say it."""
    text: str             # the word as written in the segment's text ("$1,250.75")
    start: int            # character offsets of the word in the segment's text
    end: int
    phoneme_start: int    # [phoneme_start, phoneme_end): its characters in the segment's phoneme string, which
    phoneme_end: int      # are its token indices (the model input adds a boundary token before them)


def word_spans(source: str, units: Sequence[WordReading], phonemes: str, lang: str) -> tuple[WordSpan, ...]:
    """The written words of ``source`` (a piece of text as the G2P read it, into ``units``, joined and cleaned
    into ``phonemes``), in order, each with its phoneme span. A written word no unit says (a symbol the voice
    skips) has an empty phoneme span where its neighbours meet."""
    # a word, or a symbol read as one ("&" -> and); punctuation takes part in the alignment only
    spoken = [bool(u.lang) or is_speakable(u.phonemes) for u in units]
    spans = [span for span, said in zip(_source_spans(source, [u.text for u in units]), spoken) if said]
    placed = _phoneme_spans(phonemes, [u.phonemes for u, said in zip(units, spoken) if said])
    tokens = [_trimmed(source, m.start(), m.end()) for m in _TOKEN_RE.finditer(source)] if lang == "en" else []
    tokens = [t for t in tokens if t[0] < t[1]]
    groups: list[list[int]] = []  # [start, end, phoneme_start, phoneme_end]
    lead: int | None = None       # phonemes of leading units nothing written stands for: the next word's
    for (start, end), phoneme_span in zip(spans, placed):
        if start is None:           # nothing written stands for it ("dollars" after "$3.2 million")
            if groups and phoneme_span:
                groups[-1][3] = max(groups[-1][3], phoneme_span[1])
            elif phoneme_span and lead is None:
                lead = phoneme_span[0]
            continue
        if lead is not None and phoneme_span:
            phoneme_span, lead = (lead, phoneme_span[1]), None
        for t_start, t_end in tokens:  # English: the whole written word around it
            if t_start < end and start < t_end or t_start <= start < t_end:
                start, end = min(start, t_start), max(end, t_end)
        if groups and start < groups[-1][1]:  # meets the previous word: the same written word
            group = groups[-1]
            group[1] = max(group[1], end)
            if phoneme_span:
                group[2] = phoneme_span[0] if group[2] < 0 else group[2]
                group[3] = max(group[3], phoneme_span[1])
            continue
        groups.append([start, end, *(phoneme_span or (-1, -1))])
    for t_start, t_end in tokens:  # written words no unit reached: kept, with an empty span
        if not any(g[0] < t_end and t_start < g[1] for g in groups) and any(c.isalnum() for c in source[t_start:t_end]):
            at = sum(1 for g in groups if g[0] < t_start)
            groups.insert(at, [t_start, t_end, -1, -1])
    out: list[WordSpan] = []
    previous_end = 0
    for start, end, p_start, p_end in groups:
        start, end = _trimmed(source, start, end)
        if start >= end:  # only punctuation written for it: its phonemes go to the word before
            if out and p_start >= 0:
                last = out[-1]
                out[-1] = WordSpan(last.text, last.start, last.end, last.phoneme_start, max(last.phoneme_end, p_end))
                previous_end = max(previous_end, p_end)
            continue
        if p_start < 0:
            p_start = p_end = previous_end
        previous_end = max(previous_end, p_end)
        out.append(WordSpan(source[start:end], start, end, p_start, p_end))
    return tuple(out)


def shifted(words: Sequence[WordSpan], offset: int) -> tuple[WordSpan, ...]:
    """``words`` with their character offsets moved by ``offset`` (a piece's words in a longer text)."""
    return tuple(WordSpan(w.text, w.start + offset, w.end + offset, w.phoneme_start, w.phoneme_end) for w in words)


_ABBREVIATIONS_FOLDED = {a.casefold() for a in ABBREVIATIONS}
_DOTTED_LETTERS_RE = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # U.S, p.m: their last dot is theirs too


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and (text[start].isspace() or text[start] in _EDGE_PUNCT):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in _EDGE_PUNCT):
        end -= 1
    if end < len(text) and text[end] == "." and (text[start:end + 1].casefold() in _ABBREVIATIONS_FOLDED
                                                 or _DOTTED_LETTERS_RE.fullmatch(text[start:end])):
        end += 1  # "Dr." and "p.m." keep their dot: it belongs to the word, not to the sentence
    return start, end


def _source_spans(source: str, unit_texts: list[str]) -> list[tuple[int | None, int]]:
    """Each unit's [start, end) in ``source`` ((None, 0) when only inserted text stands for it)."""
    joined, starts = "", []
    for text in unit_texts:
        starts.append(len(joined))
        joined += text + " "
    # where each character of ``joined`` comes from in ``source``: a range (a rewritten stretch maps whole)
    origin: list[tuple[int, int] | None] = [None] * len(joined)
    matcher = SequenceMatcher(None, joined.casefold(), source.casefold(), autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        for i in range(i1, i2):
            if op == "equal":
                origin[i] = (j1 + i - i1, j1 + i - i1 + 1)
            elif op == "replace":
                origin[i] = (j1, j2)
    spans: list[tuple[int | None, int]] = []
    for text, start in zip(unit_texts, starts):
        covered = [origin[i] for i in range(start, start + len(text)) if origin[i] is not None]
        spans.append((min(a for a, _ in covered), max(b for _, b in covered)) if covered else (None, 0))
    return spans


def _cleaned(phonemes: str) -> str:
    """``clean_phonemes`` without its warning (the segment's phonemes were cleaned, and warned about, already)."""
    vocab = load_vocab()
    kept = "".join(c for ch in phonemes for c in (ch if ch in vocab else NEAR_MISSES.get(ch, ch)) if c in vocab)
    return " ".join(kept.split())


def unit_phoneme_spans(phonemes: str, unit_phonemes: Sequence[str]) -> list[tuple[int, int] | None]:
    """Each unit's [start, end) in a segment's ``phonemes`` (its token indices), or None where not found:
    the units are the G2P's spoken units in reading order (see ``_phoneme_spans``)."""
    return _phoneme_spans(phonemes, list(unit_phonemes))


def _phoneme_spans(phonemes: str, unit_phonemes: list[str]) -> list[tuple[int, int] | None]:
    """Each unit's [start, end) in ``phonemes``, found in order: a unit is found right after the previous one
    (only spaces and punctuation between). A unit not found there (read otherwise in context) is None, unless
    the next one is found a little further on: then the phonemes between are the missing units', shared by
    their lengths."""
    out: list[tuple[int, int] | None] = []
    missing: list[int] = []
    pos = 0
    for k, raw in enumerate(unit_phonemes):
        wanted = _cleaned(raw)
        at = phonemes.find(wanted, pos) if wanted else -1
        gap = phonemes[pos:at] if at >= 0 else ""
        expected = sum(len(_cleaned(unit_phonemes[m])) for m in missing)
        if at < 0 or is_speakable(gap) and not (missing and len(gap.strip()) <= 2 * expected + 4):
            out.append(None)
            missing.append(k)
            continue
        if missing and is_speakable(gap):
            _share(out, missing, pos + len(gap) - len(gap.lstrip()), pos + len(gap.rstrip()),
                   [max(1, len(_cleaned(unit_phonemes[m]))) for m in missing])
        missing = []
        out.append((at, at + len(wanted)))
        pos = at + len(wanted)
    return out


def _share(out: list[tuple[int, int] | None], units: list[int], start: int, end: int, weights: list[int]) -> None:
    """[start, end) cut among ``units`` in proportion to ``weights``."""
    total, at = sum(weights), start
    for k, (unit, weight) in enumerate(zip(units, weights)):
        stop = end if k == len(units) - 1 else min(end, at + round((end - start) * weight / total))
        out[unit] = (at, stop) if stop > at else None
        at = stop
