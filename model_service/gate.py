"""A bounded number of inferences in flight, a bounded queue before them and a bounded wait in it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Busy(RuntimeError):
    """No inference slot is free and the queue is full, or the wait for a slot timed out."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason  # "queue_full" or "timeout": a label for the rejection metric


class InferenceGate:
    """``with gate.slot(): ...`` runs at most ``slots`` bodies at once; ``max_queue`` more may wait."""

    def __init__(self, slots: int, max_queue: int, timeout: float):
        self.slots, self.max_queue, self.timeout = slots, max_queue, timeout
        self._cond = threading.Condition()
        self.active = 0  # bodies running
        self.waiting = 0  # callers blocked for a slot

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._cond:
            if self.active >= self.slots and self.waiting >= self.max_queue:
                raise Busy(f"all {self.slots} inference slot(s) busy and {self.waiting} request(s) "
                           "already queued", "queue_full")
            self.waiting += 1
            try:
                free = self._cond.wait_for(lambda: self.active < self.slots, self.timeout)
            finally:
                self.waiting -= 1
            if not free:
                raise Busy(f"no inference slot became free within {self.timeout:g} s", "timeout")
            self.active += 1
        try:
            yield
        finally:
            with self._cond:
                self.active -= 1
                self._cond.notify()
