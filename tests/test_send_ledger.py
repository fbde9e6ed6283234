"""The at-most-once ledger through `send_issue` with real backends: outbox files and a real
SMTP server (aiosmtpd on 127.0.0.1). Re-runs send nothing, stale issues are refused, a render
error sends nothing, an unsubscribe mid-run is honoured, crashed rows become `unknown`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import DigestError, UsageError
from digest.mail.pacing import Pacer, backoff_delay
from digest.mail.sending import send_issue
from digest.store import deliveries as ledger
from digest.store import open_db
from digest.store.ledger import STATES
from digest.store.subscribers import get_subscriber, set_status
from tests.delivery_support import (
    ISSUE,
    RecordingHandler,
    assert_digest_mime,
    parse,
    plan_for,
    queue_messages,
    seed_subscribers,
)

ON_TIME = datetime(2025, 8, 20, 12, 0, tzinfo=UTC)


class UnsubscribingHandler(RecordingHandler):
    """Records messages; after the first one, a separate connection unsubscribes someone."""

    def __init__(self, db_path, victim_id: int | None = None, refuse_rcpt: bool = False):
        super().__init__()
        self.db_path = db_path
        self.victim_id = victim_id
        self.refuse_rcpt = refuse_rcpt

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_rcpt:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        if self.victim_id is not None and len(self.messages) == 1:
            other = open_db(self.db_path)  # a concurrent writer, like the web app
            set_status(other, self.victim_id, "unsubscribed")
            other.conn.close()
        return reply


@pytest.fixture
def outbox_config(make_config):
    config, path = make_config({"mail": {"rate_per_second": 1000.0}})
    return config


def test_outbox_send_twice_sends_once(outbox_config):
    config = outbox_config
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 4)
    first = send_issue(db, config, ISSUE, now=ON_TIME)
    assert (first.due, first.rendered, first.queued, first.sent) == (4, 4, 4, 4)
    assert first.ledger["sent"] == 4 and first.failed == first.unknown == 0
    day_dir = config.path(config.mail.outbox_dir) / ISSUE.isoformat()
    files = sorted(day_dir.glob("*.eml"))
    assert len(files) == 4 and first.outbox_index == str(day_dir / "index.html")
    assert_digest_mime(parse(files[0].read_bytes()))
    assert all(get_subscriber(db, s.id).last_digest_date == ISSUE for s in subs)

    second = send_issue(db, config, ISSUE, now=ON_TIME)
    assert (second.rendered, second.queued, second.sent, second.already_handled) == (0, 0, 0, 4)
    assert len(list(day_dir.glob("*.eml"))) == 4
    rows = ledger.list_deliveries(db, issue_date=ISSUE)
    assert all(r.state == "sent" and r.attempts == 1 for r in rows)
    assert ledger.load_message(db, rows[0].id) is None  # the body is dropped once sent


def test_the_outbox_index_links_each_digest_as_a_page_and_as_its_eml(outbox_config):
    """The outbox index linked only .eml files, so the designed HTML email could not be seen
    in a browser. Each digest now has its HTML part beside it as .html, linked as "View"."""
    import re

    config = outbox_config
    db = open_db(config.db_path)
    seed_subscribers(db, 2)
    send_issue(db, config, ISSUE, now=ON_TIME)
    day_dir = config.path(config.mail.outbox_dir) / ISSUE.isoformat()
    index = (day_dir / "index.html").read_text(encoding="utf-8")
    rows = re.findall(r'<a href="([^"]+\.html)">View</a> · <a href="([^"]+\.eml)">', index)
    assert len(rows) == 2 and sorted(e for _, e in rows) == sorted(
        p.name for p in day_dir.glob("*.eml")
    )
    for page, eml in rows:
        assert page == eml.replace(".eml", ".html")
        html_part = parse((day_dir / eml).read_bytes()).get_body(("html",)).get_content()
        shown = (day_dir / page).read_text(encoding="utf-8")
        assert shown == html_part.replace("\r\n", "\n")
    assert not list(day_dir.glob(".*"))  # no temp file left


def test_smtp_end_to_end_and_rerun(smtp_server):
    config, _, handler = smtp_server()
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 5)
    report = send_issue(db, config, ISSUE, now=ON_TIME)
    assert report.sent == 5 and report.backend == "smtp"
    assert sorted(handler.by_recipient) == sorted(s.email for s in subs)
    message = parse(handler.messages[0])
    assert_digest_mime(message)
    row = ledger.list_deliveries(db, issue_date=ISSUE)[0]
    assert str(message["X-Digest-Delivery"]) == row.id
    assert row.provider_message_id.startswith("Q")  # the relay's queue id
    raw = handler.messages[0].decode()
    assert any(
        line.startswith("List-Unsubscribe: <https://")
        or line.startswith("List-Unsubscribe: <http://")
        for line in raw.splitlines()
    )
    again = send_issue(db, config, ISSUE, now=ON_TIME)
    assert again.sent == 0 and len(handler.messages) == 5


def test_stale_issue_is_refused_unless_forced(outbox_config):
    config = outbox_config
    db = open_db(config.db_path)
    seed_subscribers(db, 1)
    late = ON_TIME + timedelta(hours=60)
    with pytest.raises(UsageError, match=r"hours old.*max_lateness_hours = 36.*--force"):
        send_issue(db, config, ISSUE, now=late)
    assert ledger.count_by_state(db, ISSUE)["queued"] == 0
    assert send_issue(db, config, ISSUE, now=late, force=True).sent == 1


def test_dry_run_renders_and_changes_nothing(outbox_config):
    config = outbox_config
    db = open_db(config.db_path)
    seed_subscribers(db, 3)
    report = send_issue(db, config, ISSUE, dry_run=True, now=ON_TIME + timedelta(days=30))
    assert (report.due, report.rendered, report.sent) == (3, 3, 0)
    assert ledger.list_deliveries(db) == []
    assert not config.path(config.mail.outbox_dir).exists()


def test_a_render_error_stops_the_run_before_anything_is_sent(outbox_config):
    config = outbox_config
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 3)
    db.execute("UPDATE subscribers SET manage_selector = NULL WHERE id = ?", [subs[2].id])
    with pytest.raises(DigestError, match=f"subscriber {subs[2].id} failed.*nothing was sent"):
        send_issue(db, config, ISSUE, now=ON_TIME)
    assert ledger.list_deliveries(db) == []
    assert not config.path(config.mail.outbox_dir).exists()


def test_unsubscribe_mid_run_is_honoured(smtp_server, make_config):
    probe, _ = make_config()
    db = open_db(probe.db_path)
    subs = seed_subscribers(db, 4)
    victim = subs[3]
    config, _, handler = smtp_server(UnsubscribingHandler(probe.db_path, victim.id))
    report = send_issue(db, config, ISSUE, now=ON_TIME)
    assert report.sent == 3 and report.skipped == 1
    assert victim.email not in handler.by_recipient
    [row] = [r for r in ledger.list_deliveries(db) if r.subscriber_id == victim.id]
    assert row.state == "skipped" and "unsubscribed" in row.error


def test_rows_left_sending_become_unknown_and_are_never_resent(outbox_config):
    config = outbox_config
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 3, save_plans=False)
    ids = queue_messages(db, config, subs)
    assert ledger.claim(db, ids[0], "outbox") == "claimed"  # then the process "died"
    for sub in subs:
        from digest.rank import planning

        planning.save_plan(db, plan_for(sub.id))
    report = send_issue(db, config, ISSUE, now=ON_TIME)
    assert report.recovered_unknown == 1 and report.sent == 2
    assert [ledger.get_delivery(db, i).state for i in ids] == ["unknown", "sent", "sent"]
    files = list((config.path(config.mail.outbox_dir) / ISSUE.isoformat()).glob("*.eml"))
    assert sorted(f.stem for f in files) == sorted(ids[1:])
    # the operator checks the provider and settles it
    resolved = ledger.resolve(db, ids[0], "sent")
    assert resolved.state == "sent"
    with pytest.raises(UsageError, match="only unknown"):
        ledger.resolve(db, ids[0], "failed")
    assert send_issue(db, config, ISSUE, now=ON_TIME).sent == 0


def test_a_row_left_sending_on_another_day_is_recovered_by_the_next_run(outbox_config):
    """A run of yesterday's issue killed mid-call left its row `sending`; only a run of that
    same issue turned it `unknown`, so it showed as in flight for ever. Any run does now."""
    config = outbox_config
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 2)
    yesterday = ISSUE - timedelta(days=1)
    [stale] = queue_messages(db, config, subs[:1], issue=yesterday)
    assert ledger.claim(db, stale, "outbox") == "claimed"  # then the process "died"
    report = send_issue(db, config, ISSUE, now=ON_TIME)
    assert report.recovered_unknown == 1 and report.sent == 2
    assert ledger.get_delivery(db, stale).state == "unknown"
    assert ledger.count_by_state(db)["sending"] == 0


def test_empty_plans_send_nothing_unless_always_send(outbox_config):
    from dataclasses import replace

    from digest.rank import planning

    config = outbox_config
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 2, save_plans=False)
    for sub in subs:
        planning.save_plan(db, replace(plan_for(sub.id), picks=()))
    db.execute("UPDATE subscribers SET always_send = 1 WHERE id = ?", [subs[1].id])
    report = send_issue(db, config, ISSUE, now=ON_TIME)
    assert (report.empty, report.sent) == (1, 1)
    [row] = ledger.list_deliveries(db)
    assert row.subscriber_id == subs[1].id


def test_placeholder_sender_is_refused_for_real_backends(smtp_server):
    config, _, handler = smtp_server(from_address="digest@example.org")
    db = open_db(config.db_path)
    seed_subscribers(db, 1)
    with pytest.raises(UsageError, match="placeholder"):
        send_issue(db, config, ISSUE, now=ON_TIME)
    assert handler.messages == []


def test_consecutive_failures_pause_the_run(smtp_server):
    config, _, handler = smtp_server(
        UnsubscribingHandler(None, refuse_rcpt=True), max_consecutive_errors=2
    )
    db = open_db(config.db_path)
    seed_subscribers(db, 4)
    report = send_issue(db, config, ISSUE, now=ON_TIME)
    assert report.failed == 2 and report.stopped and "2 stay queued" in report.stopped
    assert report.ledger["failed"] == 2 and report.ledger["queued"] == 2
    assert "550" in ledger.list_deliveries(db, state="failed")[0].error


class FlakyRelay(RecordingHandler):
    """Greylists one recipient (RCPT 451); after `healthy` messages answers every MAIL FROM
    with 421 (the relay is shutting down)."""

    def __init__(self, greylisted: str = "", healthy: int = 10**6) -> None:
        super().__init__()
        self.greylisted, self.healthy = greylisted, healthy

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if len(self.messages) >= self.healthy:
            return "421 4.3.2 Service shutting down, closing channel"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.greylisted:
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_a_relay_going_down_stops_the_run_instead_of_failing_everyone(smtp_server):
    config, _, handler = smtp_server(FlakyRelay(healthy=1), send_retries=1, retry_base_seconds=0.01)
    db = open_db(config.db_path)
    seed_subscribers(db, 4)
    report = send_issue(db, config, ISSUE, now=ON_TIME)
    assert report.ledger == {**dict.fromkeys(STATES, 0), "sent": 1, "failed": 1, "queued": 2}
    assert report.stopped and "421" in report.stopped and "2 stay queued" in report.stopped
    failed = ledger.list_deliveries(db, state="failed")[0]
    assert failed.error.startswith("not sent") and failed.not_sent
    handler.healthy = 10**6  # the relay is back: the next pass sends the rest, once each,
    again = send_issue(db, config, ISSUE, now=ON_TIME)  # and the one it never took (requeued)
    assert (again.requeued, again.sent) == (1, 3) and again.ledger["sent"] == 4
    assert len(handler.messages) == 4
    assert all(len(copies) == 1 for copies in handler.by_recipient.values())
    assert len(handler.by_recipient) == 4


def test_one_greylisted_recipient_does_not_stop_the_run(smtp_server):
    relay = FlakyRelay(greylisted="reader001@lab.test")
    config, _, handler = smtp_server(relay, send_retries=1, retry_base_seconds=0.01)
    db = open_db(config.db_path)
    seed_subscribers(db, 4)
    report = send_issue(db, config, ISSUE, now=ON_TIME)
    assert (report.sent, report.failed, report.stopped) == (3, 1, None)
    assert "451" in ledger.list_deliveries(db, state="failed")[0].error


def test_smtp_auth_failure_stops_before_any_claim(smtp_server, monkeypatch):
    monkeypatch.setenv("SMTP_USERNAME", "nobody")
    monkeypatch.setenv("SMTP_PASSWORD", "wrong")
    config, _, handler = smtp_server()
    db = open_db(config.db_path)
    seed_subscribers(db, 2)
    with pytest.raises(DigestError, match="nothing was sent, 2 stay queued"):
        send_issue(db, config, ISSUE, now=ON_TIME)
    assert ledger.count_by_state(db, ISSUE)["queued"] == 2 and handler.messages == []


# ---------------------------------------------------------------- the state machine itself
RANK = {"queued": 0, "sending": 1, "unknown": 2, "sent": 3, "failed": 3, "skipped": 3}
OPERATIONS = [
    "claim",
    "sent",
    "failed",
    "unknown",
    "recover",
    "resolve_sent",
    "resolve_failed",
    "unsubscribe",
    "skip_if_unsubscribed",
]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(OPERATIONS), max_size=8))
def test_states_only_move_forward(tmp_path_factory, operations):
    from digest.config import Config

    config = Config(base_dir=tmp_path_factory.mktemp("sm"))
    db = open_db(config.db_path)
    [sub] = seed_subscribers(db, 1, save_plans=False)
    [delivery_id] = queue_messages(db, config, [sub])
    seen = ["queued"]
    for op in operations:
        if op == "claim":
            ledger.claim(db, delivery_id, "outbox")
        elif op == "sent":
            ledger.mark_sent(db, delivery_id, "x")
        elif op == "failed":
            ledger.mark_failed(db, delivery_id, "x")
        elif op == "unknown":
            ledger.mark_unknown(db, delivery_id, "x")
        elif op == "recover":
            ledger.recover_interrupted(db)
        elif op == "unsubscribe":
            set_status(db, sub.id, "unsubscribed")
        elif op == "skip_if_unsubscribed":
            ledger.skip_if_unsubscribed(db, delivery_id)
        else:
            try:
                ledger.resolve(db, delivery_id, op.split("_")[1])
            except UsageError:
                pass
        state = ledger.get_delivery(db, delivery_id).state
        assert state in STATES
        assert RANK[state] >= RANK[seen[-1]], (seen, op, state)
        if RANK[seen[-1]] == 3:
            assert state == seen[-1]  # final states never change
        seen.append(state)
    db.conn.close()


def test_pacer_keeps_the_rate_on_a_fake_clock():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(9):
        pacer.wait()
    assert now[0] == pytest.approx(2.0)  # 9 calls at 4/s: the last starts 2 s after the first
    pacer.pause(5.0)
    pacer.wait()
    assert now[0] == pytest.approx(7.0)
    assert [backoff_delay(n, 2.0) for n in (1, 2, 3, 7)] == [2.0, 4.0, 8.0, 60.0]


# ---------------------------------------------------------------- the CLI
def _digest(path, *args, python_flags=()):
    return subprocess.run(
        [sys.executable, *python_flags, "-m", "digest", "--config", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_send_list_resolve(smtp_server):
    config, path, handler = smtp_server()
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 2, save_plans=False)
    ids = queue_messages(db, config, subs)
    ledger.claim(db, ids[0], "smtp")  # a crashed run's in-flight row
    from digest.rank import planning

    for sub in subs:
        planning.save_plan(db, plan_for(sub.id))

    stale = _digest(path, "send", "--date", ISSUE.isoformat())
    assert stale.returncode == 2 and "--force" in stale.stderr
    run = _digest(path, "send", "--date", ISSUE.isoformat(), "--force", "--json")
    report = json.loads(run.stdout)
    assert run.returncode == 1  # an unknown row needs the operator
    assert (report["sent"], report["recovered_unknown"]) == (1, 1)
    listed = _digest(path, "deliveries", "list", "--state", "unknown", "--json")
    assert [row["id"] for row in json.loads(listed.stdout)] == [ids[0]]
    resolved = _digest(path, "deliveries", "resolve", ids[0], "--failed")
    assert resolved.returncode == 0 and "failed" in resolved.stdout
    again = _digest(
        path,
        "send",
        "--date",
        ISSUE.isoformat(),
        "--force",
        "--json",
        python_flags=("-X", "importtime"),
    )
    assert again.returncode == 0 and json.loads(again.stdout)["sent"] == 0
    imported = {line.split("|")[-1].strip() for line in again.stderr.splitlines()}
    assert "digest.mail.sending" in imported  # the send path ran ...
    assert not {"torch", "sentence_transformers", "sklearn"} & imported  # ... and starts fast
    assert len(handler.messages) == 1
    bad = _digest(path, "deliveries", "resolve", ids[0], "--sent")
    assert bad.returncode == 2 and "only unknown" in bad.stderr


@pytest.mark.parametrize("backend", ["smtp", "sendgrid"])
def test_real_backends_require_a_postal_address(make_config, backend):
    from digest.config import ConfigError

    with pytest.raises(ConfigError, match="postal_address is required"):
        make_config({"mail": {"backend": backend, "from_address": "digest@lab.test"}})
    config, _ = make_config({"mail": {"backend": "outbox"}})  # the outbox needs none
    assert config.mail.postal_address == ""


def test_cli_preview_to_an_unwritable_place_is_one_line(outbox_config, tmp_path):
    """`digest preview --out` naming a file (or an unwritable folder) printed a 40-line
    traceback; `deliveries list --limit -5` listed every row (SQLite's LIMIT -5 is no limit)."""
    db = open_db(outbox_config.db_path)
    [sub] = seed_subscribers(db, 1)
    db.conn.close()
    path = tmp_path / "config.toml"
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    done = _digest(path, "preview", sub.email, "--date", ISSUE.isoformat(), "--out", str(blocker))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: cannot write the preview to {blocker}: File exists"
    ]
    done = _digest(path, "deliveries", "list", "--limit", "-5", "--json")
    assert done.returncode == 2 and done.stdout == ""


class PerSessionLimitRelay(RecordingHandler):
    """Accepts `limit` messages per connection, then answers MAIL FROM with 421 (as relays
    with a per-session cap do) and keeps the channel open until the client leaves."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.sessions: dict[int, int] = {}

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.sessions.get(id(session), 0) >= self.limit:
            return "421 4.7.0 Too many messages in this session, reconnect"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.sessions[id(session)] = self.sessions.get(id(session), 0) + 1
        return await super().handle_DATA(server, session, envelope)


def test_a_relay_capping_messages_per_connection_gets_a_new_connection(smtp_server):
    """A 421 means the server is closing the channel: reconnect at once. The connection was
    kept, so every retry met the same 421 and the rows failed."""
    relay = PerSessionLimitRelay(limit=2)
    config, _, handler = smtp_server(relay, send_retries=2, retry_base_seconds=0.01)
    db = open_db(config.db_path)
    seed_subscribers(db, 5)
    report = send_issue(db, config, ISSUE, now=ON_TIME)
    assert (report.sent, report.failed, report.retries, report.stopped) == (5, 0, 0, None)
    assert len(handler.messages) == 5 and len(relay.sessions) == 3


def test_cli_list_shows_provider_errors_as_text(outbox_config, tmp_path):
    """The error column is the provider's words: '550 [/] ...' crashed `deliveries list` with a
    rich MarkupError traceback, and '[bold]' or '[link=...]' in a reply silently vanished."""
    import os

    db = open_db(outbox_config.db_path)
    subs = seed_subscribers(db, 2, save_plans=False)
    ids = queue_messages(db, outbox_config, subs)
    errors = ["550 5.1.1 [/] no such user", "554 [bold]blocked"]
    for delivery_id, error in zip(ids, errors, strict=True):
        assert ledger.claim(db, delivery_id, "smtp") == "claimed"
        ledger.mark_failed(db, delivery_id, error)
    db.conn.close()
    done = subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(tmp_path / "config.toml")]
        + ["deliveries", "list", "--state", "failed"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    assert "550 5.1.1 [/] no such user" in done.stdout and "554 [bold]blocked" in done.stdout
