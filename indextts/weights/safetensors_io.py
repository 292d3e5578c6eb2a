"""Byte-stable safetensors writer.

The manifest pins the sha256 of the built checkpoint, so the bytes must not
depend on the machine or on a library's header formatting: keys sorted,
compact JSON header padded with spaces to 8 bytes, little-endian float32 data
in key order. Any safetensors reader (safetensors, torch, candle) loads it.
"""
from __future__ import annotations

import json
import struct
from typing import Mapping, Protocol

import numpy as np

_DTYPES = {np.dtype("<f4"): "F32"}


class _Sink(Protocol):
    def write(self, data: bytes | memoryview) -> int: ...


def _header(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> bytes:
    entries: dict[str, object] = {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    for key in sorted(tensors):
        arr = tensors[key]
        dtype = _DTYPES.get(arr.dtype.newbyteorder("<"))
        if dtype is None:
            raise TypeError(f"{key}: only float32 is written, got {arr.dtype}")
        entries[key] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    text = json.dumps(entries, separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode()
    return text + b" " * (-len(text) % 8)


def write_safetensors(out: _Sink, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> None:
    """Stream `tensors` (float32 only) to `out` in the safetensors layout."""
    header = _header(tensors, metadata)
    out.write(struct.pack("<Q", len(header)))
    out.write(header)
    for key in sorted(tensors):
        arr = np.ascontiguousarray(tensors[key], dtype="<f4")
        out.write(arr.reshape(-1).view(np.uint8).data)
