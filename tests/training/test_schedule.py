"""training.schedule: the learning-rate curve and the time budget that fits a run's length."""

import math

from training.schedule import TimeBudget, lr_lambda


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_time_budget_fits_the_schedule_to_the_measured_rate():
    clock = _Clock()
    budget = TimeBudget(10, step=100, cap=None, clock=clock)  # 600 s, resumed at step 100
    clock.now += 30  # start-up and autotuning: not measured
    assert budget.fit(110) is None  # the mark: step 110 at t = 30 s
    clock.now += 20  # 40 steps in 20 s: 2 steps/s, 550 s left
    assert budget.fit(150) == 150 + int(2 * 550 * 0.97)
    assert not budget.expired()
    capped = TimeBudget(10, step=0, cap=400, clock=clock)
    capped.fit(10)
    clock.now += 1
    assert capped.fit(60) == 400  # max_steps still caps the schedule
    clock.now += 600
    assert budget.expired() and budget.fit(160) == 161  # past the deadline: at most one more step


def test_refits_are_due_at_the_mark_then_at_powers_of_two():
    budget = TimeBudget(10, step=100)
    assert [s - 100 for s in range(100, 300) if budget.due(s)] == [10, 16, 32, 64, 128]


def test_lr_warms_up_then_decays_to_two_percent():
    assert lr_lambda(0, 10, 100) == 0.1 and lr_lambda(9, 10, 100) == 1.0
    assert math.isclose(lr_lambda(10, 10, 100), 1.0) and math.isclose(lr_lambda(100, 10, 100), 0.02)
