"""Two schedulers on PostgreSQL: one leads and runs the day; its machine dies (the scheduler
and its `digest run` child are SIGKILLed together); the other takes over within a minute and
finishes the day, which runs once: one email per subscriber, each stage done once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import ATOM_SAMPLE, toml_text
from tests.pg_server import wait_until
from tests.test_scale_postgres import prepare_sqlite, start_workers, stop_workers


def start_scheduler(config_path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_CONFIG"}
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "--config", str(config_path), "schedule"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=config_path.parent,
        start_new_session=True,  # its own process group: "the machine" dies with its child
    )


def read_lines(process: subprocess.Popen) -> list[str]:
    """The process's stderr lines as they come (a thread reads the pipe)."""
    import threading

    lines: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


@pytest.mark.slow
def test_the_other_scheduler_takes_over_and_the_day_runs_once(tmp_path, httpserver, pg_url):
    from digest.store import open_db

    today = datetime.now(ZoneInfo("America/New_York")).date().isoformat()
    feed = ATOM_SAMPLE.read_text(encoding="utf-8").replace("2025-08-20", today)
    httpserver.expect_request("/atom/cs.AI").respond_with_data(
        feed, content_type="application/atom+xml"
    )
    sections = {
        "database": {"path": "data/digest.db", "url": pg_url},
        "arxiv": {
            "categories": ["cs.AI"],
            "feed_base_url": httpserver.url_for("/"),
            "request_delay_seconds": 0.0,
            "max_retries": 0,
        },
        "mail": {"outbox_dir": "data/outbox"},
        "site": {"dir": "data/site", "search": False},
        "schedule": {
            "cron": "0 0 * * *",
            "timezone": "America/New_York",
            "misfire_grace_hours": 24.0,
        },
    }
    config_path = tmp_path / "config.toml"
    config_path.write_text(toml_text(sections), encoding="utf-8")
    prepare_sqlite(config_path)  # topics and three subscribers, in PostgreSQL here
    db = open_db(pg_url)
    workers = start_workers(config_path, 2)
    first = start_scheduler(config_path)
    second = None
    try:
        holder = wait_until(
            lambda: db.execute("SELECT holder FROM leases WHERE name = 'scheduler'").fetchone(),
            120,
            "a leader",
        )
        assert f":{first.pid}:" in holder[0]
        second = start_scheduler(config_path)
        said = read_lines(second)
        wait_until(
            lambda: db.execute("SELECT 1 FROM runs WHERE status = 'running'").fetchone(),
            180,
            "the leader's run",
        )
        # the other one must have tried and be waiting before the leader dies (under load
        # its start can take longer than the run takes to begin)
        wait_until(lambda: "waiting to take over" in "".join(said), 180, "the other to wait")
        os.killpg(first.pid, signal.SIGKILL)  # the leader's machine dies mid-run
        first.wait()
        killed_at = time.monotonic()
        wait_until(
            lambda: (
                f":{second.pid}:"
                in (
                    db.execute("SELECT holder FROM leases WHERE name = 'scheduler'").fetchone()
                    or [""]
                )[0]
            ),
            90,
            "the other scheduler to lead",
        )
        assert time.monotonic() - killed_at < 60
        wait_until(
            lambda: db.execute(
                "SELECT 1 FROM runs WHERE issue_date = ? AND status = 'ok'", [today]
            ).fetchone(),
            400,
            "the day to finish",
        )
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)
        stop_workers(workers)
    states = db.execute(
        "SELECT state, COUNT(*) FROM deliveries WHERE issue_date = ? GROUP BY state", [today]
    ).fetchall()
    assert dict(states) == {"sent": 3}
    emails = list((tmp_path / "data" / "outbox").rglob("*.eml"))
    assert len(emails) == 3
    done = db.execute(
        "SELECT stage, COUNT(*) FROM run_stages WHERE issue_date = ? AND status = 'ok' GROUP BY stage",
        [today],
    ).fetchall()
    assert dict(done) == {"fetch": 1, "embed": 1, "plan": 1, "summarise": 1, "send": 1, "site": 1}
    db.close()
