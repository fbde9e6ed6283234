"""Per-subscriber delivery times: a subscriber may ask for their digest at a local hour.
Also the later pass for rows a sending window ([mail].max_per_hour / max_per_day) left queued.

A digest is rendered and queued with everyone else's; its row stays `queued` ("held") until
the issue day's `send_hour` in the subscriber's time zone. The scheduler's hourly pass (or
`digest send --held` from cron) delivers the rows whose hour has come.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def local_send_moment(issue_date: date, timezone: str, send_hour: int | None) -> datetime | None:
    """When a subscriber's digest of `issue_date` may go out (None: as soon as it is ready).

    The moment is `send_hour`:00 on the issue date in the subscriber's zone; an unknown zone
    counts as UTC (the web form and import validate zones; old rows may not be).
    """
    if send_hour is None:
        return None
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return datetime.combine(issue_date, time(hour=send_hour), tzinfo=zone)


def split_due(
    issue_date: date, rows: list[tuple[str, str, int | None]], now: datetime
) -> tuple[list[str], list[datetime]]:
    """Split queued rows (id, timezone, send_hour) into ids due now and held rows' moments."""
    due: list[str] = []
    held: list[datetime] = []
    for delivery_id, timezone, send_hour in rows:
        moment = local_send_moment(issue_date, timezone, send_hour)
        if moment is None or moment <= now:
            due.append(delivery_id)
        else:
            held.append(moment)
    return due, held


def next_moment_utc(held: list[datetime]) -> str | None:
    """The earliest held moment as an ISO UTC string (for reports), or None."""
    return min(held).astimezone(UTC).isoformat(timespec="minutes") if held else None


def held_window_start(today: date, max_lateness_hours: float) -> date:
    """The oldest issue date whose held rows may still be sent (older ones are too late)."""
    return today - timedelta(days=int(max_lateness_hours // 24) + 1)


def send_held(
    db, config, *, now: datetime | None = None, backend=None, ignore_complaints: bool = False
) -> list:
    """Deliver held digests whose local hour has come, for every recent issue that still has
    queued rows. Plans and renders nothing. Returns one SendReport per issue looked at."""
    from digest.lease import Lease
    from digest.mail.health import check_reputation
    from digest.sending import SendReport, check_sender, deliver_queued, hours_since_issue
    from digest.store import deliveries as ledger_store

    now = now or datetime.now(UTC)
    limit = config.mail.max_lateness_hours
    start = held_window_start(now.date(), limit)
    issues = [
        day
        for day in ledger_store.issue_dates_with_queued(db, start)
        if hours_since_issue(config, day, now) <= limit
    ]
    if not issues:
        return []
    check_sender(config)
    check_reputation(db, config, ignore=ignore_complaints)
    if backend is None:
        from digest.mail.registry import get_backend

        backend = get_backend(config)
    reports = []
    with Lease(db, config.db_path, "send", config.schedule.lease_minutes):
        try:
            for day in issues:
                report = SendReport(issue_date=day, backend=backend.name)
                # under the send lease no other sender runs: a `sending` row is a dead pass's
                report.recovered_unknown = len(ledger_store.recover_interrupted(db, day))
                deliver_queued(db, config, backend, day, report, now=now)
                report.ledger = ledger_store.count_by_state(db, day)
                reports.append(report)
        finally:
            backend.close()
    return reports
