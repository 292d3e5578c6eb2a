"""IndexTTS2's 8-dim emotion vector, the emotion weight, and the EmotionSpec the engine takes.

Mixing rule: the edit of a vector is the sum of value_i x profile_i (additive units), divided by
the vector's total when the total is above 1 (so two emotions at 1.0 give their average, and any
value below 1 moves part of the way from neutral), then scaled by ``weight`` (IndexTTS2's
emo_alpha). Zero vector or weight 0 = no change. Torch-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from ..errors import InputError
from .profiles import EMOTIONS, PROFILES, ProsodyEdit

MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class EmotionVector:
    """Values 0-1 for the eight emotions, in EMOTIONS order."""

    values: tuple[float, ...] = (0.0,) * len(EMOTIONS)

    def __post_init__(self) -> None:
        if len(self.values) != len(EMOTIONS):
            raise InputError(f"an emotion vector has {len(EMOTIONS)} values ({', '.join(EMOTIONS)}), "
                             f"got {len(self.values)}", field="emotion")
        for name, value in zip(EMOTIONS, self.values):
            _check_unit(value, f"emotion {name!r}", "emotion")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, float]) -> "EmotionVector":
        """{"happy": 0.8, "sad": 0.1}; names are case-insensitive; missing ones are 0."""
        if not isinstance(mapping, Mapping):
            raise InputError(f"an emotion vector is an object of emotion names to 0-1 values, e.g. "
                             f"{{\"happy\": 0.8}}; got {type(mapping).__name__}", field="emotion")
        values = dict.fromkeys(EMOTIONS, 0.0)
        unknown = []
        for key, value in mapping.items():
            name = str(key).strip().lower()
            if name not in values:
                unknown.append(str(key))
                continue
            values[name] = value
        if unknown:
            raise InputError(f"unknown emotion name(s) {', '.join(repr(u) for u in unknown)}; "
                             f"the emotions are {', '.join(EMOTIONS)}", field="emotion")
        return cls(tuple(values.values()))

    def as_dict(self) -> dict[str, float]:
        return {name: round(float(v), 3) for name, v in zip(EMOTIONS, self.values)}

    @property
    def total(self) -> float:
        return float(sum(self.values))

    def dominant(self) -> str | None:
        best = max(range(len(EMOTIONS)), key=lambda i: self.values[i])
        return EMOTIONS[best] if self.values[best] > 0 else None

    def edit(self, weight: float = 1.0) -> ProsodyEdit:
        _check_unit(weight, "emotion weight", "emotion_weight")
        norm = max(1.0, self.total)
        out = ProsodyEdit()
        for name, value in zip(EMOTIONS, self.values):
            if value:
                out = out.plus(PROFILES[name].edit.scaled(value * weight / norm))
        return out


@dataclass(frozen=True)
class EmotionSpec:
    """What the engine is asked for. Exactly one source, or none (random variation around neutral):

    - ``vector`` (+ ``weight``): mode 3, and mode 4 after the text is resolved to a vector;
    - ``reference``: mode 2, a measured clip (``reference.ReferenceProsody``), transferred relative
      to the engine's neutral rendering of each segment, scaled by ``weight``.
    ``random`` perturbs the edit with a seeded generator: same seed, same audio.
    ``None`` instead of a spec (mode 1) leaves the voice's own prosody untouched.
    """

    vector: EmotionVector | None = None
    weight: float = 1.0
    reference: object | None = None  # reference.ReferenceProsody (kept untyped: torch-free import)
    random: bool = False
    seed: int = 0
    source: dict = field(default_factory=dict, compare=False)  # how it was asked for (for logs/sidecars)

    def __post_init__(self) -> None:
        _check_unit(self.weight, "emotion weight", "emotion_weight")
        if self.vector is not None and self.reference is not None:
            raise InputError("give either an emotion vector (or description) or an emotion reference clip, not both",
                             field="emotion_reference")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise InputError(f"emotion seed must be a whole number 0-{MAX_SEED}, got {self.seed!r}",
                             field="emotion_seed")

    def fixed_edit(self) -> ProsodyEdit | None:
        """The edit before random variation, when it does not depend on the audio (None for a reference)."""
        if self.reference is not None:
            return None
        return self.vector.edit(self.weight) if self.vector is not None else ProsodyEdit()

    def describe(self) -> dict:
        out: dict = {"weight": self.weight, "random": self.random, "seed": self.seed, **self.source}
        if self.vector is not None:
            out["vector"] = self.vector.as_dict()
        if self.reference is not None:
            out["reference"] = getattr(self.reference, "as_dict", lambda: {})()
        return out


def _check_unit(value: object, what: str, field_name: str) -> None:
    """``value`` is a number 0-1; else an InputError about ``what`` (in words), naming the request's field."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{what} must be a number from 0 to 1, got {value!r}", field=field_name)
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{what} must be from 0 to 1, got {value:g}", field=field_name)
