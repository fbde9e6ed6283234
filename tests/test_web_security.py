"""Findings of a hostile review, each shown on the real thing: manage tokens at rest, the
folder redirect and the Host header, guessing token links, a full disk under the outbox.
Real SQLite files, real uvicorn on loopback, raw HTTP where a browser would not go."""

from __future__ import annotations

import http.client
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import sqlite_utils

from digest.store import open_db
from digest.web.server import ServerThread

OLD_TOKEN = "Kq7vX2mN9pL4rT1yW8uJ3cH6gF5dS0aE"  # token_urlsafe(24), as subscribers had them


@pytest.fixture(autouse=True)
def _key_beside_the_database(monkeypatch):
    monkeypatch.delenv("DIGEST_SECRET_KEY", raising=False)


def _database_bytes(db_path: Path) -> bytes:
    """The file as a backup would copy it: the WAL folded in, then every byte of it."""
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    wal = db_path.with_name(db_path.name + "-wal")
    return db_path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _database_before_hashed_tokens(db_path: Path) -> None:
    """A database as the release before hashed tokens left it: one subscriber whose plain
    manage token is in its row (and already in the emails they were sent)."""
    from digest.store.migrations import MIGRATION_SETS

    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    db = sqlite_utils.Database(conn)
    for migrations in MIGRATION_SETS:
        migrations.apply(db, stop_before="m003_manage_tokens_not_at_rest")
    conn.execute(
        "INSERT INTO subscribers (email, status, manage_token, created_at)"
        " VALUES ('old@example.org', 'active', ?, '2025-01-01T00:00:00+00:00')",
        [OLD_TOKEN],
    )
    conn.close()


def test_manage_tokens_rest_only_as_keyed_hashes_and_old_links_keep_working(make_config):
    """Anyone reading a backup could unsubscribe, export or delete anyone: the plain token sat
    in subscribers.manage_token. Upgraded, the file holds no token, old or new; the link in an
    email sent before still opens the page, the new one too; a copy without the key opens none."""
    from digest.store.subscribers import get_subscriber_by_token
    from digest.subscribers.manage import add_subscriber

    config, _ = make_config()
    _database_before_hashed_tokens(config.db_path)
    db = open_db(config.db_path)  # the upgrade
    new = add_subscriber(db, "new@example.org", status="active")
    [old] = [s for s in _subscribers(db) if s.email == "old@example.org"]
    assert old.manage_token and new.manage_token and old.manage_token != OLD_TOKEN
    plain = db.execute("SELECT COUNT(*) FROM subscribers WHERE manage_token IS NOT NULL")
    assert plain.fetchone() == (0,)
    db.conn.close()

    at_rest = _database_bytes(config.db_path)
    assert OLD_TOKEN.encode() not in at_rest
    assert new.manage_token.encode() not in at_rest and old.manage_token.encode() not in at_rest

    with ServerThread(config) as base_url:
        for token, address in (
            (OLD_TOKEN, "old@example.org"),  # a link in an email sent before the upgrade
            (old.manage_token, "old@example.org"),  # the link its next email carries
            (new.manage_token, "new@example.org"),
        ):
            page = httpx.get(f"{base_url}/p/{token}")
            assert page.status_code == 200 and address in page.text
        forged = new.manage_token[:-1] + ("A" if new.manage_token[-1] != "A" else "B")
        assert httpx.get(f"{base_url}/p/{forged}").status_code == 404

    (config.db_path.parent / "secret.key").write_text("another key\n")  # the backup, elsewhere
    db = open_db(config.db_path)
    for token in (OLD_TOKEN, old.manage_token, new.manage_token):
        assert get_subscriber_by_token(db, token) is None
    db.conn.close()


def _subscribers(db):
    from digest.store.subscribers import list_subscribers

    return list_subscribers(db)


def test_the_same_subscriber_gets_the_same_link_in_every_email(make_config):
    """Sending derives the token with the key each time: two loads, two processes' worth of
    emails, one link; it survives a reopen of the database."""
    from digest.subscribers.manage import add_subscriber

    config, _ = make_config()
    db = open_db(config.db_path)
    first = add_subscriber(db, "same@example.org", status="active").manage_token
    db.conn.close()
    db = open_db(config.db_path)
    [again] = _subscribers(db)
    assert again.manage_token == first and first is not None and len(first) >= 40
    db.conn.close()


def test_manage_tokens_work_and_rest_nowhere_on_both_backends(any_db):
    """SQLite and PostgreSQL alike: a subscriber's link finds them, no column holds it."""
    from digest.store.subscribers import get_subscriber_by_token
    from digest.subscribers.manage import add_subscriber

    added = add_subscriber(any_db, "both@example.org", status="active")
    assert added.manage_token and get_subscriber_by_token(any_db, added.manage_token) == added
    stored = list(any_db.query("SELECT * FROM subscribers"))
    assert added.manage_token not in repr(stored)
    token = added.manage_token
    assert get_subscriber_by_token(any_db, token[:-1] + ("A" if token[-1] != "A" else "B")) is None


# ------------------------------------------------------------------ folder redirect and Host
def _raw_get(base_url: str, path: str, host: str) -> http.client.HTTPResponse:
    """GET with this exact path and Host header (httpx and browsers would normalise both)."""
    where = urlsplit(base_url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", host)
    conn.endheaders()
    answer = conn.getresponse()
    answer.read()
    conn.close()
    return answer


def test_the_folder_redirect_never_sends_a_reader_to_the_request_host(make_config):
    """`GET //evil.com/%2e%2e` with `Host: evil.com` was answered with a redirect to
    http://evil.com//evil.com/../ (Starlette builds it from the Host header): an open redirect
    on the archive's own domain. Folder redirects are relative now; dot segments are 404."""
    config, _ = make_config()
    site = config.path(config.site.dir)
    (site / "topics").mkdir(parents=True)
    (site / "index.html").write_text("<!DOCTYPE html><title>home</title>")
    (site / "topics" / "index.html").write_text("<!DOCTYPE html><title>topics</title>")
    with ServerThread(config) as base_url:
        hostile = _raw_get(base_url, "//evil.com/%2e%2e", "evil.com")
        location = hostile.getheader("location") or ""
        assert "evil.com" not in location
        assert hostile.status in (404, 307)

        folder = _raw_get(base_url, "/topics", "evil.com")
        assert folder.status == 307
        assert folder.getheader("location") == "topics/"  # relative: stays on the reader's host
        followed = httpx.get(f"{base_url}/topics", follow_redirects=True)
        assert followed.status_code == 200 and "topics" in followed.text
        assert str(followed.url) == f"{base_url}/topics/"


# ------------------------------------------------------------------ guessing token links
def test_a_client_guessing_token_links_is_stopped_and_then_learns_nothing(make_config):
    """/u, /p and /f answered unlimited guesses. Now wrong links count per client: past
    [service].token_misses_per_ip_per_minute every token link from that client is a 429 for
    the minute, a right one too (or the answer would tell a hit). Another client, here a
    second address behind the trusted proxy, is not affected."""
    import secrets

    from digest.subscribers.manage import add_subscriber

    config, _ = make_config({"service": {"trusted_proxies": ["127.0.0.1"]}})  # 10 a minute
    db = open_db(config.db_path)
    token = add_subscriber(db, "kept@example.org", status="active").manage_token
    guesser = {"x-forwarded-for": "203.0.113.7"}
    reader = {"x-forwarded-for": "198.51.100.2"}
    with ServerThread(config) as base_url:
        answers = []
        for n in range(40):
            guess = secrets.token_urlsafe(36)
            path = (f"/p/{guess}", f"/u/{guess}", f"/f/{guess}?paper=2508.01234&kind=like")
            answers.append(httpx.get(base_url + path[n % 3], headers=guesser).status_code)
        assert answers[:3] == [404, 404, 404]
        assert 429 in answers
        first = answers.index(429)
        assert set(answers[first:]) == {429}  # once stopped, stopped for the minute
        stopped = httpx.get(f"{base_url}/p/{token}", headers=guesser)
        assert stopped.status_code == 429 and stopped.headers["retry-after"] == "60"
        assert "kept@example.org" not in stopped.text
        assert httpx.post(f"{base_url}/u/{token}", headers=guesser).status_code == 429
        fine = httpx.get(f"{base_url}/p/{token}", headers=reader)
        assert fine.status_code == 200 and "kept@example.org" in fine.text
    assert db.execute("SELECT status FROM subscribers").fetchone() == ("active",)
    db.conn.close()


# ------------------------------------------------------------------ a full disk under the outbox
FULL_DISK_SCRIPT = """
set -e
mount -t tmpfs -o size=100k tmpfs "$OUTBOX"
set +e
"$PYTHON" -m digest --config "$CONFIG" send --date 2025-08-20 --force
echo "exit=$?"
echo "files:"; find "$OUTBOX" -type f -printf '%f\\n'
"""


def test_a_full_disk_under_the_outbox_names_the_path_keeps_the_rest_queued_and_no_temp_files(
    make_config, tmp_path
):
    """A full disk mid-send printed only `No space left on device` and left
    `.index.html.<hex>.tmp` (and half-written `.eml` temp files) behind. Now the line names the
    file it could not write, says how many stay queued, and no temp file is left; the next
    send, with room again, sends exactly the rest. A real full disk: a 100 KB tmpfs mounted
    over the outbox inside a user and mount namespace (skipped where those are not allowed)."""
    import os
    import shutil
    import subprocess
    import sys

    from digest.store.deliveries import count_by_state
    from tests.delivery_support import ISSUE, seed_subscribers

    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) here to mount a small file system")
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"user+mount namespaces not allowed here: {probe.stderr.decode().strip()}")
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    config, config_path = make_config(
        {"mail": {"outbox_dir": str(outbox), "rate_per_second": 1000.0, "retry_base_seconds": 0.01}}
    )
    db = open_db(config.db_path)
    seed_subscribers(db, 20)  # ~22 KB each as .eml + .html: the disk fills after a few
    db.conn.close()
    env = {**os.environ, "OUTBOX": str(outbox), "CONFIG": str(config_path)}
    env["PYTHON"] = sys.executable
    run = subprocess.run(
        ["unshare", "-rm", "sh", "-c", FULL_DISK_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert "exit=1" in run.stdout, run.stdout + run.stderr
    written = run.stdout.split("files:", 1)[1].split()
    assert written and not [name for name in written if name.endswith(".tmp")], written
    said = " ".join((run.stdout + run.stderr).split())
    assert f"cannot write {outbox}/{ISSUE.isoformat()}/" in said
    assert "No space left on device" in said
    sent = len([name for name in written if name.endswith(".eml")])
    assert f"{20 - sent - 1} stay queued" in said

    db = open_db(config.db_path)  # the ledger agrees: nothing lost, nothing sent twice
    states = count_by_state(db, ISSUE)
    assert (states["sent"], states["failed"], states["queued"]) == (sent, 1, 20 - sent - 1)
    db.conn.close()
    again = subprocess.run(  # room again (the tmpfs is gone with its namespace)
        [sys.executable, "-m", "digest", "--config", str(config_path), "send"]
        + ["--date", ISSUE.isoformat(), "--force"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert f"sent {20 - sent}," in again.stdout
    assert len(list((outbox / ISSUE.isoformat()).glob("*.eml"))) == 20 - sent
