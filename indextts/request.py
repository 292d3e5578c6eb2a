"""One request to the engine: what to say and how, as one frozen value.

Every edge (the HTTP API's body, the page's controls, the CLI's flags, a script) builds a
``SynthesisRequest`` once and hands it down whole, so an option is defined, documented and checked here
and nowhere else. Building one checks every field that needs no engine (ranges, language, types);
the engine adds what needs its settings and voices (the text length limit, the voice name).

Torch-free: the servers and the CLI build requests without loading the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Union

from .emotion import EmotionSpec
from .errors import InputError
from .text.langdetect import LANGS as TEXT_LANGS
from .text.vocab import MAX_MODEL_TOKENS

if TYPE_CHECKING:
    from .voices import Voice

SPEED_RANGE = (0.25, 4.0)  # OpenAI's range; past 2x, short sounds reach the model's one-frame floor
PAUSE_RANGE_S = (0.0, 5.0)
# duration_s: the clip's length is fitted within this factor of the text's natural length (the engine checks it:
# it needs the model's predicted durations); further out, speech is too rushed or too drawn out to follow.
DURATION_FIT_RANGE = (0.5, 2.0)
MIN_SEGMENT_TOKENS = 16
LANGS = ("auto", *TEXT_LANGS)


@dataclass(frozen=True)
class SynthesisRequest:
    """What to say and how. Fields left at None take the engine's settings (config.yaml ``engine:``)."""

    text: str
    # A voice name (``af_heart``), an OpenAI name (``alloy``), a saved voice, a mix (``af_bella+af_sky``,
    # ``af_bella*0.7+af_sky*0.3``), a ``Voice`` value (an unsaved clone), or None: the default voice for the
    # text's language (``engine.default_voice_en``/``_zh``).
    voice: Union[str, "Voice", None] = None
    speed: float = 1.0  # SPEED_RANGE; 1.0 is the voice's own pace
    lang: str = "auto"  # LANGS; auto detects each run of text (Mandarin inside English and back)
    max_tokens: int | None = None  # the segment budget in phoneme tokens; None: max_tokens_per_segment
    # Cut the first sentence at a clause break within this many tokens, so its audio comes sooner (streamed
    # replies ask for it: engine.stream_first_tokens); None or 0 renders the first sentence whole.
    first_max_tokens: int | None = None
    pause_s: float | None = None  # silence after a sentence (less after a cut inside one); None: segment_pause_s
    emotion: EmotionSpec | None = None  # None keeps the voice's own prosody; see ``indextts.emotion``
    # The whole clip lasts this many seconds (+-10 ms): durations and pauses scaled from the natural reading
    # (after speed and emotion tempo), within DURATION_FIT_RANGE of it. None: the natural length.
    duration_s: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise InputError("the text is empty; type something to say", field="text")
        if not SPEED_RANGE[0] <= self.speed <= SPEED_RANGE[1]:
            raise InputError(f"speed must be between {SPEED_RANGE[0]} and {SPEED_RANGE[1]}, got {self.speed}",
                             field="speed")
        if self.lang not in LANGS:
            raise InputError(f"unknown language {self.lang!r}; use one of {', '.join(LANGS)}", field="lang")
        for name, limit in (("max_tokens", self.max_tokens), ("first_max_tokens", self.first_max_tokens or None)):
            if limit is not None and not MIN_SEGMENT_TOKENS <= limit <= MAX_MODEL_TOKENS:
                raise InputError(f"max tokens per segment must be {MIN_SEGMENT_TOKENS}-{MAX_MODEL_TOKENS}, "
                                 f"got {limit}", field=name)
        if self.pause_s is not None and not PAUSE_RANGE_S[0] <= self.pause_s <= PAUSE_RANGE_S[1]:
            raise InputError(f"pause between segments must be {PAUSE_RANGE_S[0]:g}-{PAUSE_RANGE_S[1]:g} s, "
                             f"got {self.pause_s}", field="pause_s")
        if self.duration_s is not None and (isinstance(self.duration_s, bool)
                                            or not isinstance(self.duration_s, (int, float))
                                            or not math.isfinite(self.duration_s) or self.duration_s <= 0):
            raise InputError(f"duration_s must be a positive number of seconds, got {self.duration_s!r}",
                             field="duration_s")
        if self.emotion is not None and not isinstance(self.emotion, EmotionSpec):
            raise InputError(f"emotion must be an EmotionSpec or None, got {type(self.emotion).__name__}",
                             field="emotion")

    def but(self, **changes: Any) -> "SynthesisRequest":
        """A copy with some fields changed (checked again)."""
        return replace(self, **changes)

    @classmethod
    def of(cls, request: "SynthesisRequest | str", **changes: Any) -> "SynthesisRequest":
        """``request`` itself, or a text with fields: the shorthand ``engine.synthesize("Hi.", voice=...)``."""
        if isinstance(request, SynthesisRequest):
            return request.but(**changes) if changes else request
        unknown = set(changes) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown synthesis option(s): {', '.join(sorted(unknown))}")
        return cls(request, **changes)
