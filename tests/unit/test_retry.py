"""core/retry.py, pure: the one full-jitter backoff and the one poll loop, on a fake clock."""

from __future__ import annotations

import random

import pytest

from dynamo_continuous_backup.core.errors import WaitTimeoutError
from dynamo_continuous_backup.core.retry import Backoff, wait_until

from ..fakes import FakeTime


def highest(low: float, high: float) -> float:
    """A 'random' draw that always takes the top of the range, to see the bound itself."""
    return high


def test_full_jitter_draws_between_zero_and_the_exponential_bound() -> None:
    backoff = Backoff(base=0.1, cap=5.0, rand=highest)
    assert [backoff.delay(n) for n in range(4)] == pytest.approx([0.1, 0.2, 0.4, 0.8])
    seeded = Backoff(base=0.1, cap=5.0, rand=random.Random(7).uniform)
    draws = [seeded.delay(3) for _ in range(200)]
    assert all(0.0 <= d <= 0.8 for d in draws) and min(draws) < 0.2 and max(draws) > 0.6  # spread, not fixed


def test_the_cap_bounds_every_delay_even_after_very_many_attempts() -> None:
    backoff = Backoff(base=0.1, cap=5.0, rand=highest)
    assert backoff.delay(6) == 5.0 and backoff.delay(60) == 5.0
    assert backoff.delay(10_000) == 5.0  # 0.1 * 2**10000 would overflow a float


def test_pause_sleeps_the_delay_within_the_deadline() -> None:
    t = FakeTime()
    backoff = Backoff(base=1.0, cap=10.0, sleep=t.sleep, clock=t.clock, rand=highest)
    assert backoff.pause(1, deadline=100.0) and backoff.pause(2) and t.sleeps == [2.0, 4.0]


def test_pause_refuses_past_the_deadline_and_then_never_sleeps() -> None:
    t = FakeTime()
    backoff = Backoff(base=1.0, cap=10.0, sleep=t.sleep, clock=t.clock, rand=highest)
    deadline = 5.0
    answers = [backoff.pause(n, deadline) for n in range(6)]
    # 1 + 2 = 3 s slept; the next wait (4 s) would end at 7 s, past 5 s: refused, and so is every later one
    assert answers == [True, True, False, False, False, False]
    assert t.sleeps == [1.0, 2.0] and t.now < deadline


def test_wait_until_returns_the_first_truthy_value() -> None:
    t = FakeTime()
    answers = iter([None, 0, {"status": "done"}])
    got = wait_until(lambda: next(answers), "the job", timeout=60, interval=1.0, sleep=t.sleep, clock=t.clock)
    assert got == {"status": "done"} and t.sleeps == [1.0, 1.0]


def test_wait_until_times_out_naming_what_it_waited_for() -> None:
    t = FakeTime()
    with pytest.raises(WaitTimeoutError, match="timed out after 10s waiting for the export of orders"):
        wait_until(lambda: None, "the export of orders", timeout=10, interval=1.0, sleep=t.sleep, clock=t.clock)
    assert 10.0 <= t.now <= 11.0  # it gave up once the timeout had passed, not much later


def test_wait_until_doubles_its_interval_up_to_the_maximum() -> None:
    t = FakeTime()
    with pytest.raises(WaitTimeoutError):
        wait_until(lambda: None, "x", timeout=20, interval=0.5, sleep=t.sleep, clock=t.clock, max_interval=4.0)
    assert t.sleeps[:7] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
