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


def collect_status(db, config: Config, now: datetime | None = None) -> dict:
    now = now or datetime.now(UTC)
    runs = [_shown_run(run) for run in paper_store.recent_ingest_runs(db, limit=10)]
    info: dict = {
        "config": config.source,
        "database": _database_shown(config),
        "database_bytes": db.size_bytes(),
        "model": config.embedding.model,
        "papers": paper_store.count_papers(db),
        "embeddings": paper_store.count_embedded_papers(db, config.embedding.model),
        "day": day_overview(db, config, runs, now),
        "ingest_runs": runs,
        "warnings": ingest_warnings(runs),
    }
    try:
        from digest.pipeline import service_status  # the daily-run stage, when present
    except ImportError:
        return info
    extra = service_status(db, config, now)
    info["warnings"] += extra.pop("warnings", [])
    info.update(extra)
    from digest.mail.health import sender_health

    health = sender_health(db, config)
    info["sender_health"] = health.as_dict()
    if health.level != "ok":
        info["warnings"].append(f"complaint rate: {health.message}")
    return info


def day_overview(db, config: Config, runs: list[dict], now: datetime) -> dict:
    """The day's line at a glance: the last fetch, plan, send (counts by state) and site
    build, and when the scheduler runs next (and whether one is running to do it)."""
    from digest.store import overview

    return {
        "last_ingest": runs[0] if runs else None,
        "last_plan": overview.last_plan(db),
        "last_send": overview.last_send(db),
        "last_site_build": overview.last_site_build(db),
        "next_run": next_scheduled_run(db, config, now),
    }


def next_scheduled_run(db, config: Config, now: datetime) -> dict:
    """When [schedule].cron fires next, in UTC and in the schedule's zone, and whether a
    `digest schedule` process holds the scheduler lease (else nothing will run it)."""
    from zoneinfo import ZoneInfo

    from apscheduler.triggers.cron import CronTrigger

    from digest.store import overview

    zone = ZoneInfo(config.schedule.timezone)
    trigger = CronTrigger.from_crontab(config.schedule.cron, timezone=zone)
    fire = trigger.get_next_fire_time(None, now.astimezone(zone))
    lease = overview.lease_holder(db, "scheduler")
    running = lease is not None and datetime.fromisoformat(lease["expires_at"]) > now
    return {
        "at": fire.astimezone(UTC).isoformat(timespec="minutes") if fire else None,
        "local": fire.isoformat(timespec="minutes") if fire else None,
        "timezone": config.schedule.timezone,
        "cron": config.schedule.cron,
        "scheduler": lease["holder"] if running and lease else None,
    }


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


# ------------------------------------------------------------------ the day, in words
def day_lines(day: dict, now: datetime) -> list[str]:
    """`day_overview` as the lines `digest status` prints, one per stage."""
    ingest, plan, send = day["last_ingest"], day["last_plan"], day["last_send"]
    build, upcoming = day["last_site_build"], day["next_run"]
    lines = []
    if ingest is None:
        lines.append("last fetch  never: `digest fetch` (or `digest demo` offline)")
    else:
        listing = f", listing of {ingest['channel_date']}" if ingest["channel_date"] else ""
        lines.append(
            f"last fetch  {ingest['status']}: {ingest['source']} {ingest['category'] or ''}"
            f"{listing}: {ingest['new']} new, {ingest['updated']} updated"
            f"  ({_when(ingest['started_at'], now)})"
        )
    if plan is None:
        lines.append("last plan   none yet (`digest run`, or `digest send` plans as it goes)")
    else:
        lines.append(
            f"last plan   issue {plan['issue_date']}: {_count(plan['digests'], 'digest')}, "
            f"{_count(plan['picks'], 'pick')}  ({_when(plan['planned_at'], now)})"
        )
    if send is None:
        lines.append("last send   none yet")
    else:
        states = ", ".join(f"{n} {state}" for state, n in send["states"].items() if n)
        via = f" via {', '.join(send['backends'])}" if send["backends"] else ""
        lines.append(
            f"last send   issue {send['issue_date']}{via}: {states or 'nothing'}"
            f"  ({_when(send['finished_at'] or send['updated_at'], now)})"
        )
    if build is None:
        lines.append("site        not built yet (`digest site build`)")
    else:
        lines.append(
            f"site        built: {build['pages_rendered']} pages rendered, "
            f"{build['pages_reused']} reused, in {build['seconds'] or 0:.1f} s"
            f"  ({_when(build['finished_at'], now)})"
        )
    lines.append(_next_run_line(upcoming, now))
    return lines


def _next_run_line(upcoming: dict, now: datetime) -> str:
    if upcoming["at"] is None:
        return f"next run    never: [schedule].cron {upcoming['cron']!r} does not fire again"
    local = datetime.fromisoformat(upcoming["local"])
    at = datetime.fromisoformat(upcoming["at"])
    who = (
        f"scheduler running ({upcoming['scheduler']})"
        if upcoming["scheduler"]
        else "no scheduler is running: start `digest schedule`"
    )
    return (
        f"next run    {local:%a %Y-%m-%d %H:%M} {upcoming['timezone']} "
        f"(in {_span(at - now)}); {who}"
    )


def _when(stamp: str | None, now: datetime) -> str:
    """'2026-12-05 06:44 UTC, 2 h ago' from a stored ISO time."""
    if not stamp:
        return "time unknown"
    moment = datetime.fromisoformat(stamp)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC, {_span(now - moment)} ago"


def _span(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
