"""The Procrastinate tasks: each does one share of a stage for one run, and is safe to run
twice (a worker died, a retry): embedding is keyed by (model, content hash), planning replaces
a plan, rendering skips subscribers who have a ledger row, and a send job finds the rows it
already claimed taken. Every job's args carry `run` (the run and stage) so `digest run` can
wait for exactly its own jobs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import date

import procrastinate

from digest.config import Config
from digest.workers.names import NAMESPACE

tasks = procrastinate.Blueprint()
RETRY = procrastinate.RetryStrategy(max_attempts=5, wait=2)
STALLED_CHECK_CRON = "* * * * * */10"  # every 10 seconds: jobs of dead workers go back
HEARTBEAT_SECONDS = float(os.environ.get("DIGEST_WORKER_HEARTBEAT_SECONDS", "10"))
STALLED_SECONDS = 3 * HEARTBEAT_SECONDS  # no heartbeat for this long: the worker is dead
_state: dict[str, Config] = {}


def use_config(config: Config) -> None:
    """The config every task of this process runs with (`digest worker` sets it)."""
    _state["config"] = config


def _config() -> Config:
    if "config" not in _state:
        from digest.config import load_config

        _state["config"] = load_config(None)
    return _state["config"]


@contextlib.contextmanager
def _db() -> Iterator:
    from digest.store import open_db

    db = open_db(_config().db_target, migrate=False)
    try:
        yield db
    finally:
        db.close()


@tasks.task(name="embed_batch", queue="embed", retry=RETRY)
def embed_batch(run: str, paper_ids: list[str]) -> dict:
    """Embed the papers' texts that have no vector yet (a retry embeds nothing twice)."""
    from digest.embed.encoder import embed_missing

    with _db() as db:
        report = embed_missing(db, _config().embedding, paper_ids=paper_ids)
    return {"embedded": report.embedded, "cached": report.cached}


@tasks.task(name="plan_range", queue="plan", retry=RETRY)
def plan_range(run: str, issue_date: str, first_id: int, last_id: int) -> dict:
    """Plan the due subscribers with ids in [first_id, last_id]."""
    from digest.rank.planning import plan_all

    with _db() as db:
        report = plan_all(
            db, _config(), date.fromisoformat(issue_date), id_range=(first_id, last_id)
        )
    return {"planned": report.planned, "with_picks": report.with_picks, "failed": report.failed}


@tasks.task(name="render_shard", queue="send", retry=RETRY)
def render_shard(run: str, issue_date: str, first_id: int, last_id: int) -> dict:
    """Render the emails of due subscribers in the id range; queue their ledger rows and defer
    the job that sends them in one transaction (both or neither)."""
    from digest.workers.sharding import render_and_queue

    with _db() as db:
        return render_and_queue(
            db, _config(), run, date.fromisoformat(issue_date), (first_id, last_id)
        )


@tasks.task(name="send_shard", queue="send", retry=RETRY, pass_context=True)
def send_shard(
    context: procrastinate.JobContext, run: str, issue_date: str, delivery_ids: list[str]
) -> dict:
    """Send these ledger rows at most once each (claimed with FOR UPDATE SKIP LOCKED), each
    claim marked with this job's id."""
    from digest.workers.sharding import send_rows

    job_id = context.job.id
    assert job_id is not None  # a job being run has its row
    with _db() as db:
        return send_rows(db, _config(), date.fromisoformat(issue_date), delivery_ids, job_id)


@tasks.task(name="site_pages", queue="site", retry=RETRY)
def site_pages(
    run: str, root: str, paper_ids: list[str] | None = None, author_ids: list[int] | None = None
) -> dict:
    """Render a range of the archive's paper (or author) pages into the build tree at `root`."""
    from pathlib import Path

    from digest.site.shares import render_share

    with _db() as db:
        written = render_share(db, _config(), run, Path(root), paper_ids or [], author_ids or [])
    return {"written": written}


@tasks.periodic(cron=STALLED_CHECK_CRON)
@tasks.task(name="retry_stalled", queue="maintenance", pass_context=True)
async def retry_stalled(context: procrastinate.JobContext, timestamp: int) -> int:
    """Put the jobs of workers that stopped sending heartbeats (killed, machine gone) back in
    the queue; a send job run again sends nothing twice."""
    manager = context.app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_SECONDS))
    for job in stalled:
        await manager.retry_job(job)
    return len(stalled)


def make_app(url: str) -> procrastinate.App:
    """The Procrastinate app on the database at `url`, with every task registered."""
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=url),
        import_paths=["digest.workers.tasks"],
    )
    app.add_tasks_from(tasks, namespace=NAMESPACE)
    return app
