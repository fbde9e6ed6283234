"""The run lease (file lock + DB lease) and the APScheduler wiring."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from digest.store import open_db, transaction
from digest.store import service as service_store
from digest.store.lease import Lease, LeaseHeld
from jobs.scheduler import (
    DAILY_JOB_ID,
    HELD_JOB_ID,
    build_scheduler,
    missed_fire_time,
    send_held_in_process,
)

ATOM = Path(__file__).resolve().parent.parent / "data" / "samples" / "cs.AI-2025-08-20.atom.xml"


def test_second_lease_refuses_and_release_frees_it(make_config):
    config, _ = make_config()
    db = open_db(config.db_path)
    first = Lease(db, config.db_path, "daily-run", minutes=10)
    first.acquire()
    other_db = open_db(config.db_path)
    with pytest.raises(LeaseHeld, match="already running"):
        Lease(other_db, config.db_path, "daily-run", minutes=10).acquire()
    first.release()
    with Lease(other_db, config.db_path, "daily-run", minutes=10) as second:
        assert service_store.get_lease(other_db, "daily-run")["holder"] == second.holder
    assert service_store.get_lease(other_db, "daily-run") is None
    db.conn.close()
    other_db.conn.close()


def test_expired_or_dead_holder_lease_is_taken_over(make_config):
    config, _ = make_config()
    db = open_db(config.db_path)
    later = datetime.now(UTC) + timedelta(minutes=30)
    with transaction(db):  # a live run on another machine
        service_store.put_lease(db, "daily-run", "otherhost:123:abcd", later)
    with pytest.raises(LeaseHeld, match="otherhost"):
        Lease(db, config.db_path, "daily-run", minutes=10).acquire()
    with transaction(db):  # ... whose lease has expired
        service_store.put_lease(
            db, "daily-run", "otherhost:123:abcd", datetime.now(UTC) - timedelta(seconds=1)
        )
    with Lease(db, config.db_path, "daily-run", minutes=10):
        pass
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    import socket

    with transaction(db):  # a crashed run on this machine, lease not yet expired
        service_store.put_lease(db, "daily-run", f"{socket.gethostname()}:{dead}:ffff", later)
    with Lease(db, config.db_path, "daily-run", minutes=10):
        pass
    db.conn.close()


def test_heartbeat_keeps_a_live_holders_lease_from_expiring(make_config):
    config, _ = make_config()
    db = open_db(config.db_path)
    with Lease(db, config.db_path, "daily-run", minutes=0.02) as lease:  # 1.2 s lease
        lease.start_heartbeat(interval_s=0.2)
        first = service_store.get_lease(db, "daily-run")["expires_at"]
        time.sleep(2.5)  # longer than the lease itself
        row = service_store.get_lease(db, "daily-run")
        assert row["holder"] == lease.holder and row["expires_at"] > first
        assert datetime.fromisoformat(row["expires_at"]) > datetime.now(UTC)
    assert service_store.get_lease(db, "daily-run") is None
    db.conn.close()


@pytest.mark.slow
def test_two_runs_started_together_exactly_one_works(make_config, httpserver, sample_db_path):
    def slow_feed(request):
        from werkzeug import Response

        time.sleep(1.5)  # keep the winner inside the lease while the loser starts
        return Response(ATOM.read_bytes(), content_type="application/atom+xml")

    httpserver.expect_request("/atom/cs.AI").respond_with_handler(slow_feed)
    config, config_path = make_config(
        {
            "arxiv": {
                "categories": ["cs.AI"],
                "feed_base_url": httpserver.url_for("/"),
                "request_delay_seconds": 0.0,
                "max_retries": 0,
            },
            "mail": {"max_lateness_hours": 1e7},
        }
    )
    db = open_db(config.db_path)  # migrate once, and warm the vector cache
    db.execute("ATTACH DATABASE ? AS sample", [str(sample_db_path)])
    db.execute("INSERT OR IGNORE INTO embeddings SELECT * FROM sample.embeddings")
    db.execute("DETACH DATABASE sample")
    command = [
        sys.executable,
        "-m",
        "digest",
        "--config",
        str(config_path),
        "run",
        "--date",
        "2025-08-20",
    ]
    env = {**os.environ, "COLUMNS": "200"}
    runs = [
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=240), *p.communicate()) for p in runs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    loser_err = next(err for code, _, err in results if code == 1)
    assert "already running" in loser_err or "holds the lease" in loser_err
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    assert len(httpserver.log) == 1
    db.conn.close()


def test_scheduler_daily_job_options(make_config):
    config, _ = make_config(
        {
            "schedule": {
                "cron": "30 0 * * mon-fri",
                "timezone": "America/New_York",
                "misfire_grace_hours": 6.0,
            }
        }
    )
    scheduler = build_scheduler(
        config, lambda: None, already_ran=lambda moment: True, held_job=lambda: None
    )
    job = scheduler.get_job(DAILY_JOB_ID)
    assert job.misfire_grace_time == 6 * 3600
    assert job.coalesce is True and job.max_instances == 1
    assert str(job.trigger.timezone) == "America/New_York"
    held = scheduler.get_job(HELD_JOB_ID)  # hourly pass for digests held for a local hour
    after = datetime(2025, 8, 20, 9, 30, tzinfo=ZoneInfo("America/New_York"))
    assert held.trigger.get_next_fire_time(None, after) == after.replace(hour=10, minute=2)
    assert held.coalesce is True and held.max_instances == 1


def test_hourly_held_pass_in_process_sends_nothing_on_an_empty_ledger(make_config):
    config, _ = make_config({})
    assert send_held_in_process(config) == 0


def _run_for(scheduler, seconds: float) -> None:
    thread = threading.Thread(target=scheduler.start, daemon=True)
    thread.start()
    time.sleep(seconds)
    scheduler.shutdown(wait=True)
    thread.join(timeout=5)


@pytest.mark.slow
def test_interval_trigger_fires_once_per_interval(make_config):
    config, _ = make_config()
    fired: list[float] = []
    trigger = IntervalTrigger(seconds=1)
    scheduler = build_scheduler(config, lambda: fired.append(time.monotonic()), trigger=trigger)
    _run_for(scheduler, 4.5)
    assert 3 <= len(fired) <= 5
    gaps = [b - a for a, b in zip(fired, fired[1:], strict=False)]
    assert all(0.7 < gap < 1.5 for gap in gaps), gaps


def _cron_minutes_ago(minutes: int, zone: ZoneInfo) -> tuple[str, datetime]:
    moment = (datetime.now(zone) - timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    return f"{moment.minute} {moment.hour} * * *", moment


def test_scheduler_started_5_minutes_late_still_runs_once(make_config):
    zone = ZoneInfo("America/New_York")
    cron, fire_time = _cron_minutes_ago(5, zone)
    config, _ = make_config(
        {"schedule": {"cron": cron, "timezone": "America/New_York", "misfire_grace_hours": 6.0}}
    )
    fired: list[datetime] = []
    scheduler = build_scheduler(config, lambda: fired.append(datetime.now(zone)))
    job = scheduler.get_job(DAILY_JOB_ID)
    assert job.next_run_time == fire_time  # the missed run, not tomorrow's
    _run_for(scheduler, 1.5)
    assert len(fired) == 1


def test_missed_run_outside_grace_or_already_done_is_not_repeated(make_config):
    zone = ZoneInfo("America/New_York")
    cron, fire_time = _cron_minutes_ago(5, zone)
    config, _ = make_config(
        {"schedule": {"cron": cron, "timezone": "America/New_York", "misfire_grace_hours": 0.05}}
    )  # 3 minutes
    fired: list[int] = []
    _run_for(build_scheduler(config, lambda: fired.append(1)), 1.5)
    config2, _ = make_config({"schedule": {"cron": cron, "timezone": "America/New_York"}})
    db = open_db(config2.db_path)
    with transaction(db):
        run_id = service_store.start_run(db, fire_time.date().isoformat(), False, "test")
        service_store.finish_run(db, run_id, "ok")
    db.conn.close()
    scheduler2 = build_scheduler(config2, lambda: fired.append(2))
    assert (
        missed_fire_time(
            scheduler2.get_job(DAILY_JOB_ID).trigger, timedelta(hours=1), datetime.now(zone)
        )
        == fire_time
    )  # it was missed, but ran already
    _run_for(scheduler2, 1.5)
    assert fired == []


def _wait_for_the_scheduler_lease(config, process: subprocess.Popen) -> None:
    """Until the `digest schedule` child holds its lease (at most 60 s; it must not exit)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        db = open_db(config.db_path, migrate=False)
        held = service_store.get_lease(db, "scheduler")
        db.conn.close()
        if held:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)


def test_second_scheduler_refuses_to_start(make_config):
    config, config_path = make_config()
    open_db(config.db_path).conn.close()
    command = [sys.executable, "-m", "digest", "--config", str(config_path), "schedule"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_the_scheduler_lease(config, first)
        second = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert "scheduler" in second.stderr and "not starting a second one" in second.stderr
    finally:
        first.terminate()
        first.wait(timeout=10)


@pytest.mark.parametrize("stop_signal", ["SIGTERM", "SIGINT"])
def test_scheduler_stops_cleanly_on_a_signal_and_frees_its_lease(make_config, stop_signal):
    import signal

    config, config_path = make_config()
    open_db(config.db_path).conn.close()
    command = [sys.executable, "-m", "digest", "--config", str(config_path), "schedule"]
    scheduler = subprocess.Popen(  # SIGINT as a terminal has it, even when pytest runs in `&`
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler),
    )
    try:
        _wait_for_the_scheduler_lease(config, scheduler)
        time.sleep(0.5)  # inside scheduler.start()
        scheduler.send_signal(getattr(signal, stop_signal))
        _, stderr = scheduler.communicate(timeout=30)
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
    assert scheduler.returncode == 0, stderr
    assert "Traceback" not in stderr
    db = open_db(config.db_path, migrate=False)
    assert service_store.get_lease(db, "scheduler") is None  # released, not left to expire
    db.conn.close()


def test_a_stale_run_is_tried_again_until_it_finishes(make_config):
    from apscheduler.triggers.date import DateTrigger

    config, _ = make_config()
    results = iter(["stale", "partial", "ok", "stale"])
    fired: list[str] = []

    def job() -> str:
        fired.append(next(results))
        return fired[-1]

    zone = ZoneInfo(config.schedule.timezone)
    start = DateTrigger(datetime.now(zone) + timedelta(seconds=0.3))
    scheduler = build_scheduler(config, job, trigger=start, retry_after=timedelta(seconds=0.5))
    _run_for(scheduler, 3.0)
    assert fired == ["stale", "partial", "ok"]  # arXiv late, one feed down, then done


def test_retries_stop_at_the_end_of_the_grace_time(make_config):
    from apscheduler.triggers.date import DateTrigger

    config, _ = make_config({"schedule": {"misfire_grace_hours": 1 / 3600}})  # one second
    fired: list[float] = []

    def job() -> str:
        fired.append(time.monotonic())
        return "failed"

    zone = ZoneInfo(config.schedule.timezone)
    start = DateTrigger(datetime.now(zone) + timedelta(seconds=0.2))
    scheduler = build_scheduler(config, job, trigger=start, retry_after=timedelta(seconds=0.4))
    _run_for(scheduler, 3.0)
    assert 2 <= len(fired) <= 3  # 0.0, 0.4 (, 0.8) s after the first try; never past 1 s


def test_the_scheduler_reads_the_child_runs_status(make_config, httpserver):
    from jobs.scheduler import run_daily_subprocess

    config, _ = make_config(
        {
            "arxiv": {
                "feed_base_url": httpserver.url_for("/").rstrip("/"),
                "categories": ["cs.AI"],
                "max_retries": 0,
            }
        }
    )
    httpserver.expect_request("/atom/cs.AI").respond_with_data("down", status=503)
    assert run_daily_subprocess(config) == "failed"
    httpserver.clear()
    httpserver.expect_request("/atom/cs.AI").respond_with_data(ATOM.read_bytes())
    assert run_daily_subprocess(config) == "stale"  # the 2025 sample is not today's listing


def test_a_killed_holder_not_yet_reaped_is_dead(make_config):
    """A holder killed with SIGKILL stays a zombie until its parent reaps it (for ever under
    an init that never reaps): its pid still answers signal 0, but it holds nothing."""
    import signal
    import socket

    config, _ = make_config()
    db = open_db(config.db_path)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        later = datetime.now(UTC) + timedelta(minutes=30)
        with transaction(db):
            service_store.put_lease(
                db, "daily-run", f"{socket.gethostname()}:{holder.pid}:dead", later
            )
        os.kill(holder.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{holder.pid}/stat").read_text().split(") ")[1][0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with Lease(db, config.db_path, "daily-run", minutes=10) as lease:
            assert service_store.get_lease(db, "daily-run")["holder"] == lease.holder
    finally:
        holder.kill()
        holder.wait()
        db.conn.close()
