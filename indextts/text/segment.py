"""Splitting text into sentences, clauses and words. Every splitter is lossless: the pieces
concatenate back to the input, so a segment can always show exactly the text it came from."""
from __future__ import annotations

import re
from typing import Callable

from .langdetect import HAN

# "Dr. Smith", "e.g. this", "J. K. Rowling": a period after these does not end a sentence.
NO_BREAK_BEFORE_PERIOD = frozenset(
    "mr mrs ms dr prof st sr jr mt vs etc e.g i.e viz approx no vol fig ch pp ed jan feb mar apr jun jul "
    "aug sep sept oct nov dec inc ltd co corp dept gen gov sen rep capt lt col sgt rev hon ave blvd rd "
    "u.s u.k a.m p.m".split())
_SENTENCE_END_RE = re.compile(
    r"[.!?]+[\"'”’)\]）」』】]*(?=\s|$)"         # Latin: punctuation then a space or the end
    r"|[。！？]+[\"'”’)\]）」』】]*"             # CJK: no space needed after it
    r"|[!?]+(?=[" + HAN + r"])"                  # ASCII ! ? straight into Chinese
    r"|\n+")
_CLAUSE_END_RE = re.compile(r"(?:(?<!\d)[,:]|[,:](?!\d)|[;，；：、—…])+[\"'”’)\]）」』】]*\s*")
_ENDS_CLAUSE_RE = re.compile(r"[,:;，；：、—…][\"'”’)\]）」』】]*\s*$")
_WORD_RE = re.compile(rf"[{HAN}]+|\S+\s*|\s+")


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at index `dot` belongs to an abbreviation or an initial."""
    word = re.search(r"([\w.]+)$", text[:dot])
    if not word:
        return False
    raw = word.group(1)
    return (raw.lower() in NO_BREAK_BEFORE_PERIOD or (len(raw) == 1 and raw.isupper())
            or re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", raw) is not None)


def split_sentences(text: str) -> list[str]:
    """Split after . ! ? 。！？ and at newlines (not after Mr. / e.g. / initials / inside 3.14)."""
    pieces: list[str] = []
    start = 0
    for m in _SENTENCE_END_RE.finditer(text):
        if m.group().startswith(".") and _is_abbreviation(text, m.start()) and "\n" not in m.group():
            continue
        end = m.end()
        while end < len(text) and text[end] in " \t\r\n":   # keep the whitespace with the left piece
            end += 1
        if end > start:
            pieces.append(text[start:end])
            start = end
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def split_clauses(text: str) -> list[str]:
    """Split after , ; : ，；：、 — … (not inside numbers like 1,000 or 3:30)."""
    pieces: list[str] = []
    start = 0
    for m in _CLAUSE_END_RE.finditer(text):
        if m.end() > start and m.end() < len(text):
            pieces.append(text[start:m.end()])
            start = m.end()
    pieces.append(text[start:])
    return [p for p in pieces if p]


def ends_clause(text: str) -> bool:
    """True when ``text`` ends at a clause break (, ; : — … ， 、 ； ：, then closing quotes)."""
    return _ENDS_CLAUSE_RE.search(text) is not None


def split_words(text: str, cut: Callable[[str], list[str]] | None = None) -> list[str]:
    """Split at spaces; Chinese runs are split into words by `cut` (jieba), never inside a word."""
    pieces: list[str] = []
    for m in _WORD_RE.finditer(text):
        piece = m.group()
        if cut and re.match(f"[{HAN}]", piece):
            words = cut(piece)
            pieces += words if "".join(words) == piece else list(piece)
        elif piece.isspace() and pieces:
            pieces[-1] += piece
        else:
            pieces.append(piece)
    return pieces


def pack(pieces: list[str], fits: Callable[[str], bool]) -> list[str]:
    """Join neighbouring pieces into the longest runs that still fit the budget (a piece alone is
    kept even when it does not fit). A run's end is found by doubling then bisecting, so a thousand
    short pieces cost a few dozen ``fits`` calls, not a thousand: ``fits`` phonemizes its text."""
    return ["".join(pieces[a:b]) for a, b in pack_ranges(len(pieces), lambda a, b: fits("".join(pieces[a:b])))]


def pack_ranges(count: int, fits: Callable[[int, int], bool]) -> list[tuple[int, int]]:
    """``pack`` over piece indices: the runs as (start, end) ranges; ``fits(start, end)`` judges
    pieces[start:end] (for a caller that needs to know where a run sits, not only its text)."""
    out: list[tuple[int, int]] = []
    start = 0
    while start < count:
        good, step = start + 1, 1          # pieces[start:good] is taken; find the longest run that fits
        while good + step <= count and fits(start, good + step):
            good += step
            step *= 2
        bad = min(count + 1, good + step)  # the first end known not to fit (or past the last)
        while bad - good > 1:
            mid = (good + bad) // 2
            if fits(start, mid):
                good = mid
            else:
                bad = mid
        out.append((start, good))
        start = good
    return out
