"""Reading subtitles: SubRip (.srt) and WebVTT (.vtt) text -> timed cues of plain text (for dubbing).

Lenient about what real files vary in: UTF-8 with or without a BOM (UTF-16 with a BOM too), CRLF or CR line
ends, SRT index lines present or not, ``,`` or ``.`` before the milliseconds, VTT times without hours, the
WEBVTT header and its metadata lines, NOTE / STYLE / REGION blocks, cue identifiers, cue settings after the
times (``align:start line:0``). A cue's lines are joined with spaces; markup is stripped (``<i>``, ``<b>``,
``<v Speaker>``, ``<c.x>``, ``<font ...>``, timestamps inside the text, ASS overrides such as ``{\\an8}``) and
HTML entities decoded, sound descriptions in square brackets dropped (``[MUSIC]``, ``【笑】``; a reading
annotation ``[行](xing2)`` stays), so only what is said is left. A cue with no text left (or only symbols, such as a
music cue's "♪ ♪") is skipped and counted.

Strict about what cannot be guessed: a file with no cue times, a time that cannot be read, a cue that ends
before it starts, text with no time before it. Each is an InputError naming the line (1-based) and the fault.
The format is told from the content (a ``WEBVTT`` first line), never from a file name.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from .errors import InputError
from .subtitles import Cue

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?"
_TIMING_RE = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s+.*)?$")
_VTT_HEADER_RE = re.compile(r"^WEBVTT(?:[ \t].*)?$")
_SKIPPED_BLOCK_RE = re.compile(r"^(?:NOTE|STYLE|REGION)(?:[ \t].*)?$")
# The markup SubRip and WebVTT use (<i>, </b>, <v Speaker>, <c.yellow>, <font color=...>, <lang en>) and VTT's
# timestamps inside a cue (<00:00:01.500>); any other <...> is text ("<today>", "a < b > c") and is kept.
_TAG_RE = re.compile(r"</?(?:[ibus]|font|v|c|lang|ruby|rt|span)(?:[.\s][^<>]*)?>|<(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3}>",
                     re.IGNORECASE)
_ASS_OVERRIDE_RE = re.compile(r"\{\\[^{}]*\}")  # {\an8}, {\i1}
_RUBY_TEXT_RE = re.compile(r"<rt>.*?</rt>", re.IGNORECASE)  # ruby annotations: a reading, not more speech
# Sound descriptions of captions for the deaf ("[MUSIC]", "[door slams]", "【笑】"): not speech. A bracket
# directly followed by "(" is a reading annotation ("[行](xing2)") and stays.
_SOUND_RE = re.compile(r"\[[^\[\]\n]*\](?!\()|【[^【】\n]*】")


@dataclass(frozen=True)
class Subtitles:
    """A parsed subtitle file: its cues in time order (``cue_lines``: the line each cue's times are on)."""

    format: str  # "srt" or "vtt"
    cues: tuple[Cue, ...]
    cue_lines: tuple[int, ...]
    skipped_empty: int  # cues with no text once markup was stripped


def decode(data: bytes | str, field: str | None = None) -> str:
    """File bytes -> text: UTF-8 (a BOM dropped), or UTF-16 when it starts with its BOM."""
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputError(f"line {line}: the subtitle file is not UTF-8 text (byte {exc.start}); save it as UTF-8",
                         field=field) from None


def plain_text(text: str) -> str:
    """A cue's text as it is to be spoken: markup stripped, entities decoded, whitespace squeezed."""
    text = _RUBY_TEXT_RE.sub("", text)
    text = _TAG_RE.sub("", text)
    text = _ASS_OVERRIDE_RE.sub("", text).replace("\\N", " ").replace("\\n", " ")
    text = _SOUND_RE.sub(" ", html.unescape(text))
    return " ".join(text.split())  # &nbsp; becomes U+00A0: split() takes it as a space


def _seconds(hours: str | None, minutes: str, seconds: str, fraction: str | None, line: int,
             field: str | None) -> float:
    if int(minutes) >= 60 or int(seconds) >= 60:
        raise InputError(f"line {line}: minutes and seconds must be below 60 in "
                         f"{hours + ':' if hours else ''}{minutes}:{seconds}", field=field)
    ms = int((fraction or "0").ljust(3, "0"))  # ",5" is half a second
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + ms / 1000


def _stamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def parse_subtitles(data: bytes | str, field: str | None = None) -> Subtitles:
    """SRT or WebVTT content -> ``Subtitles`` (see the module's docstring); InputError (about ``field``)
    naming the line of the first fault."""
    text = decode(data, field).replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if not text.strip():
        raise InputError("the subtitle file is empty", field=field)
    first = next(i for i, line in enumerate(lines) if line.strip())
    fmt = "vtt" if _VTT_HEADER_RE.match(lines[first].strip()) else "srt"
    if not any("-->" in line for line in lines):
        raise InputError(f"line {first + 1}: not a subtitle file: no cue times ('00:00:01,000 --> 00:00:02,500') "
                         f"anywhere; send SubRip (.srt) or WebVTT (.vtt)", field=field)
    found: list[tuple[float, float, str, int]] = []
    skipped = 0
    for start_line, block in _blocks(lines):
        if start_line == first + 1 and fmt == "vtt":
            if any("-->" in line for line in block):
                raise InputError(f"line {start_line + 1}: WebVTT needs a blank line after the WEBVTT header",
                                 field=field)
            continue  # the header and its metadata lines (Kind:, Language:)
        if fmt == "vtt" and _SKIPPED_BLOCK_RE.match(block[0].strip()) and not any("-->" in ln for ln in block):
            continue
        timing = next((k for k, line in enumerate(block) if "-->" in line), None)
        if timing is None:
            what = (f"cue {block[0].strip()} has no times after its number" if block[0].strip().isdigit()
                    else f"text with no cue times before it: {block[0].strip()[:40]!r}")
            raise InputError(f"line {start_line}: {what}", field=field)
        if timing > 1:
            raise InputError(f"line {start_line}: expected a cue number or identifier, then the cue times; "
                             f"found {timing} lines before the times", field=field)
        line_no = start_line + timing
        match = _TIMING_RE.match(block[timing])
        if match is None:
            raise InputError(f"line {line_no}: cannot read the cue times {block[timing].strip()[:60]!r}; write "
                             f"them as 00:01:02,500 --> 00:01:04,000 (WebVTT: 00:01:02.500 or 01:02.500)",
                             field=field)
        start_s = _seconds(*match.group(1, 2, 3, 4), line_no, field)
        end_s = _seconds(*match.group(5, 6, 7, 8), line_no, field)
        if end_s < start_s:
            raise InputError(f"line {line_no}: the cue ends ({_stamp(end_s)}) before it starts ({_stamp(start_s)})",
                             field=field)
        spoken = plain_text(" ".join(block[timing + 1:]))
        if not any(ch.isalnum() for ch in spoken):  # nothing left, or only symbols ("♪ ♪", "...")
            skipped += 1
            continue
        found.append((start_s, end_s, spoken, line_no))
    found.sort(key=lambda cue: cue[0])  # files are nearly always in order; a stray one goes to its time
    return Subtitles(fmt, tuple(Cue(s, e, t) for s, e, t, _ in found), tuple(n for *_, n in found), skipped)


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Runs of non-blank lines with the (1-based) number of their first line."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            if not current:
                blocks.append((number, current))
            current.append(line)
        else:
            current = []
    return blocks
