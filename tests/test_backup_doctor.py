"""`digest backup` under concurrent writes, restore, and `digest doctor` against a loopback DNS
server speaking the real wire format."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time

import dns.message
import dns.rcode
import dns.resolver
import dns.rrset

from digest.ops.backup import backup
from digest.ops.doctor import doctor
from digest.store import open_db, transaction


def test_backup_during_active_write_loop_passes_integrity_check(make_config, tmp_path):
    config, _ = make_config({"service": {"backup_keep": 2}})
    db = open_db(config.db_path)
    stop = threading.Event()
    written = []

    def writer():
        conn = open_db(config.db_path, migrate=False)
        n = 0
        while not stop.is_set():
            with transaction(conn):
                for _ in range(20):
                    conn.execute(
                        "INSERT INTO rate_limits (key, window_start, count) VALUES (?, 'w', 1)",
                        [f"k{n}"],
                    )
                    n += 1
            written.append(n)
        conn.conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        reports = []
        for _ in range(3):
            time.sleep(0.2)
            reports.append(backup(config))
    finally:
        stop.set()
        thread.join()
    assert written and written[-1] > 100  # the writer really was busy throughout
    for report in reports:
        assert report.integrity == "ok"
    kept = sorted(config.path(config.service.backup_dir).glob("digest-*.db"))
    assert kept == sorted(r.path for r in reports[-2:])  # pruned to the newest 2
    for path in kept:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        count = conn.execute("SELECT COUNT(*) FROM rate_limits").fetchone()[0]
        assert 0 < count <= written[-1] and count % 20 == 0  # whole transactions only
        conn.close()
    db.conn.close()


def test_restore_from_backup_with_the_documented_steps(make_config):
    config, config_path = make_config()
    db = open_db(config.db_path)
    with transaction(db):
        db.execute("INSERT INTO rate_limits (key, window_start, count) VALUES ('before', 'w', 1)")
    result = subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(config_path), "backup", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    saved = json.loads(result.stdout)["path"]
    with transaction(db):
        db.execute("DELETE FROM rate_limits")
    db.conn.close()
    # Restore: stop the service, copy the backup over the database, remove stale -wal/-shm.
    shutil.copy(saved, config.db_path)
    for suffix in ("-wal", "-shm"):
        (config.db_path.parent / (config.db_path.name + suffix)).unlink(missing_ok=True)
    restored = open_db(config.db_path)
    assert restored.execute("SELECT key FROM rate_limits").fetchall() == [("before",)]
    restored.conn.close()


# ------------------------------------------------------------------ doctor
class LoopbackDNS:
    """A tiny authoritative DNS server on 127.0.0.1 answering from a dict (real wire format)."""

    def __init__(self, records: dict[tuple[str, str], list[str]]) -> None:
        self.records = records
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            kind = dns.rdatatype.to_text(question.rdtype)
            values = self.records.get((name, kind))
            if values:
                response.answer.append(dns.rrset.from_text(question.name, 300, "IN", kind, *values))
            elif not any(key[0] == name for key in self.records):
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)

    def resolver(self) -> dns.resolver.Resolver:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = self.port
        resolver.lifetime = resolver.timeout = 2.0
        return resolver

    def __enter__(self) -> LoopbackDNS:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


def checks_by_name(report) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.detail) for c in report.checks}


def test_doctor_reads_spf_dkim_dmarc_from_dns(make_config):
    config, _ = make_config(
        {"mail": {"from_address": "digest@news.example.net", "postal_address": "1 Example Street"}}
    )
    records = {
        ("news.example.net", "TXT"): ['"v=spf1 include:sendgrid.net -all"'],
        ("_dmarc.news.example.net", "TXT"): ['"v=DMARC1; p=none; rua=mailto:d@example.net"'],
        ("s1._domainkey.news.example.net", "CNAME"): ["s1.domainkey.u1.wl.sendgrid.net."],
    }
    with LoopbackDNS(records) as server:
        report = doctor(config, resolver=server.resolver())
    checks = checks_by_name(report)
    assert checks["spf"][0] == "ok" and "include:sendgrid.net" in checks["spf"][1]
    assert checks["dmarc"][0] == "ok"
    assert checks["dkim"][0] == "ok" and "s1._domainkey" in checks["dkim"][1]
    assert checks["templates"][0] == "ok"
    assert checks["postal address"][0] == "ok"
    assert report.ok


def test_doctor_warns_on_missing_records_and_placeholder_sender(make_config):
    config, _ = make_config()
    with LoopbackDNS({("example.org", "TXT"): ['"google-site-verification=x"']}) as server:
        report = doctor(config, resolver=server.resolver())
    checks = checks_by_name(report)
    assert checks["spf"][0] == checks["dmarc"][0] == checks["dkim"][0] == "warn"
    assert checks["postal address"][0] == "warn"  # outbox backend: a warning, not a failure
    assert checks["from address"][0] == "warn"
    assert report.ok


def test_doctor_without_network_says_it_could_not_check(make_config):
    config, _ = make_config()
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    silent.bind(("127.0.0.1", 0))
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = silent.getsockname()[1]
    resolver.lifetime = resolver.timeout = 0.5
    try:
        report = doctor(config, resolver=resolver)
    finally:
        silent.close()
    status, detail = checks_by_name(report)["dns"]
    assert status == "skip" and "could not check" in detail and "no network" in detail


def test_doctor_cli_fails_on_a_broken_setup(make_config):
    config, config_path = make_config(
        {"mail": {"backend": "sendgrid", "postal_address": "1 Example Street"}}
    )
    env = {k: v for k, v in os.environ.items() if k != "SENDGRID_API_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(config_path), "doctor", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1
    checks = {c["name"]: c["status"] for c in json.loads(result.stdout)["checks"]}
    assert checks["sendgrid key"] == "fail"
    assert checks["from address"] == "fail"  # example.org is a placeholder


# ------------------------------------------------------------------ hostile places and files
def test_pruning_never_touches_a_database_that_only_looks_like_a_backup(make_config, tmp_path):
    """The live database `digest-0.db` sorted first among the backups and was deleted by the
    prune when the backups went to its own folder."""
    config, _ = make_config({"database": {"path": "data/digest-0.db"}})
    db = open_db(config.db_path)
    with transaction(db):
        db.execute("INSERT INTO rate_limits (key, window_start, count) VALUES ('live', 'w', 1)")
    db.conn.close()
    notes = config.db_path.parent / "digest-notes.db"
    notes.write_bytes(b"not mine")
    first = backup(config, config.db_path.parent, keep=1)
    second = backup(config, config.db_path.parent, keep=1)
    assert first.path in second.pruned and len(second.pruned) == 1
    assert config.db_path.is_file() and notes.read_bytes() == b"not mine"
    assert sorted(p.name for p in config.db_path.parent.glob("digest-2*.db")) == [second.path.name]


def digest_cli(config_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(config_path), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_backup_to_a_place_that_cannot_hold_it_is_one_line(make_config, tmp_path):
    config, config_path = make_config()
    open_db(config.db_path).conn.close()
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    for where, message, code in [
        (a_file, f"--dir {a_file} is a file, not a folder", 2),
        (a_file / "sub", "cannot write to", 1),
    ]:
        result = digest_cli(config_path, "backup", "--dir", str(where))
        assert result.returncode == code, result.stderr
        assert result.stderr.startswith("error: backup: ") and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    config_path.write_text(config_path.read_text().replace("data/digest.db", "elsewhere/d.db"))
    result = digest_cli(config_path, "backup")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: no database at {tmp_path / 'elsewhere' / 'd.db'}")
    assert not (tmp_path / "elsewhere").exists()
    (tmp_path / "elsewhere" / "d.db").mkdir(parents=True)  # a folder where the file should be
    result = digest_cli(config_path, "backup")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: database {tmp_path / 'elsewhere' / 'd.db'}: is a directory, not a database "
        "file ([database].path)"
    )


def test_a_database_that_is_not_sqlite_or_is_damaged_is_one_line_and_left_alone(make_config):
    config, config_path = make_config()
    config.db_path.parent.mkdir(parents=True)
    config.db_path.write_bytes(b"these are my notes, not a database\n" * 200)
    before = config.db_path.read_bytes()
    for command in (["status", "--json"], ["import", str(config_path)], ["embed"]):
        result = digest_cli(config_path, *command)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr.startswith(f"error: database {config.db_path}: file is not a")
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert config.db_path.read_bytes() == before
    config.db_path.unlink()
    db = open_db(config.db_path)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    with config.db_path.open("r+b") as damaged:  # the schema page after the 100-byte header
        damaged.seek(100)
        damaged.write(b"\xff" * 3000)
    result = digest_cli(config_path, "status")
    assert result.returncode == 1 and "database disk image is malformed" in result.stderr
    assert "restore a copy from the backups" in result.stderr
    for suffix in ("", "-wal", "-shm"):
        config.db_path.with_name(config.db_path.name + suffix).unlink(missing_ok=True)
    config.db_path.mkdir()
    result = digest_cli(config_path, "status")
    assert result.returncode == 1 and "is a directory, not a database file" in result.stderr


def test_status_warns_about_a_run_that_never_finished(make_config):
    """A killed `digest import` left its run 'running' for ever, with no word in the warnings."""
    from datetime import UTC, datetime, timedelta

    from digest.ops.status import collect_status
    from digest.store.papers import start_ingest_run

    config, _ = make_config()
    db = open_db(config.db_path)
    run_id = start_ingest_run(db, "jsonl", "snapshot.jsonl.gz", "/data/snapshot.jsonl.gz")
    assert not any("never finished" in w for w in collect_status(db, config)["warnings"])
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    with transaction(db):
        db.execute("UPDATE ingest_runs SET started_at = ? WHERE id = ?", [an_hour_ago, run_id])
    warnings = collect_status(db, config)["warnings"]
    assert any(
        f"run {run_id} (jsonl snapshot.jsonl.gz)" in w and "never finished" in w for w in warnings
    )
    from digest.models import IngestCounts
    from digest.store.papers import finish_ingest_run

    finish_ingest_run(db, run_id, "failed", IngestCounts(), error="none of the 3 lines is a paper")
    warnings = collect_status(db, config)["warnings"]
    assert "the last import (snapshot.jsonl.gz) failed: none of the 3 lines is a paper" in warnings
    db.conn.close()


def test_doctor_checks_the_database_even_with_uri_characters_in_its_path(make_config, tmp_path):
    """The path went raw into a `file:` URI: '?' and '#' cut it short, so doctor checked (and
    created) another, empty file and reported it healthy."""
    config, _ = make_config({"database": {"path": "we?ird#dir%20x/digest.db"}})
    open_db(config.db_path).conn.close()
    status, detail = checks_by_name(doctor(config))["database"]
    assert status == "ok" and "journal wal" in detail
    assert not (tmp_path / "we").exists()


def test_json_output_stays_strict_json_with_non_finite_numbers(capsys):
    from digest.cli.common import print_json

    print_json({"rate": float("nan"), "rows": [1.5, float("inf")], "ok": True})
    assert json.loads(capsys.readouterr().out, parse_constant=lambda name: 1 / 0) == {
        "rate": None,
        "rows": [1.5, None],
        "ok": True,
    }


def test_another_programs_sqlite_file_is_refused_not_migrated(make_config):
    """[database].path at the wrong SQLite file: every command added digest's 30 tables to it."""
    config, config_path = make_config()
    config.db_path.parent.mkdir(parents=True)
    other = sqlite3.connect(config.db_path)
    other.execute("CREATE TABLE bookmarks (id INTEGER PRIMARY KEY, url TEXT)")
    other.execute("INSERT INTO bookmarks (url) VALUES ('https://example.org')")
    other.commit()
    other.close()
    result = digest_cli(config_path, "status")
    assert result.returncode == 1
    assert "a SQLite file of something else (tables bookmarks)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    check = sqlite3.connect(config.db_path)
    assert [r[0] for r in check.execute("SELECT name FROM sqlite_master")] == ["bookmarks"]
    check.close()


def test_serve_and_schedule_refuse_what_would_crash_them_with_one_line(make_config, tmp_path):
    """uvicorn died with an OverflowError traceback on --port 99999, the scheduler with a
    ValueError traceback on a cron like '99 99 * * *'."""
    _, config_path = make_config()
    bad_cron = tmp_path / "bad-cron.toml"  # refused when loaded, for every command
    bad_cron.write_text(config_path.read_text() + '\n[schedule]\ncron = "99 99 * * *"\n')
    cases = [
        (["serve", "--port", "99999"], "--port must be between 1 and 65535, got 99999"),
        (["serve", "--port", "-1"], "--port must be between 1 and 65535, got -1"),
        (["serve", "--host", "999.1.1.1"], "host '999.1.1.1' does not resolve"),
        (["schedule"], "[schedule].cron '99 99 * * *': the minute field '99' is wrong"),
    ]
    for args, message in cases:
        config_path = bad_cron if args == ["schedule"] else config_path
        result = subprocess.run(
            [sys.executable, "-m", "digest", "--config", str(config_path), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_paths_with_brackets_print_as_they_are(tmp_path):
    """Paths went through rich markup: a folder named '[bold]ops' printed as a bold 'ops'."""
    folder = tmp_path / "[bold]ops"
    folder.mkdir()
    (folder / "config.toml").write_text("[site]\nsearch = false\n")
    outputs = []
    for command in (["init"], ["status"], ["backup"]):
        result = subprocess.run(
            [sys.executable, "-m", "digest", *command],
            capture_output=True,
            text=True,
            cwd=folder,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert f"database  {folder}/data/digest.db" in outputs[1]
    assert f"backup {folder}/data/backups/digest-" in outputs[2]
