"""Kokoro-82M in PyTorch: a language-blind acoustic model (tokens + style -> audio)."""

from ..model_facts import MAX_TOKENS, SAMPLE_RATE
from .checkpoint import load_config, load_model
from .kokoro import SAMPLES_PER_FRAME, KokoroConfig, KokoroModel, Prosody

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
