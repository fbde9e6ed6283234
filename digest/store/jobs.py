"""SQL for the day's jobs on PostgreSQL: deferring Procrastinate jobs inside our own
transaction (so ledger rows and the jobs that send them commit together), and reading how a
run's jobs stand. Procrastinate's versioned SQL API (`procrastinate_defer_jobs_v1`) is used
as its own Python API uses it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class JobToDefer:
    queue: str
    task_name: str  # as registered: "digest:send_shard"
    args: dict
    lock: str | None = None  # jobs with one lock never run at the same time
    queueing_lock: str | None = None  # at most one such job waiting


def defer_jobs(db, jobs: Sequence[JobToDefer]) -> list[int]:
    """Insert the jobs (in the caller's transaction, if any); returns their ids."""
    if not jobs:
        return []
    rows = [
        (j.queue, j.task_name, 0, j.lock, j.queueing_lock, json.dumps(j.args, sort_keys=True))
        for j in jobs
    ]
    marks = ", ".join("ROW(?, ?, ?, ?, ?, CAST(? AS jsonb), NULL)" for _ in rows)
    cursor = db.execute(
        "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY["  # noqa: S608
        + marks
        + "]::procrastinate_job_to_defer_v1[]))",
        [value for row in rows for value in row],
    )
    return [int(row[0]) for row in cursor.fetchall()]


def job_states(db, run_tag: str) -> dict[str, int]:
    """status -> how many jobs tagged `run_tag` (todo, doing, succeeded, failed, ...)."""
    rows = db.execute(
        "SELECT status::text, count(*) FROM procrastinate_jobs WHERE args->>'run' = ?"
        " GROUP BY status",
        [run_tag],
    ).fetchall()
    return {row[0]: int(row[1]) for row in rows}


def live_workers(db, seconds: float) -> int:
    """Workers whose heartbeat is younger than `seconds`."""
    row = db.execute(
        "SELECT count(*) FROM procrastinate_workers"
        " WHERE last_heartbeat > now() - make_interval(secs => ?)",
        [seconds],
    ).fetchone()
    return int(row[0])


def queue_schema_installed(db) -> bool:
    return db.table_exists("procrastinate_jobs")


def install_queue_schema(db, schema_sql: str) -> None:
    """Run Procrastinate's schema script as it is (no placeholders in it: sent raw)."""
    db.raw.execute(schema_sql)


def job_claimer(job_id: int) -> str:
    """What a send job writes in `deliveries.claimed_by` when it claims a row."""
    return f"job:{job_id}"


def running_send_claimers(db) -> set[str]:
    """`claimed_by` of the send jobs a worker is running now ("job:<id>"); none where the
    queue is not installed (SQLite, or PostgreSQL before the first `digest worker`)."""
    if not queue_schema_installed(db):
        return set()
    rows = db.execute(
        "SELECT id FROM procrastinate_jobs WHERE status = 'doing' AND queue_name = 'send'"
    ).fetchall()
    return {job_claimer(row[0]) for row in rows}
