"""Load the float checkpoint (safetensors + config.json) into a KokoroModel.

The checkpoint keeps Kokoro's training-time names, including weight-norm pairs
(``weight_g``, ``weight_v``); inference only needs their product, so the pairs
are folded here once instead of recomputing the norm on every call.

With int8 convolutions the float32 weights they were made from are released after loading (181 MB: only
autograd reads them); ``float_convolutions`` reads them back from the checkpoint while the voice fitter runs.
"""

from __future__ import annotations

import json
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from . import host_memory
from .int8 import Int8Conv1d, int8_available, quantize_convolutions, quantize_linears
from .kokoro import KokoroConfig, KokoroModel

_UNUSED_PREFIXES = ("bert.pooler.",)
# The checkpoint each loaded model came from: where released float weights are read back from.
_SOURCES: weakref.WeakKeyDictionary[KokoroModel, Path] = weakref.WeakKeyDictionary()


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

    ``int8`` on CPU: the decoder's convolutions run in int8 at inference (see ``int8.py``): the vocoder
    generator's, nearly all of the time, at 800 and 4800 steps per second, and the decoder blocks' at 40-80
    steps per second (weight-bound: int8 moves a quarter of the bytes, and its weights are packed once where
    float32 ones were re-laid-out on every call; 2.2x faster). So do ALBERT's linear layers (the text reader
    before the predictor, 2.8x faster: 97 % of token durations stay the float model's, the rest move by one
    frame). Whisper hears no difference (bench/RESULTS.md "Speed through the API"). The rest stays float: the
    predictor's LSTMs and curves, the 1-channel F0/energy convolutions, and the last convolution, whose output
    is exponentiated into magnitudes (int8 there alone costs 0.28 log-mel L1)."""
    host_memory.configure()  # before the first convolution: oneDNN reads its cache size once
    cfg, _ = load_config(config_path)
    model = KokoroModel(cfg)
    model.load_state_dict(fold_weight_norm(load_file(str(weights_path))), strict=True)
    model = model.to(device).eval().requires_grad_(False)
    if int8 and model.device.type == "cpu" and int8_available():
        quantize_convolutions(model.decoder, exclude=("generator.conv_post",))
        quantize_linears(model.bert.encoder.albert_layer_groups)
        for conv in _int8_convolutions(model).values():
            conv.set_float_weight(None)
        _SOURCES[model] = Path(weights_path)
    if decoder_dtype is not None and decoder_dtype != torch.float32:
        model.decoder.convert(decoder_dtype)
    return model


def _int8_convolutions(model: KokoroModel) -> dict[str, Int8Conv1d]:
    return {name: module for name, module in model.named_modules() if isinstance(module, Int8Conv1d)}


def read_weights(weights_path: Path, names: list[str]) -> dict[str, torch.Tensor]:
    """The folded float weights ``names`` (state-dict names, e.g. ``decoder.generator.ups.0.weight``) read
    from the checkpoint, nothing else (the file is memory-mapped, not loaded)."""
    wanted = set(names)
    with safe_open(str(weights_path), framework="pt") as checkpoint:
        raw = {key: checkpoint.get_tensor(key) for key in checkpoint.keys()
               if (key[: -len("_g")] if key.endswith(("_g", "_v")) else key) in wanted}
    folded = fold_weight_norm(raw)
    missing = wanted - folded.keys()
    if missing:
        raise KeyError(f"{weights_path} has no weights for {sorted(missing)[:3]}")
    return folded


@contextmanager
def float_convolutions(model: KokoroModel) -> Iterator[None]:
    """Within: the int8 convolutions' float32 weights, read back from the checkpoint (under a second), so autograd
    runs the float model exactly (the voice fitter); after: released again. Nothing to do for a model
    without int8 convolutions (float, GPU) or with its weights already loaded (an enclosing call)."""
    released = {name: conv for name, conv in _int8_convolutions(model).items() if not conv.has_float_weight}
    if not released:
        yield
        return
    weights = read_weights(_SOURCES[model], [f"{name}.weight" for name in released])
    for name, conv in released.items():
        conv.set_float_weight(weights.pop(f"{name}.weight"))
    try:
        yield
    finally:
        for conv in released.values():
            conv.set_float_weight(None)
