"""The training schedule's length and learning rate: ``lr_lambda`` (warm-up, then cosine decay) and
``TimeBudget``, which fits the number of steps to a wall-clock budget (``max_minutes``)."""

from __future__ import annotations

import math
import time


def lr_lambda(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 2% of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress))


UNFITTED = 10**9  # the schedule's length with max_minutes before TimeBudget has measured the speed


class TimeBudget:
    """Fits a run's length to a wall-clock budget (``max_minutes``).

    The rate is measured by wall time from the 10th step of this invocation (after start-up and kernel
    autotuning), validations and epoch turns included; ``fit`` then gives the step count that ends
    about 3% before the deadline, capped by ``cap`` (max_steps)."""

    WARM_STEPS = 10
    MARGIN = 0.97

    def __init__(self, minutes: float, step: int, cap: int | None = None, clock=time.monotonic):
        self.clock, self.cap, self.start_step = clock, cap, step
        self.deadline = clock() + minutes * 60
        self.mark: tuple[int, float] | None = None

    def fit(self, step: int) -> int | None:
        now = self.clock()
        if self.mark is None:
            if step - self.start_step >= self.WARM_STEPS:
                self.mark = (step, now)
            return None
        done, spent = step - self.mark[0], now - self.mark[1]
        if done <= 0 or spent <= 0:
            return None
        total = step + max(1, int(done / spent * max(0.0, self.deadline - now) * self.MARGIN))
        return min(total, self.cap) if self.cap else total

    def due(self, step: int) -> bool:
        """Whether to refit at ``step``: at this invocation's steps 10 (the mark), 16, 32, 64, ..."""
        since = step - self.start_step
        return since == self.WARM_STEPS or (since > self.WARM_STEPS and since & (since - 1) == 0)

    def expired(self) -> bool:
        return self.clock() >= self.deadline

    def refit(self, step: int, total: int, validated: bool, movable: bool) -> int:
        """The schedule's length after ``step``: ``step`` once the deadline has passed; refitted at the due steps
        and after each validation while the length may still move (``movable``); else ``total``."""
        if self.expired():
            return step
        if (self.due(step) or validated) and movable:
            fitted = self.fit(step)
            if fitted is not None:
                return max(fitted, step + 1)
        return total
