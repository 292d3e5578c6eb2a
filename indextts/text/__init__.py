"""Text frontend: text -> sentences -> normalized text -> Kokoro phonemes -> token ids.
Pure Python (no torch): see Frontend and Segment."""
from .frontend import Frontend, Segment
from .vocab import MAX_MODEL_TOKENS, load_vocab

__all__ = ["Frontend", "Segment", "MAX_MODEL_TOKENS", "load_vocab"]
