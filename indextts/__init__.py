"""IndexTTS WebUI: expressive English and Mandarin text-to-speech on Kokoro-82M.

In code::

    from indextts import Engine, SynthesisRequest
    engine = Engine.load()                       # config.yaml, INDEXTTS_* settings
    result = engine.synthesize("Hello there.", voice="af_heart")      # shorthand for the request below
    result = engine.synthesize(SynthesisRequest("Hello there.", voice="af_heart", speed=1.1))
    result.audio, result.sample_rate             # float32 mono, 24000
    clone = engine.studio.clone("me.wav")        # the voice studio: clone, save, blend, delete
    engine.synthesize("In my voice.", voice=clone["voice_value"])

The names below are imported when first used, so ``import indextts`` (or the torch-free text frontend,
``indextts.text``) does not load torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Engine": "indextts.engine",
    "SynthesisResult": "indextts.engine",
    "SegmentResult": "indextts.engine",
    "SynthesisRequest": "indextts.request",
    "VoiceStudio": "indextts.voice_studio",
    "Settings": "indextts.config",
    "EmotionSpec": "indextts.emotion",
    "spec_from_request": "indextts.emotion",
    "IndexTTSError": "indextts.errors",
    "InputError": "indextts.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'indextts' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
