"""Sender reputation guards: the 7-day complaint rate (warn above 0.1 %, pause sending above
0.3 %, the Gmail bulk-sender limits) and an optional sliding sending window (at most N sent in
any hour / day), both computed from the delivery ledger and the provider's webhook events.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from digest.config import Config

WINDOW_DAYS = 7
HOUR, DAY = 3600.0, 86400.0


@dataclass(frozen=True)
class SenderHealth:
    """Provider-reported complaints and hard bounces against what we sent, last 7 days."""

    sent: int
    complaints: int
    bounces: int
    level: str  # ok | warn | pause
    message: str

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    def as_dict(self) -> dict:
        return {
            "days": WINDOW_DAYS,
            "sent": self.sent,
            "complaints": self.complaints,
            "bounces": self.bounces,
            "complaint_rate": round(self.complaint_rate, 6),
            "level": self.level,
            "message": self.message,
        }


def judge(sent: int, complaints: int, bounces: int, config: Config) -> SenderHealth:
    """Pure: the level for these 7-day counts under `[mail]`'s complaint settings."""
    mail = config.mail
    rate = complaints / sent if sent else 0.0
    figures = f"{complaints} complaints / {sent} sent in {WINDOW_DAYS} days ({rate:.2%})"
    if sent < mail.complaint_min_sent or rate <= mail.complaint_warn_rate:
        return SenderHealth(sent, complaints, bounces, "ok", figures)
    if rate > mail.complaint_pause_rate:
        return SenderHealth(
            sent,
            complaints,
            bounces,
            "pause",
            f"{figures} is above [mail].complaint_pause_rate = {mail.complaint_pause_rate:.2%}",
        )
    return SenderHealth(
        sent,
        complaints,
        bounces,
        "warn",
        f"{figures} is above [mail].complaint_warn_rate = {mail.complaint_warn_rate:.2%}",
    )


def sender_health(db, config: Config, now: datetime | None = None) -> SenderHealth:
    from digest.store import deliveries as ledger_store
    from digest.store import service as service_store

    since = ((now or datetime.now(UTC)) - timedelta(days=WINDOW_DAYS)).isoformat(timespec="seconds")
    events = service_store.count_reputation_events(db, since)
    sent = ledger_store.count_sent_since(db, since)
    return judge(sent, events["complaints"], events["bounces"], config)


class SendWindow:
    """At most `per_hour` / `per_day` sends in any sliding hour / day (0 = no limit).

    `times` are the epoch seconds of earlier sends (from the ledger); `clock` is injectable.
    """

    def __init__(
        self,
        per_hour: int,
        per_day: int,
        times: list[float] = (),  # type: ignore[assignment]
        clock: Callable[[], float] = time.time,
    ):
        self.per_hour, self.per_day, self.clock = per_hour, per_day, clock
        self.sent: deque[float] = deque(sorted(times))

    @property
    def limited(self) -> bool:
        return self.per_hour > 0 or self.per_day > 0

    def blocked(self) -> str | None:
        """Why the next send must wait (None: it may go now)."""
        now = self.clock()
        while self.sent and self.sent[0] <= now - DAY:
            self.sent.popleft()
        in_hour = sum(1 for moment in self.sent if moment > now - HOUR)
        if self.per_day and len(self.sent) >= self.per_day:  # the longer wait first
            return f"[mail].max_per_day = {self.per_day} reached ({len(self.sent)} in 24 hours)"
        if self.per_hour and in_hour >= self.per_hour:
            return f"[mail].max_per_hour = {self.per_hour} reached ({in_hour} in the last hour)"
        return None

    def record(self) -> None:
        self.sent.append(self.clock())


def window_from_ledger(db, config: Config) -> SendWindow:
    """The sliding window with the last day's sends loaded (cheap when no limit is set)."""
    from digest.store import deliveries as ledger_store

    mail = config.mail
    if not (mail.max_per_hour or mail.max_per_day):
        return SendWindow(0, 0)
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
    times = [
        datetime.fromisoformat(t).timestamp() for t in ledger_store.sent_finish_times(db, since)
    ]
    return SendWindow(mail.max_per_hour, mail.max_per_day, times)


def check_reputation(db, config: Config, *, ignore: bool = False) -> SenderHealth:
    """Refuse to send while the complaint rate is above the pause level (unless `ignore`)."""
    from digest.errors import DigestError

    health = sender_health(db, config)
    if health.level == "pause" and not ignore:
        raise DigestError(
            f"sending is paused: {health.message}; nothing was sent. Look at the spam "
            "reports and who is on the list, then send with --ignore-complaints"
        )
    return health
