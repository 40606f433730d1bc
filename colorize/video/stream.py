"""Three stages at once on a small machine: decoding (FFmpeg), the network with the stabilisation, and
encoding (x264) each run on their own thread, handing batches through bounded queues. Each stage spends
most of its time in native code that releases the GIL, so the two cores stay busy; the queues' bounds keep
memory to a few batches whatever the length of the video."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator

_END = object()
_POLL_S = 0.1


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def _put(channel: queue.Queue, item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            channel.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def prefetch(items: Iterable, depth: int, stop: threading.Event) -> Iterator:
    """``items`` produced on a thread, at most ``depth`` ahead of the consumer; an error there is raised
    here; ``stop`` set: the producer ends at its next item."""
    channel: queue.Queue = queue.Queue(depth)

    def produce() -> None:
        try:
            for item in items:
                if not _put(channel, item, stop):
                    return
            _put(channel, _END, stop)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
            _put(channel, _Failed(error), stop)

    thread = threading.Thread(target=produce, name="video-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = channel.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


class Sink:
    """Calls made on a thread of their own, in order (``call(fn, *args)``); ``close()`` waits for them and
    raises the first error; after an error, later calls raise it at once."""

    def __init__(self, depth: int):
        self.channel: queue.Queue = queue.Queue(depth)
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="video-encode", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.channel.get()
            if item is _END:
                return
            if self.error is None:
                try:
                    item[0](*item[1])
                except BaseException as error:  # noqa: BLE001 - raised by the next call or close
                    self.error = error

    def call(self, fn: Callable, *args) -> None:
        if self.error is not None:
            raise self.error
        _put(self.channel, (fn, args), self.stop)

    def close(self) -> None:
        self.channel.put(_END)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def abandon(self) -> None:
        """Stop without waiting for the calls queued (an error elsewhere, a cancel)."""
        self.stop.set()
        while True:
            try:
                self.channel.get_nowait()
            except queue.Empty:
                break
        self.channel.put(_END)
        self.thread.join()
