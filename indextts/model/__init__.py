"""Kokoro-82M in PyTorch: a language-blind acoustic model (tokens + style -> audio)."""

from .checkpoint import load_config, load_model
from .kokoro import MAX_TOKENS, SAMPLES_PER_FRAME, KokoroConfig, KokoroModel, Prosody
from .vocoder import SAMPLE_RATE

__all__ = [
    "KokoroConfig",
    "KokoroModel",
    "Prosody",
    "load_config",
    "load_model",
    "MAX_TOKENS",
    "SAMPLE_RATE",
    "SAMPLES_PER_FRAME",
]
