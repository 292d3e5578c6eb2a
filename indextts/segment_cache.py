"""An optional cache of rendered segments, so identical requests (and repeated sentences) cost nothing.

Keyed by everything that decides a segment's audio: its tokens, the voice's content, speed and
the emotion request. Bounded by the seconds of audio it holds (least recently used go first).
Off (0 s) by default so every request is really synthesized; set ``engine.cache_audio_s``."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, Hashable, TypeVar

T = TypeVar("T")


class SegmentCache(Generic[T]):
    def __init__(self, capacity_s: float) -> None:
        self.capacity_s = capacity_s
        self._entries: OrderedDict[Hashable, tuple[T, float]] = OrderedDict()
        self._held_s = 0.0
        self._guard = threading.Lock()
        self.hits = self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.capacity_s > 0

    def get(self, key: Hashable) -> T | None:
        with self._guard:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: Hashable, value: T, seconds: float) -> None:
        if not self.enabled or seconds > self.capacity_s:
            return
        with self._guard:
            if key in self._entries:
                self._held_s -= self._entries.pop(key)[1]
            self._entries[key] = (value, seconds)
            self._held_s += seconds
            while self._held_s > self.capacity_s:
                self._held_s -= self._entries.popitem(last=False)[1][1]

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()
            self._held_s = 0.0
