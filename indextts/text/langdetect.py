"""Per-sentence language: "zh" when it has Han characters (English words inside stay in the zh
sentence and are read by the English G2P there), "en" when it has Latin letters only."""
from __future__ import annotations

import re

HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAN_RE = re.compile(f"[{HAN}]")
LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u024f]")
LANGS = ("en", "zh")


def detect_lang(text: str) -> str | None:
    """"zh", "en", or None when the text has neither Han characters nor Latin letters
    (digits and symbols only: the caller decides from the neighbouring sentences)."""
    if HAN_RE.search(text):
        return "zh"
    if LATIN_RE.search(text):
        return "en"
    return None


def main_lang(text: str) -> str:
    """The language most of ``text`` is in, by spoken syllables (a Han character ~ one, a Latin word ~ 1.5):
    "zh" or "en" (also for text with neither)."""
    han = len(HAN_RE.findall(text))
    latin_words = len(re.findall(r"[A-Za-z\u00c0-\u024f]+", text))
    return "zh" if han > 1.5 * latin_words else "en"


def resolve_langs(sentences: list[str], forced: str = "auto") -> list[str]:
    """One language per sentence. Sentences without letters ("2024.", "3:30!") take the language
    of the nearest sentence before them, else after them, else the document's majority, else en."""
    if forced != "auto":
        if forced not in LANGS:
            raise ValueError(f"lang must be 'auto', 'en' or 'zh', not {forced!r}")
        return [forced] * len(sentences)
    found = [detect_lang(s) for s in sentences]
    known = [x for x in found if x]
    default = max(LANGS, key=known.count) if known else "en"
    out: list[str] = []
    for i, lang in enumerate(found):
        if lang is None:
            before = next((x for x in reversed(found[:i]) if x), None)
            after = next((x for x in found[i + 1:] if x), None)
            lang = before or after or default
        out.append(lang)
    return out
