"""Backfill's pacing, on a fake clock."""

from __future__ import annotations

import pytest

from dynamo_continuous_backup.snapshot.backfill import RateLimiter


def test_rate_limiter_paces_read_capacity() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(per_second=10, sleep=sleep, clock=lambda: now[0])
    for _ in range(20):
        limiter.spend(5)  # 100 units at 10 per second: the 20th call may start at 9.5 s
    assert sum(waits) == pytest.approx(9.5)
