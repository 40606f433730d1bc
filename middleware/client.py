"""ModelServiceClient: the only code that talks to the model service (HTTP, timeouts on every call).

Connection failures (nothing listening, connect timed out) are retried with back-off, because the
service may be restarting; the whole attempt never takes longer than ``unreachable_budget`` seconds.
A request the service took and then hung up on before any byte of its answer (a worker killed or
restarted, a stale pooled connection) is sent once more on a fresh connection: colouring is idempotent,
and another worker of the service (two by default) answers it. A read timeout, a 4xx or 5xx answer and an
answer cut off part way are never retried: the service got the image and is busy with it, or it answered.
Every 503 carries ``Retry-After``: the service's own when it sent one, else RETRY_AFTER.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

# The model service's answer headers about the photo: its bit depth, a multi-page TIFF's page count and page.
PASSED_HEADERS = ("X-Bit-Depth", "X-Source-Pages", "X-Page", "X-Hints", "X-Vividness")
log = logging.getLogger(__name__)
RETRY_AFTER = "5"  # seconds, when the service is unreachable or did not say (a restart takes a few)
# The upload page's model list changes only when the service restarts with other settings: ask it again
# after this many seconds. A failed ask is remembered for less, so that the page does not wait for an
# unreachable service on every visit, yet shows the choice soon after the service is back.
MODELS_MAX_AGE = 30.0
MODELS_FAILURE_MAX_AGE = 5.0


class ModelServiceError(Exception):
    """The model service could not give an answer; ``status`` and ``code`` say how to report it."""

    status = 502
    code = "bad_gateway"

    def __init__(self, message: str, status: int | None = None, code: str | None = None,
                 retry_after: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.status = status or self.status
        self.code = code or self.code
        self.retry_after = retry_after
        self.details = details or {}  # passed on in the error object (unknown_model: "models", the names)


class ModelServiceUnavailable(ModelServiceError):
    """Nothing answered at the model service's address (or it said it is not ready)."""

    status = 503
    code = "model_service_unavailable"


class ModelServiceTimeout(ModelServiceError):
    """The model service accepted the request but did not answer within the read timeout."""

    status = 504
    code = "model_service_timeout"


class ModelServiceRejected(ModelServiceError):
    """The model service answered 4xx: the upload itself is at fault; its status and message pass on."""


@dataclass(frozen=True)
class ColorizedImage:
    data: bytes
    content_type: str
    model_version: str | None = None
    inference_ms: str | None = None
    model_name: str | None = None
    # what the service says about the photo (PASSED_HEADERS), passed on to the client as they are
    details: tuple[tuple[str, str], ...] = ()
    chunks: Iterator[bytes] | None = None  # stream=True: the answer as it arrives (``data`` is then empty)
    length: str | None = None  # its Content-Length, when the service sent one


def _relay(response: requests.Response) -> Iterator[bytes]:
    """The answer's body in chunks as it arrives; the connection goes back to the pool when it is done."""
    try:
        yield from response.iter_content(chunk_size=1 << 20)
    finally:
        response.close()


def _is_connect_failure(exc: requests.ConnectionError) -> bool:
    """True when the request never reached the service (so sending it again is safe)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _fresh_session() -> requests.Session:
    """A session with no pooled connections, closing its one connection once the answer is read."""
    session = requests.Session()
    session.headers["Connection"] = "close"
    return session


class ModelServiceClient:
    """A small client for the model service's /v1 API over one pooled ``requests.Session``."""

    def __init__(self, base_url: str, connect_timeout: float = 0.5, read_timeout: float = 60.0,
                 unreachable_budget: float = 2.0, backoff: float = 0.1,
                 session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.unreachable_budget = unreachable_budget
        self.backoff = backoff
        self.session = session or requests.Session()
        self._models: tuple[float, dict | ModelServiceError] | None = None  # (expiry, answer or failure)
        self.retries = 0  # requests sent again after a hang-up (each also logged)

    def colorize(self, image: bytes, content_type: str, render_size: int | None = None,
                 output_format: str | None = None, model: str | None = None,
                 stream: bool = False, hints: str | None = None, vividness: str | None = None) -> ColorizedImage:
        """Send one image; return the colorized image (same size) or raise a ModelServiceError.

        ``model``: a name from ``GET /v1/models``; None: the service's default. ``stream``: the answer's bytes
        are not read here but passed on as they arrive (``chunks``, ``length``): a 50 MP scan's answer is
        300 MB, which a web worker should not hold. ``hints``: colour hints as JSON text, passed on as they are;
        ``vividness``: for a model with a colour distribution, "0" ... "1"."""
        options = (("render_size", render_size), ("format", output_format), ("model", model), ("hints", hints),
                   ("vividness", vividness))
        params = {k: v for k, v in options if v}
        response = self._request("POST", "/v1/colorize", params=params, data=image,
                                 headers={"Content-Type": content_type}, stream=stream)
        try:
            self._raise_for_status(response)
        except ModelServiceError:
            response.close()
            raise
        return ColorizedImage(
            data=b"" if stream else response.content,
            chunks=_relay(response) if stream else None,
            length=response.headers.get("Content-Length") if stream else None,
            content_type=response.headers.get("Content-Type", "application/octet-stream"),
            model_version=response.headers.get("X-Model-Version"),
            inference_ms=response.headers.get("X-Inference-Time-Ms"),
            model_name=response.headers.get("X-Model-Name"),
            details=tuple((h, response.headers[h]) for h in PASSED_HEADERS if h in response.headers),
        )

    def model_info(self) -> dict:
        """The checkpoint's metadata (``GET /v1/models``)."""
        response = self._request("GET", "/v1/models")
        self._raise_for_status(response)
        try:
            return response.json()
        except ValueError as exc:
            raise ModelServiceError("The model service sent model metadata that is not JSON.") from exc

    def models(self) -> dict:
        """``GET /v1/models`` for the upload page, reused for MODELS_MAX_AGE seconds; asked with the probes'
        short read timeout, since a page waits for it."""
        now = time.monotonic()
        if self._models is not None and now < self._models[0]:
            answer = self._models[1]
            if isinstance(answer, ModelServiceError):
                raise ModelServiceUnavailable(answer.message, retry_after=RETRY_AFTER)
            return answer
        try:
            response = self._request("GET", "/v1/models", read_timeout=self.unreachable_budget)
            self._raise_for_status(response)
            try:
                answer = response.json()
            except ValueError as exc:
                raise ModelServiceError("The model service sent a model list that is not JSON.") from exc
        except ModelServiceError as exc:
            self._models = (now + MODELS_FAILURE_MAX_AGE, exc)
            raise
        self._models = (now + MODELS_MAX_AGE, answer)
        return answer

    def is_ready(self) -> bool:
        """Whether the model service says it is loaded and warmed up (``GET /readyz``)."""
        try:
            return self._request("GET", "/readyz", read_timeout=self.unreachable_budget).ok
        except ModelServiceError:
            return False

    def _request(self, method: str, path: str, read_timeout: float | None = None, resend: bool = True,
                 send_timeout: float | None = None, **kwargs) -> requests.Response:
        """``resend``: False where a request the service hung up on must not be sent again (an upload it may
        have taken). ``send_timeout``: for a large body, which urllib3 sends under the connect timeout."""
        deadline = time.monotonic() + self.unreachable_budget
        delay = self.backoff
        session, hung_up = self.session, False
        while True:
            connect_timeout = send_timeout or min(self.connect_timeout, max(0.05, deadline - time.monotonic()))
            try:
                return session.request(method, self.base_url + path,
                                       timeout=(connect_timeout, read_timeout or self.read_timeout), **kwargs)
            except requests.ReadTimeout as exc:
                raise ModelServiceTimeout(
                    "The colorization service took too long to answer. "
                    "Try a smaller image or a faster render size."
                ) from exc
            except requests.ConnectionError as exc:
                if not _is_connect_failure(exc):
                    # It had the request and hung up before answering: its worker stopped or restarted, or
                    # the pooled connection was to a worker gone since. Once more, on a connection of its
                    # own (the pool may hold more to the same dead worker); a second hang-up is answered
                    # (an image that kills a worker must not kill them all).
                    if resend and not hung_up:
                        hung_up, session = True, _fresh_session()
                        self.retries += 1
                        log.warning("the model service hung up on %s %s before answering; sent once more", method, path)
                        continue
                    raise ModelServiceUnavailable(
                        "The colorization service closed the connection before answering. "
                        "Please try again in a moment.", retry_after=RETRY_AFTER,
                    ) from exc
                # Retry only if a back-off and another full connect attempt still fit in the budget.
                if time.monotonic() + delay + self.connect_timeout > deadline:
                    raise ModelServiceUnavailable(
                        "The colorization service is not reachable right now. "
                        "Please try again in a moment.", retry_after=RETRY_AFTER,
                    ) from exc
                time.sleep(delay)
                delay *= 2
            except requests.RequestException as exc:
                raise ModelServiceError(f"The colorization service could not be asked: {exc}") from exc

    @staticmethod
    def _raise_for_status(response: requests.Response) -> None:
        if response.ok:
            return
        message, code, details = _error_of(response)
        retry_after = response.headers.get("Retry-After")
        if response.status_code == 503:
            raise ModelServiceUnavailable(
                message or "The colorization service is busy or still starting. Please try again shortly.",
                code=code, retry_after=retry_after or RETRY_AFTER)
        if 400 <= response.status_code < 500:
            raise ModelServiceRejected(message or "The colorization service could not use this image.",
                                       status=response.status_code, code=code or "rejected", details=details)
        raise ModelServiceError(
            f"The colorization service failed (HTTP {response.status_code}). Please try again.")


def _error_of(response: requests.Response) -> tuple[str | None, str | None, dict]:
    """The ``{"error": {"code", "message"}}`` of a model-service error response, if it has one, and the
    details worth passing on: an unknown model's ``models``, the names the user may choose from."""
    try:
        error = response.json().get("error") or {}
        models = error.get("models")
        details = {"models": models} if isinstance(models, list) and all(isinstance(m, str) for m in models) else {}
        return error.get("message"), error.get("code"), details
    except (ValueError, AttributeError):
        return None, None, {}


def current_client() -> ModelServiceClient:
    """The app's client (``app.extensions["model_service"]``), for use inside a request."""
    from flask import current_app

    return current_app.extensions["model_service"]
