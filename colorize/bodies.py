"""A bound, in bytes, on the request bodies one worker of either service holds at once (the requests running
and those queued): plain WSGI and the standard library only, so that the web app's image (which has no torch
and no model code) carries this one file of the core.

A request waits for an inference slot holding its whole body (the uploads are parsed into memory:
model_service.api.InMemoryRequest, middleware.security.InMemoryRequest), so a count of requests bounds
memory only by luck: 16 waiting scans of 160 MiB are 2.5 GiB. BodyBudget wraps the WSGI app and, before a
byte of the body is read, reserves its Content-Length (the largest upload for a chunked body, whose size
is unknown) from the budget (MAX_BODY_BYTES, FLASK_MAX_BODY_BYTES); the reservation ends when
the answer has been sent. A body that does not fit is answered 503 ``busy`` with Retry-After, like a full
queue. Its bytes are read and dropped a chunk at a time first (never held): an HTTP client sends its whole
body before it reads the answer, and a server that answers and closes early hands it a connection reset
instead of the 503 (gunicorn drains at most 64 KiB of a body the app did not read, then closes).
"""

from __future__ import annotations

import ctypes
import gc
import json
import threading
from collections.abc import Callable, Iterable

_DRAIN_CHUNK = 1 << 20
# After a request with a body of a photo (not a probe), the memory its decoding freed is handed back to the
# system: glibc keeps freed heap pages otherwise, 100-200 MB after a 12 MP photo (python -m
# benchmarks.processes), which a second worker in the same container could not use. A trim takes well under
# a millisecond.
TRIM_AFTER_BYTES = 64 << 10


def _malloc_trim() -> Callable[[], object] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return None


_TRIM = _malloc_trim()


def release_freed_memory(collect: bool = False) -> None:
    """Hand the heap pages freed so far back to the system (glibc); ``collect``: free cyclic garbage first
    (tens of milliseconds with the models loaded: once at start, not per request)."""
    if collect:
        gc.collect()
    if _TRIM is not None:
        _TRIM(0)


class _Closing:
    """The app's answer, and ``then`` run when the server closes it (after the last byte is sent)."""

    def __init__(self, answer: Iterable[bytes], then: Callable[[], None]):
        self.answer, self.then = answer, then

    def __iter__(self):
        return iter(self.answer)

    def close(self) -> None:
        try:
            if hasattr(self.answer, "close"):
                self.answer.close()
        finally:
            self.then()


class BodyBudget:
    """WSGI middleware: at most ``limit`` bytes of request bodies admitted at once."""

    def __init__(self, app: Callable, limit: int, max_body: int, retry_after: int | str,
                 on_reject: Callable[[], None] | None = None, setting: str = "MAX_BODY_BYTES",
                 streamed: Iterable[tuple[str, str]] = ()):
        self.app, self.limit, self.max_body, self.retry_after = app, limit, max_body, retry_after
        self.on_reject, self.setting = on_reject, setting  # setting: named in the 503's message
        # (method, path) of routes that stream their bodies to disk (video uploads): bounded by their own limit,
        # never held in memory, so passed through without a reservation
        self.streamed = frozenset(streamed)
        self.held = 0  # bytes reserved by the requests admitted and not yet answered
        self._lock = threading.Lock()

    def _size(self, environ: dict) -> int:
        """The bytes this request's body may hold: its Content-Length, or the most a chunked body may be."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return 0  # Werkzeug refuses the header itself (400)
        if length:
            return length
        return self.max_body if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() else 0

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if (environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")) in self.streamed:
            return self.app(environ, start_response)
        size = self._size(environ)
        if not size or size > self.max_body:  # nothing to hold, or the app answers 413 without reading it
            return self.app(environ, start_response)
        with self._lock:
            admitted = self.held + size <= self.limit
            if admitted:
                self.held += size
            held = self.held
        if not admitted:
            return self._refuse(environ, start_response, size, held)
        released = threading.Event()

        def release() -> None:
            if not released.is_set():
                released.set()
                with self._lock:
                    self.held -= size
                if size >= TRIM_AFTER_BYTES:
                    release_freed_memory()

        try:
            return _Closing(self.app(environ, start_response), release)
        except BaseException:
            release()
            raise

    def _refuse(self, environ: dict, start_response: Callable, size: int, held: int) -> list[bytes]:
        stream, left = environ["wsgi.input"], size
        while left > 0:  # a chunked body's input ends at its last chunk
            chunk = stream.read(min(_DRAIN_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
        if self.on_reject is not None:
            self.on_reject()
        mib = 1 << 20
        message = (f"this worker holds {held / mib:.0f} MiB of request bodies and {size / mib:.1f} MiB more would "
                   f"pass its {self.limit / mib:.0f} MiB ({self.setting}); try again shortly")
        body = json.dumps({"error": {"code": "busy", "message": message}}).encode()
        start_response("503 SERVICE UNAVAILABLE", [("Content-Type", "application/json"),
                                                    ("Content-Length", str(len(body))),
                                                    ("Retry-After", str(self.retry_after))])
        return [body]
