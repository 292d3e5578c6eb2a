"""Inline reading annotations in the text: ``[行](xing2)``, ``[长大](zhang3 da4)``, ``[Kokoro](/kˈOkəɹO/)``,
``[Kokoro](KOH-ko-ro)`` (misaki's link convention).

The rule for what is an annotation: ``[`` + text without brackets or line breaks + ``](`` starts one,
and it must then be a whole, valid annotation (closed by ``)`` on the same line, a reading that fits
the text), else the request is refused with an error naming it. Brackets not followed directly by
``(`` are ordinary text: ``[1]``, ``[笑]``, ``[sic] (2019)``. A Markdown link, ``[the docs](https://...)``
(a target with a URL scheme, ``www.`` or ``#``), is read as its text: pasted Markdown speaks as it reads."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError
from .readings import Reading, check_fits, parse_reading

_OPEN_RE = re.compile(r"\[([^\[\]\n]*)\]\(")
_CLOSE_RE = re.compile(r"([^()\n]*)\)")
_LINK_RE = re.compile(r"\s*(?:[A-Za-z][A-Za-z0-9+.-]*:|www\.|#)")  # https:, mailto:, www., #anchor
QUOTE_CHARS = 40   # how much of a bad annotation an error quotes


@dataclass(frozen=True)
class Override:
    """A forced reading of ``plain[start:end]`` (offsets into the text with the markup removed)."""
    start: int
    end: int
    reading: Reading

    def shifted(self, by: int) -> "Override":
        return Override(self.start + by, self.end + by, self.reading)


def annotation_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of the annotation markup in ``text``, valid or not (an unclosed one: its ``[text](``),
    so that nothing is matched inside it and a malformed one still reaches ``parse_annotations``."""
    spans = []
    for m in _OPEN_RE.finditer(text):
        close = _CLOSE_RE.match(text, m.end())
        spans.append((m.start(), close.end() if close else m.end()))
    return spans


def parse_annotations(text: str) -> tuple[str, tuple[Override, ...]]:
    """``text`` without the annotation markup, and the overrides it sets (in order, not overlapping).
    InputError(field="text") naming the first malformed annotation."""
    if "](" not in text:
        return text, ()
    plain: list[str] = []
    overrides: list[Override] = []
    size = pos = 0
    while (m := _OPEN_RE.search(text, pos)) is not None:
        close = _CLOSE_RE.match(text, m.end())
        if close is None:
            rest = text[m.start():m.start() + QUOTE_CHARS]
            raise InputError(f"annotation {rest!r} is not closed: write [text](reading) on one line, "
                             "e.g. [行](xing2)", field="text")
        markup, target, written = text[m.start():close.end()], m.group(1), close.group(1)
        if _LINK_RE.match(written):  # a Markdown link: its text is what is read
            plain.append(text[pos:m.start()] + target)
            size += m.start() - pos + len(target)
            pos = close.end()
            continue
        try:
            reading = parse_reading(written)
            check_fits(target, reading)
        except ValueError as e:
            raise InputError(f"annotation {markup[:QUOTE_CHARS]!r}: {e}", field="text") from None
        plain.append(text[pos:m.start()])
        size += m.start() - pos
        overrides.append(Override(size, size + len(target), reading))
        plain.append(target)
        size += len(target)
        pos = close.end()
    plain.append(text[pos:])
    return "".join(plain), tuple(overrides)


def markup(text: str, reading: Reading) -> str:
    """The annotation that reads ``text`` as ``reading``."""
    return f"[{text}]({reading.written()})"
