"""Atomic file output: write a temp file beside the target, then rename."""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator


class HashingWriter:
    """File-like sink that hashes and counts what passes through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self._digest.update(data)
        self._raw.write(data)
        self.size += len(data)
        return len(data)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


@contextlib.contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temp path beside `dest`; whatever is written there replaces `dest` on success.

    The temp file sits in the same folder so os.replace is a same-filesystem
    rename: readers see the old file or the complete new one, never a torso.
    Raising inside the block (e.g. on a checksum mismatch) discards the temp.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, _target_mode(dest))  # mkstemp's 0600 would leak into the result
        yield tmp
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(dest.parent)


@contextlib.contextmanager
def atomic_output(dest: Path) -> Iterator[HashingWriter]:
    """Like atomic_path, but yields a writer that also hashes and counts the bytes."""
    with atomic_path(dest) as tmp, open(tmp, "wb") as raw:
        yield HashingWriter(raw)


def _target_mode(dest: Path) -> int:
    try:
        return dest.stat().st_mode & 0o777  # keep the mode of the file we replace
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not supported everywhere, hence optional.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
