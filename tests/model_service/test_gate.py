"""model_service.gate: bounded inferences in flight, a bounded queue and a bounded wait."""

import threading
import time

import pytest

from model_service.gate import Busy, InferenceGate


def _wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_full_queue_is_refused_at_once():
    gate = InferenceGate(slots=1, max_queue=0, timeout=30)
    with gate.slot():
        with pytest.raises(Busy) as info:
            with gate.slot():
                pass
    assert info.value.reason == "queue_full"
    with gate.slot():  # the slot is free again
        assert gate.active == 1


def test_a_queued_request_times_out():
    gate = InferenceGate(slots=1, max_queue=1, timeout=0.05)
    with gate.slot():
        with pytest.raises(Busy) as info:
            with gate.slot():
                pass
    assert info.value.reason == "timeout"
    assert gate.waiting == 0 and gate.active == 0


def test_a_queued_request_runs_when_a_slot_frees():
    gate = InferenceGate(slots=1, max_queue=1, timeout=10)
    release, queued, done = threading.Event(), threading.Event(), []

    def holder():
        with gate.slot():
            queued.wait(5)
            release.wait(5)

    def waiter():
        with gate.slot():
            done.append(gate.active)

    first = threading.Thread(target=holder)
    first.start()
    _wait_until(lambda: gate.active == 1)
    second = threading.Thread(target=waiter)
    second.start()
    _wait_until(lambda: gate.waiting == 1)
    queued.set()
    with pytest.raises(Busy):  # one running, one waiting: the third is refused
        with gate.slot():
            pass
    release.set()
    first.join(5)
    second.join(5)
    assert done == [1]


def test_several_slots_run_together():
    gate = InferenceGate(slots=3, max_queue=0, timeout=1)
    barrier = threading.Barrier(3, timeout=5)

    def work():
        with gate.slot():
            barrier.wait()  # all three must be inside at once, or this times out

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not barrier.broken
