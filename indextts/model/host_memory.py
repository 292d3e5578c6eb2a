"""The process's CPU-side memory: allocator settings for a long-running server, and freed memory handed back.

A server's live tensors stay small between requests, but its resident memory need not follow them
(bench/RESULTS.md "Memory under use" measures a whole session). Three things keep memory resident:
- oneDNN keeps a compiled primitive per convolution shape, and nearly every shape depends on the segment's
  length. The rendered window comes in whole 0.2 s steps (``kokoro.speech_span``), so sentences of similar
  length share one set (~100 primitives, ~1 ms each to build: 8-10 % of a short sentence's time); 1024
  entries keep about ten such lengths.
- glibc malloc keeps freed memory in its heap and gives back only the top: a long segment's vocoder
  tensors (hundreds of MB) or a fit's autograd buffers (~750 MB) would stay resident after the call.
- each new thread gets its own malloc arena (up to 8 per core) with its own high-water mark, so requests
  served from several worker threads multiply what is kept (2 arenas: peak 2.1 GB over 30 requests from
  2 clients; 1 arena: 1.6 GB).
``configure`` bounds the cache and the arenas; ``release_free_memory`` gives the heap's free pages back when
the last overlapping request ends and after a fit (``IdleRelease``). The next request faults its pages in
again: about 2 % more CPU time for that request. Giving memory back at every free instead (a fixed mmap
threshold of 1 MB) costs 40 % more CPU time in page faults.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

ONEDNN_CACHE_ENTRIES = 1024  # the bound bench/memory.py measured (oneDNN's default today), pinned
MALLOC_ARENAS = 1  # the model runs one call at a time: one heap to reuse, not one per thread
_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (musl and other systems have no malloc_trim/mallopt)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - raises AttributeError outside glibc
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _glibc()


def configure() -> None:
    """Bound oneDNN's primitive cache and the number of malloc arenas, unless the environment already sets
    them (ONEDNN_PRIMITIVE_CACHE_CAPACITY, MALLOC_ARENA_MAX). Call before the first convolution runs (oneDNN
    reads its setting once) and, for the arenas, before worker threads start; calling again changes nothing."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(ONEDNN_CACHE_ENTRIES))
    if _LIBC is not None and "MALLOC_ARENA_MAX" not in os.environ:
        _LIBC.mallopt(_M_ARENA_MAX, MALLOC_ARENAS)


def release_free_memory() -> None:
    """Give the heap's free pages back to the system (glibc ``malloc_trim``: every arena, not only the top;
    ~1 ms, ~100 ms after a voice fit). A no-op without glibc."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class IdleRelease:
    """Counts overlapping jobs (requests) and releases freed memory when the last of them ends.

    While requests overlap, the memory one frees is reused by the next, so it is kept; once none is left,
    it goes back to the system, and the process sits at its live size between bursts."""

    def __init__(self) -> None:
        self._active = 0
        self._guard = threading.Lock()

    @contextmanager
    def job(self) -> Iterator[None]:
        with self._guard:
            self._active += 1
        try:
            yield
        finally:
            with self._guard:
                self._active -= 1
                idle = self._active == 0
            if idle:
                release_free_memory()
