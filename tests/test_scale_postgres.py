"""digest on PostgreSQL with worker processes, against a real server (conftest's pg_server):
the demo run by two `digest worker` processes sends the same emails and builds the same site
as the in-process demo on SQLite; migrate-db copies a database whose reads then agree."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import toml_text

DAY = "2025-08-20"
DEMO = ("demo", "--days", "1")  # the recorded feed's day and the week's last (a Friday: the
# weekly reader's issue too); the whole week only adds embedding time
SUBSCRIBERS = (
    ("ada@example.org", ("LLM agents", "Reasoning & planning"), ""),
    ("grace@example.org", ("Robotics & embodied AI",), "robots that learn from demonstrations"),
    ("alan@example.org", ("AI safety & alignment",), ""),
)


def write_config(folder: Path, feed_url: str, url: str = "", **mail) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sections = {
        "database": {"path": "data/digest.db", **({"url": url} if url else {})},
        "arxiv": {
            "categories": ["cs.AI"],
            "feed_base_url": feed_url,
            "request_delay_seconds": 0.0,
            "max_retries": 0,
        },
        "mail": {"outbox_dir": "data/outbox", "max_lateness_hours": 1e7, **mail},
        "site": {"dir": "data/site", "search": False},
    }
    path = folder / "config.toml"
    path.write_text(toml_text(sections), encoding="utf-8")
    return path


def digest(config_path: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(config_path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=config_path.parent,
    )


def start_workers(config_path: Path, count: int) -> list[subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_CONFIG"}
    env["DIGEST_WORKER_HEARTBEAT_SECONDS"] = "1"
    return [
        subprocess.Popen(
            [sys.executable, "-m", "digest", "--config", str(config_path), "worker"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=config_path.parent,
        )
        for _ in range(count)
    ]


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def prepare_sqlite(config_path: Path) -> None:
    """Topics and subscribers (the demo's) in the SQLite database, nothing fetched yet."""
    from digest.config import load_config
    from digest.paths import PROJECT_DIR
    from digest.store import open_db
    from digest.subscribers.manage import add_subscriber
    from digest.topics.toml_file import sync_topics

    config = load_config(str(config_path))
    db = open_db(config.db_target)
    sync_topics(db, PROJECT_DIR / "data" / "topics.toml")
    for email, topics, text in SUBSCRIBERS:
        add_subscriber(db, email, status="active", topics=topics, text=text)
    db.close()


def _replace_split(text: str, value: str, replacement: str) -> str:
    """Every occurrence of `value`, also where quoted-printable broke it over two lines with a
    soft line break ("=" at a line's end), replaced."""
    pattern = "(?:=\\r?\\n)?".join(re.escape(c) for c in value)
    return re.sub(pattern, lambda m: replacement, text)


def normalised_outbox(folder: Path, delivery_ids: dict[str, str]) -> dict[str, str]:
    """email file text per issue and subscriber, with Message-ID, Date, the MIME boundary, delivery ids
    and the subscriber's manage token (random per subscriber) blanked."""
    found = {}
    for path in sorted(folder.rglob("*.eml")):
        text = path.read_bytes().decode("utf-8", errors="replace")
        text = re.sub(r"(?m)^(Message-ID|Date): .*$", r"\1: -", text)
        text = re.sub(r"=_[0-9a-f]{16,}", "=_boundary", text)  # MIME boundaries are random
        for delivery_id, label in delivery_ids.items():
            text = _replace_split(text, delivery_id, label)
        token = re.search(r"/u/([A-Za-z0-9_-]{16,})>", text)
        if token:  # a random token per subscriber
            text = _replace_split(text, token.group(1), "<manage token>")
        to = re.search(r"(?m)^To: (.*)$", text)
        found[f"{path.parent.name} {to.group(1) if to else path.name}"] = text  # day, reader
    return found


def ledger_labels(db) -> dict[str, str]:
    rows = db.execute(
        "SELECT d.id, s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
    ).fetchall()
    return {row[0]: f"<delivery of {row[1]}>" for row in rows}


def site_pages(folder: Path) -> dict[str, str]:
    pages = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".html", ".xml", ".json"):
            text = path.read_text(encoding="utf-8", errors="replace")
            pages[str(path.relative_to(folder))] = re.sub(
                r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?", "-", text
            )
    return pages


def jobs_done(db) -> dict[str, int]:
    """task name -> how many of its jobs succeeded."""
    rows = db.execute(
        "SELECT task_name, count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
        " GROUP BY task_name"
    ).fetchall()
    return {row[0].split(":")[-1]: int(row[1]) for row in rows}


@pytest.mark.slow
def test_the_demo_on_postgresql_with_two_workers_makes_what_sqlite_makes(tmp_path, pg_url):
    """`digest demo` (its data and its steps) on SQLite in one process, and on PostgreSQL with
    two `digest worker` processes doing the embedding, planning, rendering, sending and the
    paper and author pages: the same emails byte for byte (Message-ID, Date, MIME boundaries
    and delivery ids aside) and the same site (build timestamps aside)."""
    from digest.store import open_db

    lite = write_config(tmp_path / "sqlite", "http://127.0.0.1:9/")
    pg = write_config(tmp_path / "pg", "http://127.0.0.1:9/", url=pg_url)
    ran = digest(lite, *DEMO)
    assert ran.returncode == 0, ran.stderr
    workers = start_workers(pg, 2)
    try:
        ran_pg = digest(pg, *DEMO)
        again = digest(pg, *DEMO)  # safe to run again: nothing is sent twice
    finally:
        stop_workers(workers)
    assert ran_pg.returncode == 0, ran_pg.stdout + ran_pg.stderr
    written = [int(n) for n in re.findall(r"(\d+) emails written by the workers", ran_pg.stdout)]
    assert sum(written) >= 3, ran_pg.stdout
    assert again.returncode == 0, again.stdout + again.stderr
    rewritten = re.findall(r"(\d+) emails written by the workers", again.stdout)
    assert rewritten and set(rewritten) == {"0"}, again.stdout

    lite_db, pg_db = open_db(tmp_path / "sqlite" / "data" / "digest.db"), open_db(pg_url)
    try:
        done = jobs_done(pg_db)
        for task in ("embed_batch", "plan_range", "render_shard", "send_shard", "site_pages"):
            assert done.get(task, 0) >= 1, done  # every step was the workers' work
        emails = normalised_outbox(tmp_path / "sqlite" / "data" / "outbox", ledger_labels(lite_db))
        emails_pg = normalised_outbox(tmp_path / "pg" / "data" / "outbox", ledger_labels(pg_db))
    finally:
        lite_db.close()
        pg_db.close()
    assert sorted(emails_pg) == sorted(emails)
    issues = [key for key in emails if not key.startswith("preview ")]  # the demo's preview too
    assert len(issues) == sum(written), ran_pg.stdout
    for to in emails:
        assert emails_pg[to] == emails[to], to
    pages = site_pages(tmp_path / "sqlite" / "data" / "site")
    pages_pg = site_pages(tmp_path / "pg" / "data" / "site")
    assert len(pages) > 100 and sorted(pages_pg) == sorted(pages)
    differing = [p for p in pages if pages[p] != pages_pg[p]]
    assert not differing, differing[:5]


@pytest.mark.slow
def test_migrate_db_round_trip_of_the_demo_database(tmp_path, pg_url):
    lite = write_config(tmp_path / "sqlite", "http://127.0.0.1:9/")
    demo = digest(lite, *DEMO)
    assert demo.returncode == 0, demo.stderr
    copied = digest(lite, "migrate-db", "--to", pg_url, "--json")
    assert copied.returncode == 0, copied.stdout + copied.stderr
    report = json.loads(copied.stdout)
    assert report["ok"] and {t["table"] for t in report["tables"]} >= {
        "papers",
        "deliveries",
        "embeddings",
    }
    assert all(t["rows"] == t["target_rows"] and t["checksum_ok"] for t in report["tables"])
    refused = digest(lite, "migrate-db", "--to", pg_url)  # the target holds rows now
    assert refused.returncode == 1 and "not empty" in refused.stderr
    pg = write_config(tmp_path / "pg", "http://127.0.0.1:9/", url=pg_url)
    for args in (("picks", "ada@example.org", "--date", DAY), ("deliveries", "list", "--json")):
        on_sqlite, on_pg = digest(lite, *args), digest(pg, *args)
        assert on_sqlite.returncode == on_pg.returncode == 0, on_pg.stderr
        assert on_pg.stdout == on_sqlite.stdout
    status, status_pg = (json.loads(digest(c, "status", "--json").stdout) for c in (lite, pg))
    for report in (status, status_pg):
        report.pop("database", None)
    assert status_pg.keys() == status.keys()
    assert status_pg["database_bytes"] > status["database_bytes"] > 0  # pg_database_size
    for key in status:
        if key not in ("config", "paths", "database_bytes"):  # the SQLite file's size
            assert status_pg[key] == status[key], key
