"""The later pass: deliver queued digests whose subscriber's local send hour has come, and rows a
sending window ([mail].max_per_hour / max_per_day) left queued. `digest send --held` and the
scheduler's hourly job run it; it plans and renders nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from digest.mail.chat_backend import with_chat
from digest.mail.delivery import deliver_queued
from digest.mail.health import check_reputation
from digest.mail.registry import get_backend
from digest.mail.report import SendReport
from digest.mail.send_times import held_window_start
from digest.mail.sending import check_sender, hours_since_issue
from digest.store import deliveries as ledger_store
from digest.store.lease import Lease


def held_issues(db, config, now: datetime, ignore_complaints: bool = False) -> list:
    """The recent issues that still have queued (held) rows and are not yet too late to send;
    when there are any, the sender and its reputation are checked first (each raises with one
    line saying what to fix), by `digest send --held` and the fleet's hourly pass alike."""
    limit = config.mail.max_lateness_hours
    start = held_window_start(now.date(), limit)
    issues = [
        day
        for day in ledger_store.issue_dates_with_queued(db, start)
        if hours_since_issue(config, day, now) <= limit
    ]
    if issues:
        check_sender(config)
        check_reputation(db, config, ignore=ignore_complaints)
    return issues


def send_held(
    db, config, *, now: datetime | None = None, backend=None, ignore_complaints: bool = False
) -> list:
    """Deliver held digests whose local hour has come, for every recent issue that still has
    queued rows. Plans and renders nothing. Returns one SendReport per issue looked at."""
    now = now or datetime.now(UTC)
    issues = held_issues(db, config, now, ignore_complaints)
    if not issues:
        return []
    if backend is None:
        backend = get_backend(config)
    backend = with_chat(backend)  # held chat digests go to their channels' webhooks
    reports = []
    with Lease(db, config.db_path, "send", config.schedule.lease_minutes) as lease:
        try:
            for day in issues:
                report = SendReport(issue_date=day, backend=backend.name)
                # under the send lease no other process sends by itself: a `sending` row is a
                # dead pass's, unless a worker's send job is sending it now (PostgreSQL)
                report.recovered_unknown = len(ledger_store.recover_interrupted(db, day))
                deliver_queued(db, config, backend, day, report, now=now, claimer=lease.holder)
                report.ledger = ledger_store.count_by_state(db, day)
                reports.append(report)
        finally:
            backend.close()
    return reports
