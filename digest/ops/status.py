"""`digest status`: what is stored, the last runs, and warnings an operator should see."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from digest.config import Config
from digest.store import papers as paper_store

STALE_AFTER = timedelta(days=4)  # longer than any weekend + holiday gap
UNFINISHED_AFTER = timedelta(minutes=30)  # a run still 'running' after this was likely killed


def _started(run: dict) -> datetime:
    started = datetime.fromisoformat(run["started_at"])
    return started if started.tzinfo else started.replace(tzinfo=UTC)


def collect_status(db, config: Config) -> dict:
    runs = [_shown_run(run) for run in paper_store.recent_ingest_runs(db, limit=10)]
    info: dict = {
        "config": config.source,
        "database": _database_shown(config),
        "database_bytes": db.size_bytes(),
        "model": config.embedding.model,
        "papers": paper_store.count_papers(db),
        "embeddings": paper_store.count_embedded_papers(db, config.embedding.model),
        "ingest_runs": runs,
        "warnings": ingest_warnings(runs),
    }
    try:
        from digest.pipeline import service_status  # the daily-run stage, when present
    except ImportError:
        return info
    extra = service_status(db, config)
    info["warnings"] += extra.pop("warnings", [])
    info.update(extra)
    from digest.mail.health import sender_health

    health = sender_health(db, config)
    info["sender_health"] = health.as_dict()
    if health.level != "ok":
        info["warnings"].append(f"complaint rate: {health.message}")
    return info


def _shown_run(run: dict) -> dict:
    """A run row as `--json` shows it: the skipped reasons as a list of {ref, reason}, like
    `digest fetch --json`, not the column's JSON text inside the JSON."""
    shown = dict(run)
    shown["skipped_records"] = json.loads(shown.pop("skipped_json", None) or "[]")
    return shown


def _database_shown(config: Config) -> str:
    """The SQLite file, or the PostgreSQL URL without its password."""
    if not config.on_postgres:
        return str(config.db_path)
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(config.database_url)
    if parts.password is None:
        return config.database_url
    host = parts.hostname or ""
    user = f"{parts.username}:***@" if parts.username else ":***@"
    netloc = user + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _latest_per_input(runs: list[dict]) -> list[dict]:
    """The newest run of each feed or file: one fetch makes a run per category, so the newest
    run alone hid a category that failed before another one succeeded."""
    latest: dict[tuple, dict] = {}
    for run in runs:  # newest first
        latest.setdefault((run["source"], run["category"]), run)
    return list(latest.values())


def ingest_warnings(runs: list[dict], now: datetime | None = None) -> list[str]:
    warnings = []
    if not runs:
        return ["nothing fetched yet: run `digest fetch` (or `digest demo` offline)"]
    for last in _latest_per_input(runs):
        if last["status"] == "failed":
            kind = "import" if last["source"] == "jsonl" else "fetch"
            warnings.append(f"the last {kind} ({last['category']}) failed: {last['error']}")
        if last["status"] == "stale":
            warnings.append(
                f"the feed for {last['category']} looks stale: its date "
                f"{last['channel_date']} did not move since the last run"
            )
    now = now or datetime.now(UTC)
    for run in runs:
        if run["status"] == "running" and now - _started(run) > UNFINISHED_AFTER:
            warnings.append(
                f"run {run['id']} ({run['source']} {run['category']}) started at "
                f"{run['started_at']} never finished: if no digest command is still at work, it "
                "was killed; the batches it finished are kept and running it again is safe"
            )
    good = [r for r in runs if r["status"] in ("ok", "empty") and r["source"] == "feed"]
    if good:
        if now - _started(good[0]) > STALE_AFTER:
            warnings.append(f"no successful feed fetch since {good[0]['started_at']}")
    return warnings
