"""How fast and how often the sender calls a provider: a steady message rate, bounded
exponential backoff after transient errors, and the rate-limited error class (HTTP 429).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from digest.mail.base import TransientError

BACKOFF_CAP_SECONDS = 60.0


class RateLimitedError(TransientError):
    """The provider asked us to slow down (429). Waited out; never counts as a failure."""


def backoff_delay(
    retry: int, base_seconds: float, cap_seconds: float = BACKOFF_CAP_SECONDS
) -> float:
    """Wait before retry number `retry` (1, 2, 3, ...): base, 2*base, 4*base, ... up to cap."""
    return min(cap_seconds, base_seconds * (2 ** max(0, retry - 1)))


class Pacer:
    """At most `rate_per_second` calls per second: `wait()` before each provider call.

    `clock` and `sleep` are injectable so the rate can be checked against a fake clock.
    """

    def __init__(
        self,
        rate_per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 1.0 / rate_per_second
        self.clock = clock
        self.sleep = sleep
        self._next: float | None = None

    def wait(self) -> float:
        """Sleep until the next slot; returns how long it slept."""
        now = self.clock()
        slept = 0.0
        if self._next is not None and now < self._next:
            slept = self._next - now
            self.sleep(slept)
            now = self._next
        self._next = now + self.interval
        return slept

    def pause(self, seconds: float) -> None:
        """The next call waits at least `seconds` from now (a provider's Retry-After)."""
        if seconds > 0:
            resume = self.clock() + seconds
            self._next = resume if self._next is None else max(self._next, resume)
