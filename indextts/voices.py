"""Voices by name: stock packs, this process's unsaved clones and the saved library."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file

from .errors import InputError

if TYPE_CHECKING:
    from .voice_library import VoiceLibrary

MAX_F0_SHIFT_ST = 8.0


def clamp_shift(value) -> float:
    """A stored pitch correction as a finite float within +-MAX_F0_SHIFT_ST (bad values count as 0)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return max(-MAX_F0_SHIFT_ST, min(MAX_F0_SHIFT_ST, value)) if math.isfinite(value) else 0.0


class VoiceBank:
    """Named voice packs of shape (510, 1, 256); row n-1 is the style for n tokens."""

    def __init__(self, packs: dict[str, torch.Tensor], library: VoiceLibrary | None = None) -> None:
        self._packs = {name: pack.reshape(pack.shape[0], -1).float() for name, pack in packs.items()}
        self.library = library  # VoiceLibrary of saved (cloned/blended) voices, or None
        self._transient: dict[str, torch.Tensor] = {}  # unsaved clones of this process
        self._shifts: dict[str, float] = {}  # their pitch corrections (semitones)

    @property
    def stock_packs(self) -> dict[str, torch.Tensor]:
        """The shipped voices' (510, 256) packs by name (read-only use)."""
        return self._packs

    @property
    def stock_names(self) -> list[str]:
        return sorted(self._packs)

    def kind(self, name: str) -> str | None:
        if name in self._packs:
            return "stock"
        if name in self._transient:
            return "session"
        if self.library is not None and name in self.library:
            return "cloned"
        return None

    def pack(self, name: str) -> torch.Tensor:
        """The (510, 256) pack of a stock, unsaved-clone or saved voice."""
        if name in self._packs:
            return self._packs[name]
        if name in self._transient:
            return self._transient[name]
        if self.library is not None and name in self.library:
            return self.library.pack(name).reshape(-1, 256)
        raise InputError(f"unknown voice {name!r}; available voices: {', '.join(self.names)}")

    def add_transient(self, name: str, pack: torch.Tensor, f0_shift_st: float = 0.0) -> None:
        self._transient[name] = pack.reshape(-1, 256).float()
        self._shifts[name] = clamp_shift(f0_shift_st)

    def f0_shift(self, name: str) -> float:
        """A cloned voice's pitch correction in semitones (meta ``f0_shift_st``); 0 for stock voices."""
        if name in self._packs:
            return 0.0
        if name in self._transient:
            return self._shifts.get(name, 0.0)
        if self.library is not None and name in self.library:
            meta = self.library.meta(name)
            return clamp_shift(meta.get("f0_shift_st", 0.0)) if isinstance(meta, dict) else 0.0
        return 0.0

    @classmethod
    def from_file(cls, path: Path, library: VoiceLibrary | None = None) -> "VoiceBank":
        return cls(load_file(str(path)), library)

    @property
    def names(self) -> list[str]:
        """Stock voices, then this process's unsaved clones, then the library's saved voices."""
        saved = self.library.names if self.library is not None else []
        extra = [n for n in [*sorted(self._transient), *saved] if n not in self._packs]
        return sorted(self._packs) + list(dict.fromkeys(extra))

    def fingerprint(self, name: str) -> str:
        """Changes whenever what the voice sounds like changes (a re-saved clone, a new correction)."""
        if name in self._packs:
            return f"stock:{name}"
        digest = hashlib.blake2b(self.pack(name).numpy().tobytes(), digest_size=16).hexdigest()
        return f"{digest}:{self.f0_shift(name):g}"

    def style(self, name: str, n_tokens: int) -> torch.Tensor:
        """The (1, 256) style for an utterance of ``n_tokens`` phoneme tokens."""
        pack = self.pack(name)
        row = min(max(n_tokens, 1), pack.shape[0]) - 1
        return pack[row : row + 1]
