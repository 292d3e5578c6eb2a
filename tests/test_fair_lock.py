"""The model lock: turns in arrival order, a request's first segment ahead of later ones (no model)."""

from __future__ import annotations

import threading
import time

import pytest

from conftest import wait_until
from indextts.fair_lock import FairLock


def start_taker(lock: FairLock, order: list, name, hold_s: float = 0.0, urgent: bool = False) -> threading.Thread:
    def run() -> None:
        with lock.turn(urgent=urgent):
            order.append(name)
            time.sleep(hold_s)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_fair_lock_serves_waiters_in_arrival_order():
    lock, order = FairLock(), []
    lock.__enter__()
    threads = []
    for i in range(4):
        threads.append(start_taker(lock, order, i, hold_s=0.005))
        assert wait_until(lambda: lock.waiting == i + 1), f"waiter {i} never queued"
    assert order == []  # all of them wait while the lock is held
    lock.__exit__(None, None, None)
    for thread in threads:
        thread.join(timeout=5)
    assert order == [0, 1, 2, 3]
    assert lock.waiting == 0


def test_fair_lock_a_releasing_thread_cannot_jump_the_queue():
    """The starvation a plain Lock allows: release and re-acquire at once while another thread waits."""
    lock, order = FairLock(), []
    lock.__enter__()
    waiter = start_taker(lock, order, "waiter")
    assert wait_until(lambda: lock.waiting == 1)
    lock.__exit__(None, None, None)
    with lock:  # straight back for "the next segment"
        order.append("releaser")
    waiter.join(timeout=5)
    assert order == ["waiter", "releaser"]


def test_fair_lock_first_segments_go_ahead_of_later_ones_in_arrival_order():
    """A newcomer's first segment waits for the segment being rendered, not for everyone's next one."""
    lock, order = FairLock(), []
    lock.acquire()
    arrivals = [("later-1", False), ("first-A", True), ("later-2", False), ("first-B", True)]
    threads = []
    for i, (name, urgent) in enumerate(arrivals):
        threads.append(start_taker(lock, order, name, hold_s=0.005, urgent=urgent))
        assert wait_until(lambda: lock.waiting == i + 1), f"{name} never queued"
    lock.release()
    for thread in threads:
        thread.join(timeout=5)
    assert order == ["first-A", "first-B", "later-1", "later-2"]


def test_fair_lock_is_a_reusable_context_manager_released_on_errors():
    lock = FairLock()
    assert lock.waiting == 0
    with lock as held:
        assert held is lock and lock.waiting == 0  # held, nobody queued
    for _ in range(100):
        with lock:
            pass
    with pytest.raises(ValueError):
        with lock:
            raise ValueError("boom")
    order: list = []
    start_taker(lock, order, "after the error").join(timeout=5)
    assert order == ["after the error"]  # the error released it
