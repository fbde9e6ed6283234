"""The send limits of a whole fleet: one pace and one sliding window for every sender, kept in
the database, used by the send jobs in place of the per-process Pacer and SendWindow."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from digest.config import Config
from digest.store import pacing as pacing_store


class FleetPacer:
    """`[mail].rate_per_second` for all senders together: each wait() reserves the next slot
    in the shared row and sleeps until it starts."""

    def __init__(self, db, rate_per_second: float) -> None:
        self.db = db
        self.interval = 1.0 / rate_per_second
        self._pause_until = 0.0

    def wait(self) -> float:
        start = pacing_store.next_send_slot(self.db, self.interval, time.time())
        slept = max(start, self._pause_until) - time.time()
        if slept > 0:
            time.sleep(slept)
        return max(slept, 0.0)

    def pause(self, seconds: float) -> None:
        self._pause_until = max(self._pause_until, time.time() + seconds)


class FleetWindow:
    """`[mail].max_per_hour` / `max_per_day` over the whole fleet, read from the ledger before
    each send (rows being sent count too). Senders that look at the same moment can pass the
    limit by at most one message each (one per worker)."""

    def __init__(self, db, config: Config) -> None:
        self.db = db
        self.per_hour, self.per_day = config.mail.max_per_hour, config.mail.max_per_day

    @property
    def limited(self) -> bool:
        return self.per_hour > 0 or self.per_day > 0

    def blocked(self) -> str | None:
        now = datetime.now(UTC)
        if self.per_day:
            day = pacing_store.sends_since(self.db, _iso(now - timedelta(days=1)))
            if day >= self.per_day:
                return f"[mail].max_per_day = {self.per_day} reached ({day} in 24 hours)"
        if self.per_hour:
            hour = pacing_store.sends_since(self.db, _iso(now - timedelta(hours=1)))
            if hour >= self.per_hour:
                return f"[mail].max_per_hour = {self.per_hour} reached ({hour} in the last hour)"
        return None

    def record(self) -> None:
        """The ledger row is the record."""


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
