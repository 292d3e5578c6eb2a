"""A first-come, first-served lock where a request's first segment goes ahead of later ones.

``threading.Lock`` lets the thread that just released it take it straight back, so one long
request streaming segment after segment can starve a short one that arrived meanwhile. Here
each acquire queues and waits for its turn, so concurrent requests interleave their segments
in arrival order; and ``turn(urgent=True)`` (a request's first segment) queues ahead of the
non-urgent ones, so a newcomer's first audio waits for the segment being rendered and for
other first segments only, not for a round of everyone's next segment. Nothing starves: each
request has one urgent turn."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from contextlib import contextmanager
from typing import Iterator


class FairLock:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._tickets = itertools.count()
        self._urgent: deque[int] = deque()
        self._normal: deque[int] = deque()
        self._held = False
        self._granted: int | None = None

    def acquire(self, urgent: bool = False) -> None:
        with self._changed:
            if not self._held:
                self._held = True
                return
            ticket = next(self._tickets)
            (self._urgent if urgent else self._normal).append(ticket)
            self._changed.wait_for(lambda: self._granted == ticket)
            self._granted = None

    def release(self) -> None:
        with self._changed:
            queue = self._urgent or self._normal
            if queue:  # hand over directly: the lock stays held, so no one can cut in
                self._granted = queue.popleft()
                self._changed.notify_all()
            else:
                self._held = False

    @contextmanager
    def turn(self, urgent: bool = False) -> Iterator["FairLock"]:
        self.acquire(urgent)
        try:
            yield self
        finally:
            self.release()

    def __enter__(self) -> "FairLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    @property
    def waiting(self) -> int:
        """Callers queued behind the holder (0 when free or held with nobody waiting)."""
        with self._changed:
            return len(self._urgent) + len(self._normal)
