"""What a render job and a send job do with their share of an issue.

A render job renders its subscribers' emails, then in ONE transaction queues their ledger rows
and defers the send job for exactly those rows: a crash before the commit leaves neither (the
retry renders again), after it both (the retry finds every subscriber has a row and renders
nothing). A send job claims each row (`queued -> sending`, committed, FOR UPDATE SKIP LOCKED)
before the provider call, as an in-process send does. When it runs again after its worker
died, the rows it left `sending` become `unknown` (the provider may have them): never resent.
"""

from __future__ import annotations

import zlib
from datetime import date

from digest.config import Config
from digest.mail.report import SendReport
from digest.store import deliveries as ledger_store
from digest.store import jobs as job_store
from digest.store import shards as shard_store
from digest.store import transaction
from digest.store.deliveries import NewDelivery

SEND_SHARD = 200  # ledger rows per send job


def render_and_queue(db, config: Config, run: str, issue_date: date, id_range) -> dict:
    from digest.mail.sending import render_new
    from digest.workers.names import task_name

    report = SendReport(issue_date=issue_date, backend=config.mail.backend)
    rendered = render_new(db, config, issue_date, report, save_plans=False, id_range=id_range)
    queued = 0
    for start in range(0, len(rendered), SEND_SHARD):
        part = rendered[start : start + SEND_SHARD]
        with transaction(db):
            queued += ledger_store.queue_deliveries(
                db,
                (
                    NewDelivery(
                        r.delivery_id,
                        r.subscriber_id,
                        issue_date,
                        r.subject,
                        zlib.decompress(r.packed),
                    )
                    for r in part
                ),
            )
            ids = [r.delivery_id for r in part]
            job_store.defer_jobs(db, [send_job(run, issue_date, ids, task_name("send_shard"))])
    return {"due": report.due, "rendered": report.rendered, "queued": queued, "empty": report.empty}


def send_job(
    run: str, issue_date: date, delivery_ids: list[str], name: str
) -> job_store.JobToDefer:
    key = f"send:{issue_date.isoformat()}:{delivery_ids[0]}"
    return job_store.JobToDefer(
        queue="send",
        task_name=name,
        args={"run": run, "issue_date": issue_date.isoformat(), "delivery_ids": delivery_ids},
        lock=key,  # never two attempts of one shard at once
    )


def send_rows(db, config: Config, issue_date: date, delivery_ids: list[str], job_id: int) -> dict:
    """Send the rows of one send job; first, the rows an earlier attempt of this same job
    claimed and never finished (its worker died mid-call) become `unknown`."""
    from digest.mail.chat_backend import with_chat
    from digest.mail.delivery import deliver_queued
    from digest.mail.outbox import OutboxBackend
    from digest.mail.registry import get_backend
    from digest.workers.limits import FleetPacer, FleetWindow

    claimer = job_store.job_claimer(job_id)
    left = shard_store.recover_interrupted_rows(db, claimer)
    report = SendReport(issue_date=issue_date, backend=config.mail.backend)
    backend = get_backend(config)
    if isinstance(backend, OutboxBackend):
        backend.write_indexes = False  # the stage writes the day's index once, at its end
    backend = with_chat(backend)  # chat channels' rows go to their webhooks
    try:
        deliver_queued(
            db,
            config,
            backend,
            issue_date,
            report,
            only=set(delivery_ids),
            pacer=FleetPacer(db, config.mail.rate_per_second),
            window=FleetWindow(db, config),
            claimer=claimer,
        )
    finally:
        backend.close()
    if report.stopped:
        raise RuntimeError(f"sending stopped early ({report.sent} sent): {report.stopped}")
    return {
        "sent": report.sent,
        "failed": report.failed,
        "unknown": report.unknown + len(left),
        "skipped": report.skipped,
        "held": report.held,
    }
