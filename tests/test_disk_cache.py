"""Bounded on-disk caches (voice fits, the page's voice samples): the least recently used entries go."""
from __future__ import annotations

import os
import time

import torch

from indextts import disk_cache
from indextts.voice_library import VoiceLibrary


def _entry(folder, stem, age_s, suffixes=(".wav",)):
    for suffix in suffixes:
        path = folder / f"{stem}{suffix}"
        path.write_bytes(b"x")
        then = time.time() - age_s
        os.utime(path, (then, then))


def test_prune_keeps_the_most_recently_used_entries_and_whole_entries(tmp_path):
    for i in range(5):  # e0 is the newest
        _entry(tmp_path, f"e{i}", age_s=100 * i, suffixes=(".steps8.safetensors", ".steps8.json"))
    (tmp_path / ".e9.steps8.json.abc.tmp").write_bytes(b"a write in progress")
    disk_cache.touch(tmp_path / "e4.steps8.json")  # used just now: the newest
    assert disk_cache.prune(tmp_path, keep=2) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".e9.steps8.json.abc.tmp", "e0.steps8.json", "e0.steps8.safetensors", "e4.steps8.json",
        "e4.steps8.safetensors"]
    assert disk_cache.prune(tmp_path / "missing", keep=1) == 0


def test_the_fit_cache_stays_bounded_and_a_reused_fit_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(disk_cache, "MAX_FITS", 3)
    library = VoiceLibrary(tmp_path / "voices")
    pack = torch.zeros(510, 1, 256)
    for i in range(3):
        library.store_fit(f"{i:064x}", 8, pack, {"i": i})
        time.sleep(0.02)
    assert library.cached_fit(f"{0:064x}", 8) is not None  # the oldest, used again: now the newest
    time.sleep(0.02)
    library.store_fit(f"{3:064x}", 8, pack, {"i": 3})
    assert library.cached_fit(f"{1:064x}", 8) is None       # the least recently used went
    assert all(library.cached_fit(f"{i:064x}", 8) is not None for i in (0, 2, 3))
