"""Streaming sha256 of files and a (size, mtime) cache of past verifications."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import BinaryIO

from ..atomic import atomic_output

_CHUNK = 1 << 20
STAMP_NAME = ".verified.json"  # untracked, lives in cache_hub/


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (never whole in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def copy_hashing(src: BinaryIO, dst: BinaryIO, digest: "hashlib._Hash") -> int:
    """Copy a stream in chunks, feeding the digest; return bytes copied."""
    total = 0
    for chunk in iter(lambda: src.read(_CHUNK), b""):
        digest.update(chunk)
        dst.write(chunk)
        total += len(chunk)
    return total


def _file_key(path: Path) -> list[int]:
    # ctime and inode change on every write or replace, even if a tool resets mtime.
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


class VerificationStamps:
    """Remembers which files hashed to which sha256, keyed by their stat data.

    Hashing the 330 MB model costs ~0.5 s per check; the launcher and the
    engine check on every start, so an unchanged file is trusted by its stat.
    """

    def __init__(self, root: Path) -> None:
        self._path = root / STAMP_NAME
        self._stamps = self._read()

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # missing or damaged cache: just hash again
        return data if isinstance(data, dict) else {}

    def matches(self, rel_path: str, path: Path, sha256: str) -> bool:
        stamp = self._stamps.get(rel_path)
        if not isinstance(stamp, dict) or stamp.get("sha256") != sha256:
            return False
        try:
            return stamp.get("key") == _file_key(path)
        except OSError:
            return False

    def record(self, rel_path: str, path: Path, sha256: str) -> None:
        self._stamps[rel_path] = {"sha256": sha256, "key": _file_key(path)}
        self._save()

    def forget(self, rel_path: str) -> None:
        if self._stamps.pop(rel_path, None) is not None:
            self._save()

    def _save(self) -> None:
        try:
            with atomic_output(self._path) as out:
                out.write(json.dumps(self._stamps, indent=1, sort_keys=True).encode())
        except OSError:
            pass  # a read-only cache_hub only costs a re-hash next time


def stat_size(path: Path) -> int | None:
    """File size, or None when it does not exist."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return None
