"""`digest run` on PostgreSQL: the embed, plan and send stages split into jobs for the workers,
deferred and waited for (with progress). Each stage function has the signature of the
in-process one in digest/pipeline.py and returns its counts; the site stays in process."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date

from digest.config import Config
from digest.errors import DigestError
from digest.store import jobs as job_store
from digest.store import transaction
from digest.workers.names import task_name

EMBED_BATCH = 256  # papers per embedding job
PLAN_RANGE = 2000  # subscriber ids per planning job
RENDER_RANGE = 1000  # subscriber ids per render job
POLL_SECONDS = 0.5
NO_WORKER_SECONDS = 60  # say so when no worker has shown a heartbeat for this long

Progress = Callable[[str], None] | None


def ensure_queue(db) -> None:
    """Install Procrastinate's tables once (an advisory lock keeps two installers apart)."""
    if job_store.queue_schema_installed(db):
        return
    from procrastinate.schema import SchemaManager

    with transaction(db):
        db.serialize("procrastinate-schema")
        if not job_store.queue_schema_installed(db):
            job_store.install_queue_schema(db, SchemaManager.get_schema())


def run_tag(db, stage: str) -> str:
    row = db.execute("SELECT MAX(id) FROM runs").fetchone()
    return f"{row[0] or 0}:{stage}:{time.time_ns()}"


def wait_for(db, tag: str, stage: str, progress: Progress) -> dict[str, int]:
    """Poll until no job of `tag` waits or runs; a job that failed for good fails the stage."""
    shown, since_worker = "", time.monotonic()
    while True:
        states = job_store.job_states(db, tag)
        pending = states.get("todo", 0) + states.get("doing", 0)
        done = sum(states.values()) - pending
        if job_store.live_workers(db, NO_WORKER_SECONDS):
            since_worker = time.monotonic()
        line = f"{stage}: {done} of {sum(states.values())} jobs done"
        if time.monotonic() - since_worker > NO_WORKER_SECONDS:
            line += " (no worker is running: start `digest worker`)"
        if progress and line != shown:
            progress(line)
            shown = line
        if not pending:
            break
        time.sleep(POLL_SECONDS)
    failed = states.get("failed", 0) + states.get("aborted", 0) + states.get("cancelled", 0)
    if failed:
        raise DigestError(f"{failed} {stage} job(s) failed for good (see the workers' logs)")
    return states


def _defer_and_wait(db, stage: str, jobs: list[job_store.JobToDefer], tag: str, progress) -> int:
    with transaction(db):
        job_store.defer_jobs(db, jobs)
    wait_for(db, tag, stage, progress)
    return len(jobs)


def fleet_embed(db, config: Config, issue_date: date, progress: Progress) -> dict:
    from digest.store import papers as paper_store

    ensure_queue(db)
    ids = paper_store.paper_ids_missing_embeddings(db, config.embedding.model)
    tag = run_tag(db, "embed")
    jobs = [
        job_store.JobToDefer(
            "embed", task_name("embed_batch"), {"run": tag, "paper_ids": ids[i : i + EMBED_BATCH]}
        )
        for i in range(0, len(ids), EMBED_BATCH)
    ]
    count = _defer_and_wait(db, "embed", jobs, tag, progress)
    return {
        "papers": len(ids),
        "jobs": count,
        "missing_after": len(paper_store.paper_ids_missing_embeddings(db, config.embedding.model)),
    }


def _id_ranges(ids: list[int], size: int) -> list[tuple[int, int]]:
    ids = sorted(ids)
    return [(ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), size)]


def fleet_plan(db, config: Config, issue_date: date, progress: Progress) -> dict:
    from digest.rank.planning import PlanReport, _shared_signals, due_subscribers

    ensure_queue(db)
    report = PlanReport(issue_date)
    _shared_signals(db, config, issue_date, report)  # once, before the shares
    due = [s.id for s in due_subscribers(db, issue_date)]
    tag = run_tag(db, "plan")
    day = issue_date.isoformat()
    jobs = [
        job_store.JobToDefer(
            "plan",
            task_name("plan_range"),
            {"run": tag, "issue_date": day, "first_id": a, "last_id": b},
        )
        for a, b in _id_ranges(due, PLAN_RANGE)
    ]
    count = _defer_and_wait(db, "plan", jobs, tag, progress)
    return {"due": len(due), "jobs": count, "topic_matches": report.topic_matches}


def fleet_send(
    db, config: Config, issue_date: date, progress: Progress, force: bool = False
) -> dict:
    """Render+send shards on the workers; rows requeued or left queued get send jobs too."""
    from datetime import UTC, datetime

    from digest.mail.health import check_reputation
    from digest.mail.requeue import requeue_not_sent
    from digest.mail.sending import check_lateness, check_sender
    from digest.rank.planning import due_subscribers
    from digest.store import deliveries as ledger_store
    from digest.workers.sharding import SEND_SHARD, send_job

    ensure_queue(db)
    if not force:
        check_lateness(config, issue_date, datetime.now(UTC))
    check_sender(config)
    check_reputation(db, config)
    before = ledger_store.count_by_state(db, issue_date)
    requeued = len(requeue_not_sent(db, issue_date, by="auto").requeued)
    have_row = ledger_store.subscriber_ids_with_delivery(db, issue_date)
    todo = [s.id for s in due_subscribers(db, issue_date) if s.id not in have_row]
    tag = run_tag(db, "send")
    day = issue_date.isoformat()
    jobs = [
        job_store.JobToDefer(
            "send",
            task_name("render_shard"),
            {"run": tag, "issue_date": day, "first_id": a, "last_id": b},
        )
        for a, b in _id_ranges(todo, RENDER_RANGE)
    ]
    _defer_and_wait(db, "render+send", jobs, tag, progress)
    leftover = [
        row[0] for row in ledger_store.queued_send_times(db, issue_date)
    ]  # requeued, or left by a crash
    if leftover:
        more = [
            send_job(tag, issue_date, leftover[i : i + SEND_SHARD], task_name("send_shard"))
            for i in range(0, len(leftover), SEND_SHARD)
        ]
        _defer_and_wait(db, "send", more, tag, progress)
    write_outbox_index(config, issue_date)
    after = ledger_store.count_by_state(db, issue_date)
    counts = {state: after[state] - before.get(state, 0) for state in after}
    return {
        "due": len(todo),
        "requeued": requeued,
        **{f"new_{k}": v for k, v in counts.items() if v},
        "still_queued": after["queued"],
    }


def write_outbox_index(config: Config, issue_date: date) -> None:
    """The outbox's index page of the issue, once, after every send job wrote its files."""
    if config.mail.backend != "outbox":
        return
    from digest.mail.outbox import write_index

    day_dir = config.path(config.mail.outbox_dir) / issue_date.isoformat()
    if day_dir.is_dir():
        write_index(day_dir)
