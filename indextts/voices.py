"""Stock voice packs: one style vector per phoneme-sequence length."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from .errors import InputError


class VoiceBank:
    """Named voice packs of shape (510, 1, 256); row n-1 is the style for n tokens."""

    def __init__(self, packs: dict[str, torch.Tensor]) -> None:
        self._packs = {name: pack.reshape(pack.shape[0], -1).float() for name, pack in packs.items()}

    @classmethod
    def from_file(cls, path: Path) -> "VoiceBank":
        return cls(load_file(str(path)))

    @property
    def names(self) -> list[str]:
        return sorted(self._packs)

    def style(self, name: str, n_tokens: int) -> torch.Tensor:
        """The (1, 256) style for an utterance of ``n_tokens`` phoneme tokens."""
        pack = self._packs.get(name)
        if pack is None:
            raise InputError(f"unknown voice {name!r}; available voices: {', '.join(self.names)}")
        row = min(max(n_tokens, 1), pack.shape[0]) - 1
        return pack[row : row + 1]
