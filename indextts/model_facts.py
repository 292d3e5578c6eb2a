"""Facts about Kokoro-82M that code without torch needs too (the text frontend, the settings, the
reference-clip readers): defined here once, re-exported by ``indextts.model``. Importing this module
loads nothing."""

from __future__ import annotations

SAMPLE_RATE = 24000  # Hz of the audio the model renders
MAX_TOKENS = 510  # phoneme tokens per model call: its 512 positions minus the two boundary zeros
