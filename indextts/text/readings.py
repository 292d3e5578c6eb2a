"""Readings a user sets for a stretch of text, in their written form, checked and normalized.

Three forms, told apart by their shape (the shape also decides the language):
- TONE3 pinyin, Mandarin: ``xing2``, ``zhang3 da4`` (tones 1-4, 5 = neutral; ü as v, u: or ü);
- Kokoro phonemes between slashes, English: ``/kˈOkəɹO/`` (every symbol in Kokoro's vocabulary);
- a respelling in plain words, English: ``KOH-ko-ro``, ``eye kee uh`` (letters, hyphens between the
  syllables of a word, apostrophes; a syllable in capitals carries the stress).
This module knows nothing of G2P: it says whether a reading is well formed and fits the text it reads."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..errors import InputError
from .langdetect import HAN_RE
from .vocab import load_vocab

PINYIN, PHONEMES, RESPELLING = "pinyin", "phonemes", "respelling"
_SYLLABLE_RE = re.compile(r"([a-zü:]+)(\d*)")
_RESPELL_WORD_RE = re.compile(r"[A-Za-z']+(?:-[A-Za-z']+)*")
# Symbols people type for a vocab symbol that looks the same (ASCII g for the IPA ɡ).
_PHONEME_LOOKALIKES = {"g": "ɡ", "'": "ˈ", "ˑ": "ː", ":": "ː"}
MAX_READING_CHARS = 200


@dataclass(frozen=True)
class Reading:
    """A checked reading. ``value`` is the normalized written form without slashes: 'xing2 zhang3',
    'kˈOkəɹO', 'KOH-ko-ro'."""
    kind: str          # PINYIN | PHONEMES | RESPELLING
    value: str

    @property
    def lang(self) -> str:
        return "zh" if self.kind == PINYIN else "en"

    @property
    def syllables(self) -> tuple[str, ...]:
        """TONE3 syllables of a pinyin reading; () for the English forms."""
        return tuple(self.value.split()) if self.kind == PINYIN else ()

    def written(self) -> str:
        """The form to write inside an inline annotation: ``[text](written)``."""
        return f"/{self.value}/" if self.kind == PHONEMES else self.value


@functools.cache
def pinyin_syllables() -> frozenset[str]:
    """Every toneless Mandarin syllable pypinyin knows a character for (ü written v): ~420 of them."""
    from pypinyin.contrib.tone_convert import to_normal
    from pypinyin.pinyin_dict import pinyin_dict
    return frozenset(to_normal(r, v_to_u=False) for v in pinyin_dict.values() for r in v.split(","))


def parse_reading(written: str) -> Reading:
    """The reading ``written`` stands for; ValueError with a message naming the bad syllable or
    phoneme (callers wrap it in an InputError for their field)."""
    text = " ".join(written.split())
    if not text:
        raise ValueError("the reading is empty")
    if len(text) > MAX_READING_CHARS:
        raise ValueError(f"the reading is longer than {MAX_READING_CHARS} characters")
    if text.startswith("/") or text.endswith("/"):
        return Reading(PHONEMES, _check_phonemes(text))
    if any(c.isdigit() for c in text):
        return Reading(PINYIN, _check_pinyin(text))
    if all(_RESPELL_WORD_RE.fullmatch(w) for w in text.split()):
        return Reading(RESPELLING, text)
    bad = sorted({c for c in text if not (c.isascii() and (c.isalpha() or c in "-' "))})
    raise ValueError(f"{text!r} is not a reading: write TONE3 pinyin ('xing2'), Kokoro phonemes between "
                     "slashes ('/kˈOkəɹO/') or a respelling in letters and hyphens ('KOH-ko-ro')"
                     + (f"; it has {' '.join(map(repr, bad))}" if bad else ""))


def _check_phonemes(text: str) -> str:
    if len(text) < 3 or not (text.startswith("/") and text.endswith("/")):
        raise ValueError(f"phonemes go between two slashes ('/kˈOkəɹO/'), not {text!r}")
    vocab = load_vocab()
    inner = "".join(_PHONEME_LOOKALIKES.get(c, c) if c not in vocab else c for c in text[1:-1].strip())
    bad = sorted({c for c in inner if c not in vocab})
    if bad:
        raise ValueError(f"phoneme(s) {' '.join(repr(c) for c in bad)} in {text!r} are not Kokoro phonemes")
    if not any(c.isalpha() for c in inner):
        raise ValueError(f"the phonemes {text!r} have no sound in them")
    return " ".join(inner.split())


def _check_pinyin(text: str) -> str:
    out: list[str] = []
    for word in text.lower().split():
        m = _SYLLABLE_RE.fullmatch(word)
        if not m:
            raise ValueError(f"{word!r} is not a pinyin syllable: write letters then a tone number 1-5 ('xing2')")
        base, tone = m.group(1).replace("ü", "v").replace("u:", "v"), m.group(2)
        if not tone:
            raise ValueError(f"pinyin syllable {word!r} has no tone number (1-5, 5 for the neutral tone)")
        if tone not in ("1", "2", "3", "4", "5"):
            raise ValueError(f"pinyin syllable {word!r} has tone {tone}; tones are 1-4, 5 for the neutral tone")
        if base not in pinyin_syllables():
            raise ValueError(f"{word!r} is not a Mandarin syllable")
        out.append(base + tone)
    return " ".join(out)


def check_fits(text: str, reading: Reading) -> None:
    """ValueError when ``reading`` cannot read ``text``: pinyin over Han characters needs one syllable
    per character, and only Han characters (pinyin over digits or Latin reads the whole text, any
    count); a respelling cannot read Han characters (it is pinyin without tone numbers, most likely)."""
    if not text.strip():
        raise ValueError("the text to read is empty")
    if any(c in "[]()\n" for c in text):
        raise ValueError(f"{text!r} has a bracket, a parenthesis or a line break in it")
    han = HAN_RE.findall(text)
    if reading.kind == PINYIN and han:
        if len(han) != len(text):
            raise ValueError(f"{text!r} mixes Han characters with other characters: give the Han characters "
                             "a reading of their own")
        if len(reading.syllables) != len(han):
            raise ValueError(f"{text!r} has {len(han)} Han character(s) but the reading {reading.value!r} has "
                             f"{len(reading.syllables)} syllable(s): write one syllable per character")
    if reading.kind == RESPELLING and han:
        raise ValueError(f"{text!r} is Chinese: its reading is pinyin with tone numbers ('xing2'), "
                         f"not {reading.value!r}")


def parse_for(text: str, written: str, field: str) -> Reading:
    """``written`` checked as the reading of ``text``; InputError(field) naming what is wrong."""
    try:
        reading = parse_reading(written)
        check_fits(text, reading)
    except ValueError as e:
        raise InputError(f"reading of {text!r}: {e}", field=field) from None
    return reading
