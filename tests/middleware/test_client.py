"""ModelServiceClient's retry policy: connection failures are retried within the budget, nothing else."""

from __future__ import annotations

import time

import pytest
import requests
from urllib3.exceptions import NewConnectionError

from middleware.client import ModelServiceClient, ModelServiceTimeout, ModelServiceUnavailable


class ScriptedSession:
    """Raises the scripted exceptions in turn, then answers 200."""

    def __init__(self, *failures: Exception):
        self.failures = list(failures)
        self.calls = 0

    def request(self, method, url, **kwargs):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        response = requests.Response()
        response.status_code = 200
        response._content = b'{"status": "ready"}'
        return response


def refused() -> requests.ConnectionError:
    return requests.ConnectionError(type("MaxRetry", (), {"reason": NewConnectionError(None, "refused")})())


def test_connection_failures_are_retried_with_back_off():
    session = ScriptedSession(refused(), refused())
    client = ModelServiceClient("http://service", session=session, backoff=0.01)
    assert client.model_info() == {"status": "ready"}
    assert session.calls == 3


def test_retries_stop_within_the_unreachable_budget():
    session = ScriptedSession(*[refused() for _ in range(100)])
    client = ModelServiceClient("http://service", session=session, connect_timeout=0.2,
                                unreachable_budget=0.5, backoff=0.05)
    start = time.monotonic()
    with pytest.raises(ModelServiceUnavailable):
        client.model_info()
    assert time.monotonic() - start < 0.5
    assert 1 < session.calls < 10


def test_read_timeouts_are_never_retried():
    session = ScriptedSession(requests.ReadTimeout())
    client = ModelServiceClient("http://service", session=session, backoff=0.01)
    with pytest.raises(ModelServiceTimeout):
        client.colorize(b"\xff\xd8\xff", "image/jpeg")
    assert session.calls == 1  # the service has the image; sending it again would double its work


def test_connect_timeouts_are_retried():
    session = ScriptedSession(requests.ConnectTimeout())
    client = ModelServiceClient("http://service", session=session, backoff=0.01)
    assert client.is_ready()
    assert session.calls == 2
