"""ModelServiceClient's retry policy: connection failures are retried within the budget, nothing else."""

from __future__ import annotations

import pytest
import requests
from urllib3.exceptions import NewConnectionError

from middleware.client import ModelServiceClient, ModelServiceTimeout, ModelServiceUnavailable


class ScriptedSession:
    """Raises the scripted exceptions in turn, then answers 200. Records each try's (connect, read) timeouts."""

    def __init__(self, *failures: Exception):
        self.failures = list(failures)
        self.calls = 0
        self.timeouts: list[tuple[float, float]] = []

    def request(self, method, url, timeout, **kwargs):
        self.calls += 1
        self.timeouts.append(timeout)
        if self.failures:
            raise self.failures.pop(0)
        response = requests.Response()
        response.status_code = 200
        response._content = b'{"status": "ready"}'
        return response


def refused() -> requests.ConnectionError:
    return requests.ConnectionError(type("MaxRetry", (), {"reason": NewConnectionError(None, "refused")})())


class FakeClock:
    """``middleware.client.time`` on the client's own terms: a back-off moves it on by the time slept (without
    sleeping), and each try by the whole connect timeout it was given, the most a connection attempt may take.
    So the budget is checked against what the client does, not against how fast this machine is."""

    def __init__(self, session: ScriptedSession, monkeypatch):
        self.now = 0.0
        self.sleeps: list[float] = []
        send = session.request

        def request(method, url, timeout, **kwargs):
            self.now += timeout[0]
            return send(method, url, timeout=timeout, **kwargs)

        monkeypatch.setattr(session, "request", request)
        monkeypatch.setattr("middleware.client.time", self)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if len(self.sleeps) > 50:  # fail, instead of retrying for ever
            raise AssertionError(f"still retrying after {len(self.sleeps)} back-offs")


def test_connection_failures_are_retried_with_back_off(monkeypatch):
    session = ScriptedSession(refused(), refused())
    client = ModelServiceClient("http://service", session=session, backoff=0.01)
    clock = FakeClock(session, monkeypatch)
    assert client.model_info() == {"status": "ready"}
    assert session.calls == 3
    assert clock.sleeps == [0.01, 0.02]  # the back-off doubles after each failed try


def test_retries_stop_within_the_unreachable_budget(monkeypatch):
    session = ScriptedSession(*[refused() for _ in range(100)])
    client = ModelServiceClient("http://service", session=session, connect_timeout=0.2, read_timeout=7.0,
                                unreachable_budget=0.5, backoff=0.05)
    clock = FakeClock(session, monkeypatch)
    with pytest.raises(ModelServiceUnavailable) as raised:
        client.model_info()
    assert "not reachable" in raised.value.message and raised.value.retry_after
    # Try (0.2 s), back off 0.05 s, try again (0.2 s): 0.45 s. A third try would need a back-off of 0.1 s
    # and another 0.2 s, past the 0.5 s budget, so the client gives up instead of starting it.
    assert session.timeouts == [(0.2, 7.0), (0.2, 7.0)]
    assert clock.sleeps == [0.05]
    assert clock.now <= client.unreachable_budget


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


def hung_up() -> requests.ConnectionError:
    """What requests raises when the service closes a connection it had the request on, before answering."""
    return requests.ConnectionError(ConnectionResetError(104, "Connection reset by peer"))


def test_a_hang_up_is_sent_once_more_on_a_fresh_connection(monkeypatch):
    pooled, fresh = ScriptedSession(hung_up()), ScriptedSession()
    monkeypatch.setattr("middleware.client._fresh_session", lambda: fresh)
    client = ModelServiceClient("http://service", session=pooled, backoff=0.01)
    assert client.colorize(b"\xff\xd8\xff", "image/jpeg").data == b'{"status": "ready"}'
    # Not on the pool, which may hold more connections to the worker that is gone.
    assert (pooled.calls, fresh.calls, client.retries) == (1, 1, 1)


def test_a_second_hang_up_is_a_503_not_a_third_try(monkeypatch):
    pooled, fresh = ScriptedSession(hung_up()), ScriptedSession(hung_up())
    monkeypatch.setattr("middleware.client._fresh_session", lambda: fresh)
    client = ModelServiceClient("http://service", session=pooled, backoff=0.01)
    with pytest.raises(ModelServiceUnavailable) as raised:
        client.colorize(b"\xff\xd8\xff", "image/jpeg")
    assert "closed the connection" in raised.value.message
    assert (pooled.calls, fresh.calls) == (1, 1)
