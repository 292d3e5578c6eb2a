"""Glossary entries (a term and how to read it) and applying them to a text as inline annotations.

Matching rules (``annotate``):
- the longest term wins where terms overlap; among terms starting at the same place the longer one,
  and the leftmost match first (then the text after it is searched again);
- a term that begins or ends with a Latin letter or digit matches whole words only at that end (it must
  not touch another Latin letter or digit there: "Kokoro" matches in "Kokoro's" and "Kokoro很好", not
  in "Kokoros"); Han characters match anywhere;
- case: a term whose letters after the first are all lower case matches in any case ("Kokoro" reads
  "kokoro", "KOKORO"); a term with capitals beyond its first letter ("iOS", "NASA", "McDonald")
  matches only as written;
- text already inside an inline annotation is never matched.
The result is deterministic: same text and entries, same output."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Sequence

from ..errors import InputError
from .annotations import annotation_spans
from .readings import Reading, parse_for

LANGS = ("zh", "en")
MAX_TERM_CHARS = 100
_LATIN_END = r"A-Za-z0-9\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_LATIN_END_RE = re.compile(f"[{_LATIN_END}]")


@dataclass(frozen=True)
class GlossaryEntry:
    term: str
    lang: str        # "zh" | "en": the language of the reading
    reading: str     # normalized written form: "xing2 zhang3", "/kˈOkəɹO/", "KOH-ko-ro"


def check_entry(term: str, lang: str, reading: str) -> GlossaryEntry:
    """A validated, normalized entry. zh: TONE3 pinyin, one syllable per Han character of the term
    (a term without Han characters, like "2024", takes any number of syllables). en: Kokoro phonemes
    between slashes or a respelling. InputError with field "term", "lang" or "reading"."""
    if not isinstance(term, str) or not term.strip():
        raise InputError("the glossary term is empty", field="term")
    term = " ".join(term.split())
    if len(term) > MAX_TERM_CHARS:
        raise InputError(f"the glossary term is longer than {MAX_TERM_CHARS} characters", field="term")
    if any(c in "[]()" for c in term):
        raise InputError(f"the glossary term {term!r} has a bracket or parenthesis in it", field="term")
    if lang not in LANGS:
        raise InputError(f"the glossary language must be 'zh' or 'en', not {lang!r}", field="lang")
    if not isinstance(reading, str):
        raise InputError("the reading must be text", field="reading")
    parsed = parse_for(term, reading, field="reading")
    if parsed.lang != lang:
        want = ("TONE3 pinyin with tone numbers, e.g. 'xing2 zhang3'" if lang == "zh"
                else "Kokoro phonemes between slashes ('/kˈOkəɹO/') or a respelling ('KOH-ko-ro')")
        raise InputError(f"reading of {term!r}: a {lang} reading is {want}, not {reading.strip()!r}", field="reading")
    return GlossaryEntry(term, lang, parsed.written())


def entry_reading(entry: GlossaryEntry) -> Reading:
    """The entry's reading as a value (entries come from ``check_entry``, so it parses)."""
    return parse_for(entry.term, entry.reading, field="reading")


def _case_sensitive(term: str) -> bool:
    return any(c.isupper() for c in term[1:])


def _pattern(term: str) -> str:
    body = re.escape(term).replace(r"\ ", r"\s+")   # a space in a term matches any run of spaces
    if not _case_sensitive(term):
        body = f"(?i:{body})"
    head = f"(?<![{_LATIN_END}])" if _LATIN_END_RE.match(term[0]) else ""
    tail = f"(?![{_LATIN_END}])" if _LATIN_END_RE.match(term[-1]) else ""
    return head + body + tail


@functools.lru_cache(maxsize=32)   # the same glossary is applied to request after request
def _matcher(entries: tuple[GlossaryEntry, ...]) -> tuple[re.Pattern, list[GlossaryEntry]]:
    """One regex, terms longest first (Python tries alternatives in order: the first that matches at
    a place is the longest); equal lengths keep the entries' order."""
    ordered = sorted(enumerate(entries), key=lambda ie: (-len(ie[1].term), ie[0]))
    kept = [e for _, e in ordered]
    return re.compile("|".join(f"({_pattern(e.term)})" for e in kept)), kept


def annotate(text: str, entries: Sequence[GlossaryEntry]) -> str:
    """``text`` with each glossary match wrapped as an inline annotation ``[match](reading)``."""
    if not entries or not text:
        return text
    pattern, ordered = _matcher(tuple(entries))
    out: list[str] = []
    pos = 0
    for start, end in [*annotation_spans(text), (len(text), len(text))]:
        for m in pattern.finditer(text, pos, start):
            entry = ordered[m.lastindex - 1]
            out += [text[pos:m.start()], f"[{m.group()}]({entry.reading})"]
            pos = m.end()
        out.append(text[pos:end])
        pos = end
    return "".join(out)

