"""`digest worker`: one Procrastinate worker process on the configured PostgreSQL database."""

from __future__ import annotations

import logging

from digest.config import Config
from digest.errors import UsageError

QUEUES = ("embed", "plan", "send", "site", "maintenance")


def run_worker(
    config: Config,
    *,
    concurrency: int = 1,
    queues: list[str] | None = None,
    name: str | None = None,
) -> None:
    """Run jobs until SIGINT/SIGTERM (a job under way finishes first)."""
    from digest.store import open_db
    from digest.workers.fleet import ensure_queue
    from digest.workers.tasks import HEARTBEAT_SECONDS, make_app, use_config

    if not config.on_postgres:
        raise UsageError(
            "workers need PostgreSQL: set [database].url or DIGEST_DATABASE_URL to "
            "postgresql://... (on SQLite `digest run` does every stage in its own process)"
        )
    unknown = sorted(set(queues or ()) - set(QUEUES))
    if unknown:
        raise UsageError(f"unknown queue(s) {', '.join(unknown)} (known: {', '.join(QUEUES)})")
    db = open_db(config.db_target)  # migrates a fresh database once
    try:
        ensure_queue(db)
    finally:
        db.close()
    use_config(config)
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    app = make_app(config.database_url)
    app.run_worker(
        queues=list(queues) if queues else None,
        concurrency=concurrency,
        name=name,
        update_heartbeat_interval=HEARTBEAT_SECONDS,
        stalled_worker_timeout=3 * HEARTBEAT_SECONDS,
        wait=True,
    )
