"""The hourly pass over held digests on PostgreSQL: the rows whose subscriber's local send hour
has come go to the workers as send jobs, so they are claimed like every other row (FOR UPDATE
SKIP LOCKED, committed before the provider call) and paced by the fleet's shared limits.

Only the leading scheduler runs the hourly pass; a `digest send --held` typed meanwhile takes
the same send lease, so two passes never overlap. Rows a worker is sending at that moment (the
day's send jobs can still be running at hh:02) are left to it: the lease holder's recovery
turns `unknown` only rows whose sender is gone.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

from digest.config import Config
from digest.mail.report import SendReport
from digest.store import deliveries as ledger_store
from digest.workers.fleet import Progress, ensure_queue, wait_for, write_outbox_index


def fleet_send_held(
    db,
    config: Config,
    *,
    now: datetime | None = None,
    progress: Progress = None,
    ignore_complaints: bool = False,
) -> list[SendReport]:
    """Send the held digests whose hour has come as jobs, wait for them; one report per issue
    that still had queued rows (counts read from the ledger before and after)."""
    from digest.mail.held import held_issues
    from digest.mail.send_times import next_moment_utc, split_due
    from digest.store.lease import Lease

    now = now or datetime.now(UTC)
    issues = held_issues(db, config, now, ignore_complaints)
    if not issues:
        return []
    ensure_queue(db)
    reports = []
    with Lease(db, config.db_path, "send", config.schedule.lease_minutes):
        for day in issues:
            report = SendReport(issue_date=day, backend=config.mail.backend)
            report.recovered_unknown = len(ledger_store.recover_interrupted(db, day))
            due, held = split_due(day, ledger_store.queued_send_times(db, day), now)
            report.next_send_at = next_moment_utc(held)
            before = ledger_store.count_by_state(db, day)
            if due:
                _send_as_jobs(db, day, due, progress)
                write_outbox_index(config, day)
            after = ledger_store.count_by_state(db, day)
            for state in ("sent", "failed", "unknown", "skipped"):
                setattr(report, state, after[state] - before.get(state, 0))
            report.held, report.ledger = after["queued"], after
            reports.append(report)
    return reports


def _send_as_jobs(db, day: date, due: list[str], progress: Progress) -> None:
    from digest.store import jobs as job_store
    from digest.store import transaction
    from digest.workers.names import task_name
    from digest.workers.sharding import SEND_SHARD, send_job

    tag = f"held:{day.isoformat()}:{time.time_ns()}"
    jobs = [
        send_job(tag, day, due[i : i + SEND_SHARD], task_name("send_shard"))
        for i in range(0, len(due), SEND_SHARD)
    ]
    with transaction(db):
        job_store.defer_jobs(db, jobs)
    wait_for(db, tag, "held", progress)
