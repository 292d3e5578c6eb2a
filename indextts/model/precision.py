"""Reduced precision (fp16/bf16) for the decoder, and which parts stay in float32.

Only the decoder's convolution stack runs in the reduced dtype, with its weights converted once
(``load_model(decoder_dtype=...)``, ``Decoder.convert``): no autocast, so nothing is re-cast per call (autocast keeps a
weight-cast cache only for weights that require grad, and inference weights do not). Float32 islands,
each because half precision breaks or degrades it:
- the text side (ALBERT, LSTMs, duration projection, F0/energy heads): durations must be the float
  model's; bf16 ALBERT alone moved enough durations to raise Mandarin CER from 6.3 to 11 %;
- the F0/energy inputs (Hz up to 600, and their 1-channel convolutions), the harmonic source (a running
  phase over thousands of samples), the STFT and inverse STFT (torch.polar takes one dtype);
- AdaIN statistics (E[x^2] overflows fp16 above |x| ~ 256) and the last convolution, whose output is
  exponentiated into magnitudes.
"""

from __future__ import annotations

import torch

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def decoder_dtype(precision: str, device: torch.device | str) -> torch.dtype | None:
    """The decoder's dtype for a ``engine.precision`` setting on ``device`` (None: float32).

    Reduced precision is for CUDA only: CPU half kernels are slower than float32 (the CPU has int8)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if torch.device(device).type != "cuda":
        return None
    dtype = PRECISIONS[precision]
    if dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise ValueError("precision bf16 needs a GPU with bfloat16 support (Ampere or newer); use fp16")
    return dtype


def as_float32(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 (no copy when it already is)."""
    return x if x.dtype == torch.float32 else x.float()
