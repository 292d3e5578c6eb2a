"""Grapheme-to-phoneme for the two languages, in Kokoro's phoneme set.

- English: hibari's offline port of misaki's English G2P, plus a small acronym table.
- Mandarin: misaki's original (v1.0) Chinese G2P, i.e. jieba words -> pypinyin -> misaki's
  pinyin-to-IPA, done here word by word so polyphones can be fixed and Latin runs inside
  Chinese (brand names, acronyms) go to the English G2P instead of being dropped."""
from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from typing import Sequence

from .langdetect import HAN
from .oov import OovSplitter
from .polyphones import WORD_PINYIN, fix_polyphones

log = logging.getLogger(__name__)

# Acronyms hibari reads badly: respelled as words, or forced to letters ("the WHO" is not "who").
RESPELL = {"JSON": "Jason", "YAML": "yammel", "README": "read me", "IKEA": "eye kee uh",
           "CUDA": "cooda", "Nginx": "engine x", "GUI": "gooey", "Huawei": "wah way",
           "Xiaomi": "shao me", "Qwen": "chwen", "Taobao": "tao bao", "Bilibili": "billy billy",
           "LaTeX": "lay tech", "SUV": "S U V"}
FORCE_LETTERS = frozenset({"AWS", "WHO", "US", "IT", "LED", "ID", "AM", "PM", "CAD", "CAT", "PET",
                           "SAT", "ROM", "OCR", "TTS", "ASR", "NLP", "GPS", "MAC", "DOS"})
_ACRONYM_RE = re.compile(r"(?<![\w\[])([A-Z]{2,6}|" + "|".join(map(re.escape, RESPELL)) + r")(s?)(?![\w\]])")
# English voiceless stops before a vowel are aspirated (pʰ tʰ kʰ), except after s. In Kokoro's Mandarin
# phonemes a bare p/t/k is the unaspirated b/d/g of pinyin, so a Mandarin voice reads English "Python"
# as "baifang" and "PDF" as "BDF": inside Chinese they are written aspirated, as pinyin p/t/k are.
_EN_VOWELS = "AIOWYaeiouæɐɑɒɔəɚɛɜɪʊʌᵊ"
_EN_ASPIRATED_RE = re.compile(rf"(?<![sʰ])([ptk])(?=[lɹwj]?[ˈˌ]?[{_EN_VOWELS}])")
_NON_LATIN_RE = re.compile(r"[^\x00-\x7f\u00a0-\u024f\u2018-\u201d\u2014\u2026%$€£¥°]")

# Chinese: Han runs, Latin runs (words joined by spaces/hyphens stay together), punctuation.
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"   # letters, without × and ÷
_ZH_RUN_RE = re.compile(rf"(?P<han>[{HAN}]+)|(?P<latin>[{_LATIN}][{_LATIN}0-9'’]*(?:[ \-.&+]+[{_LATIN}0-9][{_LATIN}0-9'’]*)*)"
                        r"|(?P<punct>[，。！？、；：,.!?;:…—“”\"()（）《》「」『』【】~·\-])|(?P<space>\s+)|(?P<other>.)")
ZH_PUNCT = {"，": ",", "、": ",", "。": ".", "！": "!", "？": "?", "；": ";", "：": ":", "…": "…",
            "—": "—", "（": "(", "）": ")", "《": "“", "》": "”", "「": "“", "」": "”", "『": "“",
            "』": "”", "【": "“", "】": "”", "“": "“", "”": "”", "\"": "\"", "(": "(", ")": ")",
            ",": ",", ".": ".", "!": "!", "?": "?", ";": ";", ":": ":", "~": " ", "·": " ", "-": " "}


@dataclass(frozen=True)
class WordReading:
    """One unit of what the G2P read, in reading order: a word (``lang`` "zh" or "en") or punctuation
    or space (``lang`` ""). ``pinyin``: TONE3 syllables of a Chinese word, before tone sandhi."""
    text: str
    lang: str
    phonemes: str
    pinyin: tuple[str, ...] | None = None
    space_after: bool = True      # English: the source had a space after it (the phoneme join keeps it)


@dataclass(frozen=True)
class ForcedReading:
    """A reading set by the user for ``text[start:end]`` of the text given to the G2P. ``phonemes``
    None: ``pinyin`` replaces the syllables of these Han characters inside the words around them (the
    rest of the sentence is still cut into words and read with them in place); else the span is one
    word read as ``phonemes``."""
    start: int
    end: int
    lang: str
    phonemes: str | None = None
    pinyin: tuple[str, ...] | None = None


def join_en(words: Sequence[WordReading]) -> str:
    """The English phoneme string of a sentence's units (a space where the source had one)."""
    return "".join(w.phonemes + (" " if w.space_after else "") for w in words).strip()


def join_zh(words: Sequence[WordReading]) -> str:
    """The Mandarin phoneme string of a sentence's units: words apart, punctuation on the word before."""
    parts = [(w.phonemes + " ") if not w.lang else (" " + w.phonemes + " ") for w in words]
    out = re.sub(r"\s+([,.!?;:…”)])", r"\1", "".join(parts))
    return " ".join(out.split())


class G2P:
    """Lazily built, cached G2P engines for English and Mandarin (text must be normalized)."""

    def __init__(self) -> None:
        self._en = None
        self._oov: OovSplitter | None = None

    # -- English ---------------------------------------------------------------------------
    @property
    def en_engine(self):
        if self._en is None:
            from hibari.g2p import G2P as HibariG2P
            self._en = HibariG2P()
        return self._en

    def en(self, text: str) -> str:
        """English phonemes for normalized English text."""
        return join_en(self.en_words([(text, None)]))

    def en_words(self, chunks: Sequence[tuple[str, str | None]]) -> list[WordReading]:
        """The English G2P's tokens for normalized text given as consecutive chunks ``(text, phonemes)``:
        a chunk with phonemes is one word read as them (a link, misaki's [text](/phonemes/)); the
        others are read in the context of the whole sentence."""
        plain = []
        for text, fixed in chunks:
            stray = _NON_LATIN_RE.findall(text) if fixed is None else ()
            if stray:
                log.warning("dropped characters the English voice cannot read: %s", "".join(sorted(set(stray))))
                text = _NON_LATIN_RE.sub(" ", text)
            plain.append((text, fixed))
        shouting = not any(c.islower() for text, fixed in plain if fixed is None for c in text)
        marked = "".join(self._en_marked(text, shouting) if fixed is None else f"[{text}](/{fixed}/)"
                         for text, fixed in plain)
        engine = self.en_engine
        return [WordReading(tk.text, "en" if any(c.isalnum() for c in tk.text) else "",
                            engine.unk if tk.phonemes is None else tk.phonemes, None, bool(tk.whitespace))
                for tk in engine.phonemize_tokens(engine.tokenize(marked))]

    def _en_marked(self, text: str, shouting: bool) -> str:
        text = _ACRONYM_RE.sub(lambda m: self._acronym(m, shouting), text)
        return self.oov_splitter.respace(text)  # unknown run-together words: read whole, never cut short

    def respelling_phonemes(self, respelling: str, in_zh: bool = False) -> str:
        """Phonemes of a respelling ("KOH-ko-ro", "eye kee uh"): each hyphen-joined syllable read by the
        English G2P on its own, its stress marks dropped; syllables in capitals take the primary stress
        (before their first vowel); with no capitals anywhere, each word is stressed on its first syllable. Inside
        Chinese, voiceless stops are aspirated as in ``en_in_zh``."""
        capitals = any(s.isupper() for s in re.split(r"[-\s]+", respelling))
        words = []
        for word in respelling.split():
            syllables = [s for s in word.split("-") if s]
            stressed = [s.isupper() if capitals else k == 0 for k, s in enumerate(syllables)]
            words.append("".join(_stress(self._syllable(s.lower()), st) for s, st in zip(syllables, stressed)))
        phonemes = " ".join(words)
        return _EN_ASPIRATED_RE.sub(r"\1ʰ", phonemes) if in_zh else phonemes

    @functools.lru_cache(maxsize=1024)
    def _syllable(self, syllable: str) -> str:
        return "".join(c for c in self.en(syllable) if c not in "ˈˌ" and not c.isspace())

    def en_in_zh(self, text: str) -> str:
        """English phonemes for a Latin run inside Chinese (a brand, an acronym), as a Mandarin voice
        must read them to sound English: voiceless stops aspirated (see _EN_ASPIRATED_RE). Acronyms
        are spelled as in English (GPU ʤˌipʰˌijˈu): letters each said apart or as Mandarin syllables were
        heard no more often (bench/RESULTS.md, "English inside Chinese")."""
        return _EN_ASPIRATED_RE.sub(r"\1ʰ", self.en(text).rstrip(".,!?;: "))

    @property
    def oov_splitter(self) -> OovSplitter:
        """Cuts unknown words the lexicon's fallback would read badly or only in part (see ``oov``)."""
        if self._oov is None:
            engine = self.en_engine
            common = frozenset(w for w in (engine.tagger.vocab or ()) if w.isalpha() and w.islower())
            self._oov = OovSplitter(self._knows, common, max_letters=engine.oov.maxlen)
        return self._oov

    def word_pieces(self, text: str) -> list[str]:
        """``text`` cut where the English G2P cuts unknown words (lossless): how an over-long word
        ("helloworldhelloworld...") is split into segments without cutting a word inside it."""
        return self.oov_splitter.pieces(text)

    @functools.lru_cache(maxsize=65536)
    def _knows(self, word: str) -> bool:
        """Whether the English lexicon reads ``word`` (directly or by its -s/-ed/-ing stem)."""
        from hibari.g2p import Context
        return self.en_engine.lexicon.get_word(word, "NN", None, Context())[0] is not None

    def _acronym(self, m: re.Match, shouting: bool) -> str:
        word, plural = m.group(1), m.group(2)
        if word in RESPELL:
            return RESPELL[word] + plural
        if word in FORCE_LETTERS and not shouting:
            return f"[{word}{plural}](/{self._letters(word)}{'z' if plural else ''}/)"
        return m.group(0)

    @functools.lru_cache(maxsize=256)
    def _letters(self, word: str) -> str:
        # dotted letters make the lexicon spell them with acronym stress: L.E.D. -> ˌɛlˌidˈi
        return self.en_engine(".".join(word) + ".", normalize_text=False).rstrip(".").strip()

    # -- Mandarin --------------------------------------------------------------------------
    @property
    def segmenter(self):
        return zh_segmenter()

    def zh(self, text: str) -> str:
        """Mandarin phonemes for normalized Chinese text; Latin runs are read as English."""
        return join_zh(self.zh_words(text))

    def zh_words(self, text: str, forced: Sequence[ForcedReading] = ()) -> list[WordReading]:
        """The units of normalized Chinese text in reading order: Chinese words (jieba) with their
        pinyin after the polyphone fixes and ``forced``, Latin runs read as English (one unit each),
        punctuation. Words with no phonemes (a syllable with no IPA) are left out."""
        char_pinyin = {f.start + i: py for f in forced if f.phonemes is None for i, py in enumerate(f.pinyin or ())}
        units: list[WordReading] = []
        pos = 0
        for f in sorted((f for f in forced if f.phonemes is not None), key=lambda f: f.start):
            units += self._zh_units(text, pos, f.start, char_pinyin)
            units.append(WordReading(text[f.start:f.end], f.lang, f.phonemes, f.pinyin))
            pos = f.end
        return units + self._zh_units(text, pos, len(text), char_pinyin)

    def _zh_units(self, text: str, start: int, end: int, char_pinyin: dict[int, str]) -> list[WordReading]:
        units: list[WordReading] = []
        for m in _ZH_RUN_RE.finditer(text, start, end):
            kind = m.lastgroup
            if kind == "han":
                units += self._han_words(m.group(), m.start(), char_pinyin)
            elif kind == "latin":
                units.append(WordReading(m.group(), "en", self.en_in_zh(m.group())))
            elif kind == "punct":
                units.append(WordReading(m.group(), "", ZH_PUNCT.get(m.group(), " ")))
            elif kind == "space":
                units.append(WordReading(m.group(), "", ""))
            else:
                log.warning("dropped a character the Mandarin voice cannot read: %r", m.group())
        return units

    def _han_words(self, run: str, offset: int, char_pinyin: dict[int, str]) -> list[WordReading]:
        units: list[WordReading] = []
        pos = offset
        for word, pys in chinese_readings(run):
            pys = [char_pinyin.get(pos + k, py) for k, py in enumerate(pys)]
            pos += len(word)
            ipa = self.pinyin_phonemes(pys, word)
            if ipa:
                units.append(WordReading(word, "zh", ipa, tuple(pys)))
        return units

    def pinyin_phonemes(self, syllables: Sequence[str], word: str = "") -> str:
        """Kokoro's Mandarin phonemes for TONE3 syllables (one word: no spaces between them)."""
        return "".join(self._py2ipa(py, word) for py in syllables)

    def cut(self, text: str) -> list[str]:
        """Chinese words (for splitting an over-long clause without cutting a word)."""
        return self.segmenter.lcut(text, HMM=True)

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def _py2ipa(py: str, word: str = "") -> str:
        from misaki.zh import ZHG2P
        try:
            return ZHG2P.py2ipa(py).replace("\u032f", "")
        except (ValueError, KeyError, IndexError, AssertionError, TypeError) as e:
            log.warning("no IPA for pinyin %r in %r (%s): dropped", py, word, e)
            return ""


def _stress(phonemes: str, stressed: bool) -> str:
    if not stressed:
        return phonemes
    at = next((i for i, c in enumerate(phonemes) if c in _EN_VOWELS), 0)
    return phonemes[:at] + "ˈ" + phonemes[at:]


# -- Mandarin readings (shared by the phonemes path and anything that needs the pinyin) ----------
_HAN_RUN_RE = re.compile(rf"[{HAN}]+")


@functools.cache
def zh_segmenter() -> "jieba.Tokenizer":  # noqa: F821 (jieba is imported on first use)
    """The jieba tokenizer for Mandarin, built once per process (building it loads jieba's dictionary)."""
    import jieba
    logging.getLogger("jieba").setLevel(logging.WARNING)
    tok = jieba.Tokenizer()     # our own instance: the override words stay out of jieba's global one
    for word in WORD_PINYIN:
        tok.add_word(word)   # frequency suggested by jieba: cut out, no more
    return tok


def chinese_readings(text: str) -> list[tuple[str, list[str]]]:
    """``text`` cut into pieces, each with its TONE3 syllables (one per character, 5 = neutral tone,
    before tone sandhi): Han runs are cut into words and read with the polyphone fixes; anything
    else (punctuation, Latin, digits) is one piece with no syllables. The pieces join back to ``text``."""
    from pypinyin import Style, lazy_pinyin
    pieces: list[tuple[str, list[str]]] = []
    pos = 0
    for m in _HAN_RUN_RE.finditer(text):
        if m.start() > pos:
            pieces.append((text[pos:m.start()], []))
        words = zh_segmenter().lcut(m.group(), HMM=True)
        pinyins = [lazy_pinyin(w, style=Style.TONE3, neutral_tone_with_five=True) for w in words]
        fix_polyphones(words, pinyins)
        pieces.extend(zip(words, pinyins))
        pos = m.end()
    if pos < len(text):
        pieces.append((text[pos:], []))
    return pieces
