"""Load the float checkpoint (safetensors + config.json) into a KokoroModel.

The checkpoint keeps Kokoro's training-time names, including weight-norm pairs
(``weight_g``, ``weight_v``); inference only needs their product, so the pairs
are folded here once instead of recomputing the norm on every call.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from .int8 import int8_available, quantize_convolutions
from .kokoro import KokoroConfig, KokoroModel

_UNUSED_PREFIXES = ("bert.pooler.",)


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace each ``X.weight_g`` / ``X.weight_v`` pair by ``X.weight = g * v / |v|``."""
    folded: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith(".weight_v"):
            continue
        if key.endswith(".weight_g"):
            prefix = key[: -len("_g")]
            v = state[prefix + "_v"]
            norm = v.flatten(1).norm(dim=1).view(-1, *([1] * (v.dim() - 1)))
            # Channels the quantizer zeroed have g == 0: keep them zero, never 0/0.
            folded[prefix] = torch.where(norm > 0, value * v / norm.clamp_min(1e-12), torch.zeros_like(v))
        elif not key.startswith(_UNUSED_PREFIXES):
            folded[key] = value
    return folded


def load_config(config_path: Path) -> tuple[KokoroConfig, dict[str, int]]:
    """Model hyperparameters and the phoneme vocabulary from config.json."""
    raw = json.loads(Path(config_path).read_text(encoding="utf-8"))
    return KokoroConfig.from_dict(raw), dict(raw.get("vocab", {}))


def load_model(weights_path: Path, config_path: Path, device: str = "cpu", int8: bool = False,
               decoder_dtype: torch.dtype | None = None) -> KokoroModel:
    """Build the model, load folded weights (strict: every key must match), eval mode.

    ``decoder_dtype`` (fp16/bf16, for CUDA): the decoder's convolution stack in that dtype, converted
    once here; everything that needs float32 stays float32 (see ``precision.py``).

    ``int8`` on CPU: the vocoder generator's convolutions run in int8 at inference (see ``int8.py``):
    nearly all of the time, at 800 and 4800 steps per second. The rest stays float: the predictor
    (durations exactly the float model's), the decoder blocks at 40-80 steps per second (cheap,
    and int8 there adds error for no speed), and the last convolution, whose output is
    exponentiated into magnitudes (int8 there alone costs 0.28 log-mel L1; the generator's other
    convolutions together about 0.08)."""
    cfg, _ = load_config(config_path)
    model = KokoroModel(cfg)
    model.load_state_dict(fold_weight_norm(load_file(str(weights_path))), strict=True)
    model = model.to(device).eval().requires_grad_(False)
    if int8 and model.device.type == "cpu" and int8_available():
        quantize_convolutions(model.decoder.generator, exclude=("conv_post",))
    if decoder_dtype is not None and decoder_dtype != torch.float32:
        model.decoder.convert(decoder_dtype)
    return model
