"""End to end: real uvicorn, a real local SMTP server, the recorded Atom feed over HTTP, and
`digest run` as a separate process, exactly as an operator would run them."""

from __future__ import annotations

import email
import email.policy
import html
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from digest.models import Topic
from digest.store import open_db
from digest.topics.catalog import add_topic
from digest.web.server import ServerThread

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
ATOM = SAMPLES / "cs.AI-2025-08-20.atom.xml"
EMPTY_RSS = (
    Path(__file__).parent
    / "fixtures"
    / "arxiv"
    / "rss"
    / "broadfield-dev-ticker__rss.arxiv.org_rss_physics__2025-12-31__EMPTY_reconstructed.xml"
)


class Sink:
    """An SMTP server that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook name)
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10.0) -> list:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


@pytest.fixture
def smtp_sink():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, controller.port
    controller.stop()


def warm_vector_cache(config, sample_db_path: Path) -> None:
    """Copy the stored vectors of the session sample DB (same feed, same model) so the runs
    under test skip re-encoding 86 abstracts; the papers themselves still come from the feed."""
    db = open_db(config.db_path)
    db.execute("ATTACH DATABASE ? AS sample", [str(sample_db_path)])
    db.execute("INSERT OR IGNORE INTO embeddings SELECT * FROM sample.embeddings")
    db.execute("DETACH DATABASE sample")
    db.conn.close()


def digest_cli(config_path: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(config_path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


@pytest.mark.slow
def test_subscribe_confirm_run_unsubscribe_run(make_config, httpserver, smtp_sink, sample_db_path):
    sink, smtp_port = smtp_sink
    httpserver.expect_request("/atom/cs.AI").respond_with_data(
        ATOM.read_bytes(), content_type="application/atom+xml"
    )
    config, config_path = make_config(
        {
            "arxiv": {
                "categories": ["cs.AI"],
                "feed_base_url": httpserver.url_for("/"),
                "feed_format": "atom",
                "request_delay_seconds": 0.0,
                "max_retries": 0,
            },
            "mail": {
                "backend": "smtp",
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp_port,
                "smtp_security": "none",
                "from_address": "digest@news.example.org",
                "postal_address": "1 Example Street, Springfield",
                "max_lateness_hours": 1e7,
            },
        }
    )
    warm_vector_cache(config, sample_db_path)
    db = open_db(config.db_path)
    add_topic(
        db,
        Topic(
            name="LLM agents",
            kind="curated",
            description="large language model agents, planning and tool use",
            keywords=("agent", "language model"),
        ),
    )

    with ServerThread(config) as base_url, httpx.Client(base_url=base_url) as web:
        answer = web.post(
            "/subscribe",
            data={
                "email": "reader@example.org",
                "topics": "LLM agents",
                "frequency": "daily",
                "own_topic": "multi-agent LLM systems",
            },
        )
        assert answer.status_code == 200
        [confirmation] = sink.wait_for(1)
        assert confirmation["To"] == "reader@example.org"
        text = confirmation.get_body(("plain",)).get_content()
        link = re.search(r"https?://\S+/confirm/[A-Za-z0-9_-]+", text).group(0)

        def status() -> str:
            return db.execute(
                "SELECT status FROM subscribers WHERE email = ?", ["reader@example.org"]
            ).fetchone()[0]

        assert web.get(path_of(link)).status_code == 200
        assert status() == "pending"  # a GET (mail scanner) confirms nobody
        assert web.post(path_of(link)).status_code == 200
        assert status() == "active"

        first = digest_cli(config_path, "run", "--date", "2025-08-20", "--json")
        assert first.returncode == 0, first.stderr
        report = json.loads(first.stdout)
        assert report["status"] == "ok"
        stages = {s["stage"]: s for s in report["stages"]}
        assert stages["fetch"]["counts"]["new"] > 0
        assert stages["send"]["counts"]["sent"] == 1
        index = config.path(config.site.dir) / "index.html"
        assert stages["site"]["status"] == "ok" and index.is_file()
        assert web.get("/").text == index.read_text(encoding="utf-8")  # the archive is served
        messages = sink.wait_for(2)
        assert len(messages) == 2
        digest_mail = messages[1]
        assert digest_mail["To"] == "reader@example.org"
        assert digest_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        one_click = re.search(r"<(https?://[^>]+/u/[^>]+)>", digest_mail["List-Unsubscribe"])

        # A corporate link scanner GETs every 👍 and 👎 of the mail: nothing is recorded.
        mail_html = digest_mail.get_body(("html",)).get_content()
        votes = [
            html.unescape(url)
            for url in re.findall(r'href="(https?://[^"]+/f/[^"]+)"', mail_html)
            if "kind=like" in url or "kind=dislike" in url
        ]
        assert len(votes) >= 2
        assert all(web.get(path_of(url)).status_code == 200 for url in votes)
        assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 0
        # The reader's browser sends the first 👍's page form (its script does, on load).
        vote_page = web.get(path_of(votes[0])).text
        action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', vote_page)[1])
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', vote_page)[1]
        assert web.post(action, data={"csrf": csrf}).status_code == 200
        kind = "like" if "kind=like" in votes[0] else "dislike"
        assert [r[0] for r in db.execute("SELECT kind FROM feedback")] == [kind]

        # The mail client's one-click POST: no cookies, no CSRF token.
        answer = httpx.post(
            base_url + path_of(one_click.group(1)),
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert answer.status_code == 200
        assert status() == "unsubscribed"

    again = digest_cli(config_path, "run", "--date", "2025-08-20", "--force", "--json")
    assert again.returncode == 0, again.stderr
    stages = {s["stage"]: s for s in json.loads(again.stdout)["stages"]}
    assert stages["plan"]["counts"]["due"] == 0  # the unsubscribed reader is not due any more
    assert stages["send"]["counts"]["sent"] == 0
    time.sleep(0.5)
    assert len(sink.messages) == 2
    actions = [r[0] for r in db.execute("SELECT action FROM consents ORDER BY id")]
    assert actions == ["subscribe", "confirm", "unsubscribe"]
    db.conn.close()


def test_no_announcement_ends_cleanly_and_sends_nothing(make_config, httpserver):
    httpserver.expect_request("/rss/physics").respond_with_data(
        EMPTY_RSS.read_bytes(), content_type="application/rss+xml"
    )
    config, config_path = make_config(
        {
            "arxiv": {
                "categories": ["physics"],
                "feed_base_url": httpserver.url_for("/"),
                "feed_format": "rss",
                "request_delay_seconds": 0.0,
                "max_retries": 0,
            },
        }
    )
    from digest.subscribers.manage import add_subscriber

    db = open_db(config.db_path)
    add_subscriber(db, "a@example.org", status="active", always_send=True)
    result = digest_cli(config_path, "run", "--date", "2025-12-31", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "no_announcement"
    assert [s["stage"] for s in report["stages"]] == ["fetch"]
    assert db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 0
    run = db.execute("SELECT status, finished_at FROM runs").fetchone()
    assert run[0] == "no_announcement" and run[1]
    db.conn.close()


@pytest.mark.slow
def test_a_failed_run_resumes_where_it_stopped(make_config, httpserver, sample_db_path):
    """The embed stage fails (bad model path): exit 1 with the reason stored. A re-run with the
    model fixed does not fetch again; it continues at embed and finishes."""
    httpserver.expect_request("/atom/cs.AI").respond_with_data(
        ATOM.read_bytes(), content_type="application/atom+xml"
    )
    arxiv = {
        "categories": ["cs.AI"],
        "feed_base_url": httpserver.url_for("/"),
        "feed_format": "atom",
        "request_delay_seconds": 0.0,
        "max_retries": 0,
    }
    mail = {"max_lateness_hours": 1e7}
    config, config_path = make_config(
        {"arxiv": arxiv, "mail": mail, "embedding": {"model": "/nonexistent/model-dir"}}
    )
    warm_vector_cache(config, sample_db_path)
    broken = digest_cli(config_path, "run", "--date", "2025-08-20", "--json")
    assert broken.returncode == 1
    report = json.loads(broken.stdout)
    assert report["status"] == "failed"
    # the stages that need embeddings are skipped and say so; the archive is still built
    assert [(s["stage"], s["status"]) for s in report["stages"]] == [
        ("fetch", "ok"),
        ("embed", "failed"),
        ("plan", "skipped"),
        ("summarise", "skipped"),
        ("send", "skipped"),
        ("site", "ok"),
    ]

    make_config({"arxiv": arxiv, "mail": mail})  # the operator fixes the model setting
    resumed = digest_cli(config_path, "run", "--date", "2025-08-20", "--json")
    assert resumed.returncode == 0, resumed.stderr
    stages = [(s["stage"], s["status"]) for s in json.loads(resumed.stdout)["stages"]]
    assert stages[:2] == [("fetch", "done-earlier"), ("embed", "ok")]
    assert [s for _, s in stages[2:]] == ["ok", "ok", "ok", "ok"]
    assert len(httpserver.log) == 1  # the feed was fetched once across both runs
    status = digest_cli(config_path, "status", "--json")
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert [r["status"] for r in info["last_runs"]][:2] == ["ok", "failed"]


def test_status_warns_about_a_stale_feed_and_a_failed_last_run(make_config):
    from datetime import UTC, datetime, timedelta

    from digest.pipeline import service_status
    from digest.store import service as service_store
    from digest.store import transaction

    config, _ = make_config()
    db = open_db(config.db_path)
    assert "no feed has been fetched successfully yet" in service_status(db, config)["warnings"]
    old = (datetime.now(UTC) - timedelta(days=6)).isoformat(timespec="seconds")
    with transaction(db):
        db.execute(
            "INSERT INTO ingest_runs (source, category, started_at, status)"
            " VALUES ('feed', 'cs.AI', ?, 'ok')",
            [old],
        )
        run_id = service_store.start_run(db, "2025-08-20", False, "test")
        service_store.finish_run(db, run_id, "failed", "send: boom")
    info = service_status(db, config)
    assert any("feed looks stale" in w for w in info["warnings"])
    assert any("failed: send: boom" in w for w in info["warnings"])
    assert info["last_runs"][0]["status"] == "failed"
    with transaction(db):
        db.execute(
            "INSERT INTO ingest_runs (source, category, started_at, status)"
            " VALUES ('feed', 'cs.AI', ?, 'ok')",
            [datetime.now(UTC).isoformat()],
        )
    assert not any("stale" in w for w in service_status(db, config)["warnings"])
    db.conn.close()
