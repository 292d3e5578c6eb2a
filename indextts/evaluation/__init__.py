"""Measuring the output: what a listener (here Whisper base) hears, scored against the text.

Used by bench/ and tests/, never by synthesis; ``asr`` imports its heavy dependencies when first used.
"""
