"""A first-come, first-served lock: concurrent requests take turns on the model, segment by segment.

``threading.Lock`` lets the thread that just released it take it straight back, so one long
request streaming segment after segment can starve a short one that arrived meanwhile. Here
each ``acquire`` draws a ticket and waits for its turn: two requests interleave their segments,
and a newcomer waits for at most the one segment being rendered before its own first audio."""

from __future__ import annotations

import threading


class FairLock:
    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._next_ticket = 0
        self._now_serving = 0

    def __enter__(self) -> "FairLock":
        with self._turn:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._turn.wait_for(lambda: self._now_serving == ticket)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._turn:
            self._now_serving += 1
            self._turn.notify_all()

    @property
    def waiting(self) -> int:
        """Callers queued behind the holder (0 when free or held with nobody waiting)."""
        with self._turn:
            return max(0, self._next_ticket - self._now_serving - 1)
