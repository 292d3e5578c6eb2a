"""Bounded on-disk caches: keep the most recently used entries of a folder, remove the rest.

The voice fits (``voices/.cache``, ~0.5 MB a clip) and the page's voice samples (``outputs/.previews``, ~0.1 MB a
voice or mix) are made once and reused; without a bound they would grow for as long as the app is used. An
entry is one or more files sharing a stem (a fit's ``.safetensors`` and ``.json``); its age is its newest file's
modification time, which a reuse refreshes (``touch``).
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

# Reasonable bounds for a workstation: ~100 MB of fits, ~20 MB of samples.
MAX_FITS = 200
MAX_PREVIEWS = 200


def touch(*paths: Path) -> None:
    """Mark a cache entry used now (its files' modification times); a read-only cache is left as it is."""
    for path in paths:
        with contextlib.suppress(OSError):
            os.utime(path)


def prune(folder: Path, keep: int) -> int:
    """Remove all but the ``keep`` most recently used entries of ``folder`` (files grouped by the part of their
    name before the first dot); temp files of writes in progress (``.tmp`` in the name) are left alone.
    Returns how many entries were removed. Errors (a file removed meanwhile, a read-only folder) are ignored."""
    entries: dict[str, list[Path]] = {}
    try:
        files = [p for p in folder.iterdir() if p.is_file() and ".tmp" not in p.name]
    except OSError:
        return 0
    for path in files:
        entries.setdefault(path.name.split(".", 1)[0], []).append(path)

    def last_used(paths: list[Path]) -> float:
        times = []
        for p in paths:
            with contextlib.suppress(OSError):
                times.append(p.stat().st_mtime)
        return max(times, default=0.0)

    stale = sorted(entries.values(), key=last_used, reverse=True)[keep:]
    for paths in stale:
        for path in paths:
            with contextlib.suppress(OSError):
                path.unlink()
    return len(stale)
