"""Grapheme-to-phoneme for the two languages, in Kokoro's phoneme set.

- English: hibari's offline port of misaki's English G2P, plus a small acronym table.
- Mandarin: misaki's original (v1.0) Chinese G2P, i.e. jieba words -> pypinyin -> misaki's
  pinyin-to-IPA, done here word by word so polyphones can be fixed and Latin runs inside
  Chinese (brand names, acronyms) go to the English G2P instead of being dropped."""
from __future__ import annotations

import functools
import logging
import re

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
_NON_LATIN_RE = re.compile(r"[^\x00-\x7f\u00a0-\u024f\u2018-\u201d\u2014\u2026%$€£¥°]")

# Chinese: Han runs, Latin runs (words joined by spaces/hyphens stay together), punctuation.
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"   # letters, without × and ÷
_ZH_RUN_RE = re.compile(rf"(?P<han>[{HAN}]+)|(?P<latin>[{_LATIN}][{_LATIN}0-9'’]*(?:[ \-.&+]+[{_LATIN}0-9][{_LATIN}0-9'’]*)*)"
                        r"|(?P<punct>[，。！？、；：,.!?;:…—“”\"()（）《》「」『』【】~·\-])|(?P<space>\s+)|(?P<other>.)")
ZH_PUNCT = {"，": ",", "、": ",", "。": ".", "！": "!", "？": "?", "；": ";", "：": ":", "…": "…",
            "—": "—", "（": "(", "）": ")", "《": "“", "》": "”", "「": "“", "」": "”", "『": "“",
            "』": "”", "【": "“", "】": "”", "“": "“", "”": "”", "\"": "\"", "(": "(", ")": ")",
            ",": ",", ".": ".", "!": "!", "?": "?", ";": ";", ":": ":", "~": " ", "·": " ", "-": " "}


class G2P:
    """Lazily built, cached G2P engines for English and Mandarin (text must be normalized)."""

    def __init__(self) -> None:
        self._en = None
        self._jieba = None
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
        stray = _NON_LATIN_RE.findall(text)
        if stray:
            log.warning("dropped characters the English voice cannot read: %s", "".join(sorted(set(stray))))
            text = _NON_LATIN_RE.sub(" ", text)
        shouting = not any(c.islower() for c in text)
        text = _ACRONYM_RE.sub(lambda m: self._acronym(m, shouting), text)
        text = self.oov_splitter.respace(text)  # unknown run-together words: read whole, never cut short
        return self.en_engine(text, normalize_text=False)

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
        if self._jieba is None:
            import jieba
            logging.getLogger("jieba").setLevel(logging.WARNING)
            tok = jieba.Tokenizer()     # our own instance: the override words stay out of jieba's global one
            for word in WORD_PINYIN:
                tok.add_word(word)   # frequency suggested by jieba: cut out, no more
            self._jieba = tok
        return self._jieba

    def zh(self, text: str) -> str:
        """Mandarin phonemes for normalized Chinese text; Latin runs are read as English."""
        parts: list[str] = []
        for m in _ZH_RUN_RE.finditer(text):
            kind = m.lastgroup
            if kind == "han":
                parts.append(" " + self._han(m.group()) + " ")
            elif kind == "latin":
                parts.append(" " + self.en(m.group()).rstrip(".,!?;: ") + " ")
            elif kind == "punct":
                parts.append(ZH_PUNCT.get(m.group(), " ") + " ")
            elif kind == "space":
                parts.append(" ")
            else:
                log.warning("dropped a character the Mandarin voice cannot read: %r", m.group())
        out = re.sub(r"\s+([,.!?;:…”)])", r"\1", "".join(parts))
        return " ".join(out.split())

    def cut(self, text: str) -> list[str]:
        """Chinese words (for splitting an over-long clause without cutting a word)."""
        return self.segmenter.lcut(text, HMM=True)

    def _han(self, run: str) -> str:
        from pypinyin import Style, lazy_pinyin
        words = self.cut(run)
        pinyins = [lazy_pinyin(w, style=Style.TONE3, neutral_tone_with_five=True) for w in words]
        fix_polyphones(words, pinyins)
        ipa_words = []
        for word, pys in zip(words, pinyins):
            ipa_words.append("".join(self._py2ipa(py, word) for py in pys))
        return " ".join(w for w in ipa_words if w)

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def _py2ipa(py: str, word: str = "") -> str:
        from misaki.zh import ZHG2P
        try:
            return ZHG2P.py2ipa(py).replace("\u032f", "")
        except (ValueError, KeyError, IndexError, AssertionError, TypeError) as e:
            log.warning("no IPA for pinyin %r in %r (%s): dropped", py, word, e)
            return ""
