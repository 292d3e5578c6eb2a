"""Emotion control: IndexTTS2's four emotion modes realised as prosody on Kokoro-82M.

Modes: 1 same as the voice (no spec), 2 a reference clip (``reference``), 3 an 8-dim vector plus a
weight (``vector``), 4 a text description resolved to a vector (``text_lexicon``). The profiles
(``profiles``) say how each emotion moves pitch level/range/contour, loudness, tempo and pauses, with
the sources; ``apply`` edits the model's predicted durations, F0 and energy. Timbre is the voice's.

Torch-free modules: profiles, vector, text_lexicon, analysis, reference. ``apply`` needs torch.
"""

from .profiles import EMOTIONS, EMOTIONS_ZH, MEASURES, PROFILES, Profile, ProsodyEdit
from .reference import ReferenceProsody, measure_reference
from .text_lexicon import TextResolution, resolve_text
from .vector import EmotionSpec, EmotionVector

__all__ = ["EMOTIONS", "EMOTIONS_ZH", "MEASURES", "PROFILES", "Profile", "ProsodyEdit", "EmotionSpec",
           "EmotionVector", "ReferenceProsody", "measure_reference", "TextResolution", "resolve_text",
           "spec_from_request"]


# the request fields of spec_from_request's sources, as its InputErrors name them
SOURCE_FIELDS = {"vector": "emotion", "text": "emotion_text", "reference": "emotion_reference"}


def spec_from_request(*, vector=None, text: str | None = None, reference=None, weight: float = 1.0,
                      random: bool = False, seed: int = 0) -> EmotionSpec | None:
    """One EmotionSpec from the fields a UI or API request carries (at most one of vector, text,
    reference); None when nothing asks for a change (mode 1, identical audio)."""
    from ..errors import InputError

    given = [name for name, value in (("vector", vector), ("text", text), ("reference", reference))
             if value is not None]
    if len(given) > 1:  # named: the last one given (a reference over a text over a vector)
        raise InputError(f"give one emotion source, not {' and '.join(given)}", field=SOURCE_FIELDS[given[-1]])
    source: dict = {}
    if text is not None:
        resolution = resolve_text(text)
        vec = resolution.vector
        source = {"mode": "text", "text": text}
    elif vector is not None:
        vec = vector if isinstance(vector, EmotionVector) else EmotionVector.from_mapping(vector)
        source = {"mode": "vector"}
    else:
        vec = None
    ref = None
    if reference is not None:
        ref = reference if isinstance(reference, ReferenceProsody) else measure_reference(reference)
        source = {"mode": "reference"}
    if vec is None and ref is None and not random:
        EmotionSpec(weight=weight, seed=seed)  # still validate the numbers
        return None
    return EmotionSpec(vector=vec, weight=weight, reference=ref, random=random, seed=seed,
                       source=source or {"mode": "voice"})
