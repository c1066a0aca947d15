"""The one backoff and the one poll loop of the package, with injectable sleep, clock and
randomness so tests never really wait."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import WaitTimeoutError


@dataclass
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n))."""

    base: float = 0.1
    cap: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    rand: Callable[[float, float], float] = field(default=random.uniform, repr=False)

    def delay(self, attempt: int) -> float:
        # The exponent is bounded: base * 2**n overflows a float for large n (an hour of
        # retries must not crash the retry loop), and 2**64 is past any cap anyway.
        return self.rand(0.0, min(self.cap, self.base * 2 ** min(attempt, 64)))

    def pause(self, attempt: int, deadline: float | None = None) -> bool:
        """Sleep before retry `attempt`; False (without sleeping) when it would pass `deadline`."""
        wait = self.delay(attempt)
        if deadline is not None and self.clock() + wait >= deadline:
            return False
        self.sleep(wait)
        return True


def wait_until(
    check: Callable[[], Any],
    what: str,
    timeout: float,
    interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    max_interval: float | None = None,
) -> Any:
    """Poll `check` until it returns a truthy value; raise WaitTimeoutError after `timeout` s.
    With `max_interval` the interval doubles after each poll up to it (for long AWS jobs)."""
    deadline = clock() + timeout
    while True:
        result = check()
        if result:
            return result
        if clock() >= deadline:
            raise WaitTimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        sleep(interval)
        if max_interval is not None:
            interval = min(max_interval, interval * 2)
