"""Language dispatch for normalization."""
from __future__ import annotations

from .coverage import fold_latin_text
from .normalize_en import normalize_en
from .normalize_zh import normalize_zh


def normalize(text: str, lang: str) -> str:
    """Normalized text for lang "en" or "zh" (what the G2P reads). Latin letters and digits in forms
    the G2Ps do not take (ệ, ｈｅｌｌｏ, ﬁ) are folded to ASCII first, so they are read, not dropped."""
    text = fold_latin_text(text)
    return normalize_zh(text) if lang == "zh" else normalize_en(text)
