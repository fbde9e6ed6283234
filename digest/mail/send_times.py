"""Per-subscriber delivery times: a subscriber may ask for their digest at a local hour.
Pure functions of dates and zones; the hourly pass that sends held rows is `digest.mail.held`.

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
