"""Language dispatch for normalization."""
from __future__ import annotations

from .normalize_en import normalize_en
from .normalize_zh import normalize_zh


def normalize(text: str, lang: str) -> str:
    """Normalized text for lang "en" or "zh" (what the G2P reads)."""
    return normalize_zh(text) if lang == "zh" else normalize_en(text)
