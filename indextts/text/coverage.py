"""Which characters of a text the engine can read, and a description of the ones it cannot.

The engine reads English (Latin letters) and Mandarin (Han characters), digits and the punctuation and
symbols the normalizers know. Letters of any other script (kana, hangul, Cyrillic, Arabic, Thai...) are
skipped by the G2P: this module finds them so the caller can say so (an error when nothing else is
left, a warning otherwise) instead of answering with silently shorter audio. Symbols and emoji are not
reported: they are not text in a language the user expects to hear."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .langdetect import HAN_RE

SUPPORTED = "English and Mandarin Chinese"
# unicodedata name prefixes -> what a user calls the script
SCRIPT_NAMES = {"HIRAGANA": "Japanese kana", "KATAKANA": "Japanese kana", "KATAKANA-HIRAGANA": "Japanese kana",
                "HANGUL": "Korean hangul", "CJK": "Chinese characters", "ARABIC-INDIC": "Arabic-Indic digits",
                "EXTENDED": "Arabic-Indic digits", "IDEOGRAPHIC": "CJK ideographic marks"}
SAMPLE_CHARS = 24  # how much of each script a message quotes


def fold_latin(ch: str) -> str:
    """A Latin letter or digit outside the ranges the G2Ps take (ệ, ｈ, ﬁ, １) as the ASCII it decomposes
    to; '' when it has no such form. Only letters and digits are folded, never symbols."""
    if not (unicodedata.category(ch)[0] == "L" or unicodedata.category(ch) == "Nd"):
        return ""
    folded = "".join(c for c in unicodedata.normalize("NFKD", ch) if c.isascii())
    return folded if folded.isalnum() else ""


_BEYOND_LATIN_RE = re.compile(r"[^\x00-\u024f]")


def fold_latin_text(text: str) -> str:
    """``text`` with every letter or digit that ``fold_latin`` can fold replaced by its ASCII form."""
    return _BEYOND_LATIN_RE.sub(lambda m: fold_latin(m.group()) or m.group(), text)


def _is_latin(ch: str) -> bool:
    """The Latin the G2Ps read: ASCII, Latin-1 to Latin Extended-B, and what folds to ASCII."""
    return ch <= "\u024f" or bool(fold_latin(ch))


def readable(ch: str, lang: str = "auto") -> bool | None:
    """True/False for a letter or digit the engine does / does not read in ``lang`` ("en" reads no
    Han); None for everything else (spaces, punctuation, symbols, emoji, combining marks)."""
    category = unicodedata.category(ch)
    if category[0] != "L" and category != "Nd":
        return None
    if HAN_RE.match(ch):
        return lang != "en"
    return _is_latin(ch)


def script_name(ch: str) -> str:
    """'Japanese kana', 'Korean hangul', 'Cyrillic', 'Arabic'... for a character."""
    words = [w for w in unicodedata.name(ch, "UNKNOWN").split() if w not in ("HALFWIDTH", "FULLWIDTH", "SMALL")]
    first = words[0] if words else "UNKNOWN"
    if HAN_RE.match(ch):
        return "Chinese characters"
    return SCRIPT_NAMES.get(first, first.title())


@dataclass(frozen=True)
class Unreadable:
    """The characters of a text the engine skips: runs of one script, in text order."""

    runs: tuple[tuple[str, str], ...] = ()   # (script name, the run as written)
    lang: str = "auto"

    def __bool__(self) -> bool:
        return bool(self.runs)

    @property
    def count(self) -> int:
        return sum(len(run) for _, run in self.runs)

    @property
    def scripts(self) -> list[str]:
        return list(dict.fromkeys(script for script, _ in self.runs))

    def summary(self) -> str:
        """'Japanese kana: こんにちは; Cyrillic: Привет мир' (each script quoted up to SAMPLE_CHARS)."""
        parts = []
        for script in self.scripts:
            quoted = " ".join(run for name, run in self.runs if name == script)
            if len(quoted) > SAMPLE_CHARS:
                quoted = quoted[:SAMPLE_CHARS].rstrip() + "…"
            parts.append(f"{script}: {quoted}")
        return "; ".join(parts)

    def _hint(self) -> str:
        if self.lang == "en" and "Chinese characters" in self.scripts:
            return " (lang is en, which reads no Chinese characters: use lang zh or auto)"
        return ""

    def warning(self) -> str:
        """For a text that was spoken without these characters."""
        n = self.count
        return (f"skipped {n} character{'s' if n != 1 else ''} the engine cannot read ({self.summary()}); "
                f"it reads {SUPPORTED}{self._hint()}")

    def error(self) -> str:
        """For a text with nothing else to speak."""
        return (f"the text has nothing the engine can read ({self.summary()}): it reads {SUPPORTED} "
                f"only{self._hint()}")


def find_unreadable(text: str, lang: str = "auto") -> Unreadable:
    """The letters and digits of ``text`` the engine skips when reading it in ``lang`` (auto: each
    sentence in its own language, so Han is read)."""
    runs: list[tuple[str, str]] = []
    current: list[str] = []
    script = ""
    for ch in text:
        ok = readable(ch, lang)
        if ok is False:
            name = script_name(ch)
            if current and name != script:
                runs.append((script, "".join(current)))
                current = []
            script = name
            current.append(ch)
        elif ok is None and current and unicodedata.category(ch)[0] == "M":
            current.append(ch)  # a vowel sign or accent of the skipped script belongs to its run
        elif current:
            runs.append((script, "".join(current)))
            current = []
    if current:
        runs.append((script, "".join(current)))
    return Unreadable(tuple(runs), lang)
