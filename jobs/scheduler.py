"""The one long-lived scheduler process: runs the daily run at the configured cron time.

APScheduler 3.x (pinned <4) BlockingScheduler, an explicit ZoneInfo, misfire grace of hours,
coalesce and max_instances=1. On SQLite a file lock + DB lease make a second scheduler refuse
to start. On PostgreSQL any number may run, on any machines: one leads (it holds the
scheduler's advisory lock), the others wait and one takes over within TAKEOVER_SECONDS of the
leader's death, running the day it missed (the run continues where the dead one stopped).
A run missed while the scheduler was down (within the grace period) runs once at start-up.
Never start this inside web workers: `digest schedule` is its own process.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from digest.config import Config

log = logging.getLogger("digest.scheduler")

DAILY_JOB_ID = "daily-run"
HELD_JOB_ID = "held-deliveries"
HELD_MINUTE = 2  # each hour at :02, digests held for a subscriber's local hour go out
SCHEDULER_LEASE = "scheduler"
HEARTBEAT_SECONDS = 60
TAKEOVER_SECONDS = 10  # how often a waiting scheduler tries to take the lead (PostgreSQL)
RETRY_JOB_ID = "daily-run-retry"
RETRY_AFTER = timedelta(minutes=30)
# A run that ended like this is tried again after RETRY_AFTER while within the misfire grace:
# arXiv's listing late (stale), some feeds down (partial), a stage failed. Each retry only
# redoes what did not finish; the ledger keeps anything from being sent twice.
RETRY_STATUSES = frozenset({"stale", "partial", "failed"})


def daily_trigger(config: Config) -> CronTrigger:
    return CronTrigger.from_crontab(
        config.schedule.cron, timezone=ZoneInfo(config.schedule.timezone)
    )


def run_daily_in_process(config: Config) -> str:
    """The job body: one run in this process with its own DB connection; returns the status."""
    from digest.pipeline import run_daily
    from digest.store import open_db

    db = open_db(config.db_target, busy_timeout_ms=config.database.busy_timeout_ms)
    try:
        report = run_daily(db, config)
        log.info("run %s for %s: %s", report.run_id, report.issue_date, report.status)
        return report.status
    except Exception as exc:  # the scheduler keeps going; the run report has the details
        log.error("daily run failed: %s", exc)
        return "failed"
    finally:
        db.conn.close()


def run_daily_subprocess(config: Config) -> str:
    """The job body as a child `digest run --json` (fresh memory each day); returns the run's
    status from its report ("failed" when there is no report, e.g. the lease was held)."""
    import json

    command = [sys.executable, "-m", "digest"]
    if config.source and config.source != "(embedded defaults)":
        command += ["--config", config.source]
    command += ["run", "--json"]
    result = subprocess.run(command, check=False, stdout=subprocess.PIPE, text=True)
    try:
        report = json.loads(result.stdout)
        status, summary = str(report["status"]), str(report.get("summary", ""))
    except (ValueError, KeyError, TypeError):
        status, summary = "failed", "no run report"
    log.info("digest run exited with %s: %s", result.returncode, summary or status)
    return status


def send_held_in_process(config: Config) -> int:
    """The hourly job body (the leading scheduler's only): deliver held digests whose local
    hour has come; returns how many were sent. On PostgreSQL they go to the workers as send
    jobs. A daily run that holds the send lease makes this pass wait for the next hour."""
    from digest.mail.held import send_held
    from digest.store.lease import LeaseHeld
    from digest.store import open_db

    db = open_db(config.db_target, busy_timeout_ms=config.database.busy_timeout_ms)
    try:
        if config.on_postgres:
            from digest.workers.held import fleet_send_held

            reports = fleet_send_held(db, config)
        else:
            reports = send_held(db, config)
        sent = sum(report.sent for report in reports)
        if sent:
            log.info("sent %s held digests", sent)
        return sent
    except LeaseHeld as exc:
        log.info("held deliveries wait for the next hour: %s", exc)
        return 0
    except Exception as exc:  # the scheduler keeps going
        log.error("held deliveries failed: %s", exc)
        return 0
    finally:
        db.conn.close()


def _already_ran(config: Config, moment: datetime) -> bool:
    """Whether a run for the issue date of `moment` already finished (ok or no announcement)."""
    from digest.pipeline import default_issue_date
    from digest.store import open_db
    from digest.store.service import run_finished_for

    day = default_issue_date(config, moment).isoformat()
    db = open_db(config.db_target, busy_timeout_ms=config.database.busy_timeout_ms)
    try:
        return run_finished_for(db, day)
    finally:
        db.conn.close()


def missed_fire_time(trigger: CronTrigger, grace: timedelta, now: datetime) -> datetime | None:
    """The latest scheduled time in (now - grace, now], if any: a run the scheduler missed."""
    candidate = trigger.get_next_fire_time(None, now - grace)
    missed = None
    while candidate is not None and candidate <= now:
        missed = candidate
        candidate = trigger.get_next_fire_time(candidate, candidate + timedelta(seconds=1))
    return missed


def build_scheduler(
    config: Config,
    job: Callable[[], object],
    *,
    trigger=None,
    now: datetime | None = None,
    already_ran: Callable[[datetime], bool] | None = None,
    held_job: Callable[[], object] | None = None,
    retry_after: timedelta = RETRY_AFTER,
) -> BlockingScheduler:
    """A scheduler with the daily job (and the hourly held-deliveries job, when given) added,
    not started. `trigger` overrides the daily cron. A run that ends stale, partial or failed
    is tried again every `retry_after` while within the misfire grace of its first try."""
    zone = ZoneInfo(config.schedule.timezone)
    grace = timedelta(hours=config.schedule.misfire_grace_hours)
    scheduler = BlockingScheduler(timezone=zone)
    job = _with_retries(scheduler, job, grace, retry_after)
    trigger = trigger or daily_trigger(config)
    now = now or datetime.now(zone)
    options: dict = {}
    if isinstance(trigger, CronTrigger):
        missed = missed_fire_time(trigger, grace, now)
        ran = already_ran or (lambda moment: _already_ran(config, moment))
        if missed is not None and not ran(missed):
            options["next_run_time"] = missed  # within the grace time: runs once, right away
    scheduler.add_job(
        job,
        trigger,
        id=DAILY_JOB_ID,
        name="digest run",
        misfire_grace_time=int(grace.total_seconds()),
        coalesce=True,
        max_instances=1,
        replace_existing=True,
        **options,
    )
    if held_job is not None:
        scheduler.add_job(
            held_job,
            CronTrigger(minute=HELD_MINUTE, timezone=zone),
            id=HELD_JOB_ID,
            name="held deliveries",
            misfire_grace_time=3000,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )
    return scheduler


def _stop_on_sigterm() -> Callable[[], None]:
    """SIGTERM (systemd, docker stop, kill) stops the scheduler like Ctrl-C does, so its lease
    is released on the way out; returns a function that puts the old handler back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def stop(signum, frame) -> None:
        raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, stop)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _with_retries(
    scheduler: BlockingScheduler, job: Callable[[], object], grace: timedelta, retry: timedelta
) -> Callable[[], object]:
    """The daily job, which adds a one-off retry of itself when its run did not finish."""
    from apscheduler.triggers.date import DateTrigger

    def attempt(until: datetime | None = None) -> object:
        started = datetime.now(scheduler.timezone)
        until = until or started + grace
        status = job()
        again = datetime.now(scheduler.timezone) + retry
        if status in RETRY_STATUSES and again <= until:
            log.info(
                "the run ended %s: trying again at %s", status, again.isoformat("T", "minutes")
            )
            scheduler.add_job(
                attempt,
                DateTrigger(again),
                kwargs={"until": until},
                id=RETRY_JOB_ID,
                name="digest run (retry)",
                misfire_grace_time=int(grace.total_seconds()),
                replace_existing=True,
            )
        return status

    return attempt


def _take_the_lead(lease, *, wait: bool) -> None:
    """Acquire the scheduler lease; with `wait`, keep trying until the leader is gone."""
    from digest.store.lease import LeaseHeld

    told = False
    while True:
        try:
            lease.acquire()
            log.info("this scheduler leads (%s)", lease.holder)
            return
        except LeaseHeld as exc:
            if not wait:
                raise
            if not told:
                log.info("another scheduler leads; waiting to take over: %s", exc)
                told = True
        time.sleep(TAKEOVER_SECONDS)


def run_scheduler(config: Config, *, in_process: bool = False) -> None:
    """Hold the scheduler lease and run until Ctrl-C or SIGTERM; LeaseHeld if one is running."""
    from digest.store.lease import Lease
    from digest.store import open_db

    db = open_db(config.db_target, busy_timeout_ms=config.database.busy_timeout_ms)
    lease = Lease(db, config.db_path, SCHEDULER_LEASE, minutes=5)
    restore = _stop_on_sigterm()
    try:
        _take_the_lead(lease, wait=config.on_postgres)
    except BaseException:
        restore()
        db.conn.close()
        raise
    try:
        job = (
            (lambda: run_daily_in_process(config))
            if in_process
            else (lambda: run_daily_subprocess(config))
        )
        lease.start_heartbeat(HEARTBEAT_SECONDS)
        scheduler = build_scheduler(config, job, held_job=lambda: send_held_in_process(config))
        next_run = scheduler.get_job(DAILY_JOB_ID)
        log.info("scheduler started; daily job %s", next_run)
        try:
            scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            log.info("scheduler stopping")
        if scheduler.running:
            scheduler.shutdown(wait=False)  # a running job finishes before the process exits
    finally:
        restore()
        lease.release()
        db.conn.close()
