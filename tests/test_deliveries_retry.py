"""Recovering digests the provider never accepted: an outage leaves a `failed`, `not_sent` row;
`digest deliveries retry` (or the next send of the issue, once) puts it back in the queue and
the next send delivers it exactly once. Rejections, `unknown` rows and readers who left stay
failed. Real SQLite, a real SMTP relay and a SendGrid stand-in on 127.0.0.1.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from digest.errors import DigestError
from digest.mail.sending import send_issue
from digest.store import deliveries as ledger
from digest.store import open_db
from digest.store import requeues as requeue_store
from digest.store.ledger import Delivery, RequeueCandidate, requeue_blocker
from digest.store.requeues import requeue_history
from digest.store.subscribers import get_subscriber, set_status
from tests.conftest import run_cli_in_process
from tests.delivery_support import ISSUE, RecordingHandler, seed_subscribers

ON_TIME = datetime(2025, 8, 20, 12, 0, tzinfo=UTC)


class Relay(RecordingHandler):
    """Answers MAIL FROM with 421 while `down` (the relay is unwell: an outage); refuses the
    recipients in `rejected` with 550 (a permanent rejection)."""

    def __init__(self, down: bool = False, rejected: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.down, self.rejected = down, rejected

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.down:
            return "421 4.3.2 Service not available, closing channel"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.rejected:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def relay(smtp_server):
    """(config, config path, relay, db) with three subscribers planned for ISSUE."""
    handler = Relay()
    config, path, _ = smtp_server(handler, send_retries=1, retry_base_seconds=0.01)
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 3)
    yield config, path, handler, db, subs
    db.conn.close()


def _row(db, sub) -> Delivery:
    rows = [r for r in ledger.list_deliveries(db, issue_date=ISSUE) if r.subscriber_id == sub.id]
    assert len(rows) == 1
    return rows[0]


def _retry(path, capsys, *args):
    return run_cli_in_process(
        path, capsys, "deliveries", "retry", "--date", ISSUE.isoformat(), *args
    )


def test_an_outage_row_is_requeued_by_retry_and_sent_exactly_once(relay, capsys):
    config, path, handler, db, subs = relay
    handler.down = True
    first = send_issue(db, config, ISSUE, now=ON_TIME)
    assert first.stopped and first.ledger["failed"] == 1 and first.ledger["queued"] == 2
    lost = _row(db, subs[0])
    assert (lost.state, lost.not_sent) == ("failed", True)
    assert lost.error.startswith("not sent: gave up after 2 attempts")

    code, out, _ = _retry(path, capsys, "--dry-run", "--json")
    assert code == 0
    dry = json.loads(out)
    assert dry["dry_run"] is True and [r["id"] for r in dry["requeued"]] == [lost.id]
    assert dry["requeued"][0]["email"] == subs[0].email and dry["passed_over"] == []
    assert _row(db, subs[0]).state == "failed" and requeue_history(db, lost.id) == []

    code, out, _ = _retry(path, capsys)
    assert code == 0 and "requeued 1 not-sent" in out and lost.id in out
    assert f"digest send --date {ISSUE.isoformat()}" in out
    back = _row(db, subs[0])
    assert (back.state, back.not_sent, back.error, back.requeues) == ("queued", False, None, 1)
    [entry] = requeue_history(db, lost.id)
    assert entry.requeued_by == "operator" and "digest deliveries retry" in entry.reason
    assert entry.failed_error == lost.error and entry.failed_attempts == 2

    handler.down = False
    again = send_issue(db, config, ISSUE, now=ON_TIME)
    assert (again.sent, again.requeued, again.failed) == (3, 0, 0)
    assert sorted(handler.by_recipient) == sorted(s.email for s in subs)
    assert all(len(copies) == 1 for copies in handler.by_recipient.values())
    # nothing is left to requeue, and a further send delivers nothing more
    code, out, _ = _retry(path, capsys, "--json")
    assert json.loads(out) == {"dry_run": False, "requeued": [], "passed_over": []}
    assert send_issue(db, config, ISSUE, now=ON_TIME).sent == 0
    assert len(handler.messages) == 3


def test_the_send_requeues_each_row_automatically_once_and_retry_does_the_rest(relay, capsys):
    config, path, handler, db, subs = relay
    handler.down = True
    send_issue(db, config, ISSUE, now=ON_TIME)  # the first row fails: not sent
    second = send_issue(db, config, ISSUE, now=ON_TIME)  # still down
    assert second.requeued == 1 and second.stopped  # the same row went first again, and failed
    third = send_issue(db, config, ISSUE, now=ON_TIME)
    assert third.requeued == 0  # its one automatic requeue is spent; the next row failed
    first_row, second_row = _row(db, subs[0]), _row(db, subs[1])
    assert [first_row.state, second_row.state] == ["failed", "failed"]
    assert [first_row.requeues, second_row.requeues] == [1, 0]

    code, out, _ = _retry(path, capsys, "--email", subs[0].email.upper(), "--dry-run", "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)["requeued"]] == [first_row.id]

    handler.down = False
    dry = send_issue(db, config, ISSUE, now=ON_TIME, dry_run=True)
    assert (dry.requeued, dry.queued) == (1, 2) and _row(db, subs[1]).state == "failed"
    fourth = send_issue(db, config, ISSUE, now=ON_TIME)  # requeues the second row, not the first
    assert (fourth.requeued, fourth.sent) == (1, 2)
    assert _row(db, subs[0]).state == "failed" and subs[0].email not in handler.by_recipient
    code, out, _ = _retry(path, capsys, "--email", subs[0].email)
    assert code == 0 and "requeued 1" in out
    assert send_issue(db, config, ISSUE, now=ON_TIME).sent == 1
    assert sorted(handler.by_recipient) == sorted(s.email for s in subs)
    assert all(len(copies) == 1 for copies in handler.by_recipient.values())
    assert [e.requeued_by for e in requeue_history(db, first_row.id)] == ["auto", "operator"]


def test_a_permanent_rejection_is_never_requeued(relay, capsys):
    config, path, handler, db, subs = relay
    handler.rejected = (subs[1].email,)
    report = send_issue(db, config, ISSUE, now=ON_TIME)
    assert (report.sent, report.failed) == (2, 1)
    rejected = _row(db, subs[1])
    assert rejected.state == "failed" and not rejected.not_sent and "550" in rejected.error
    code, out, _ = _retry(path, capsys, "--json")
    assert code == 0 and json.loads(out)["requeued"] == []
    handler.rejected = ()
    assert send_issue(db, config, ISSUE, now=ON_TIME).requeued == 0
    assert _row(db, subs[1]).state == "failed" and subs[1].email not in handler.by_recipient


def test_an_unsubscribed_readers_row_is_not_requeued(relay, capsys):
    config, path, handler, db, subs = relay
    handler.down = True
    send_issue(db, config, ISSUE, now=ON_TIME)
    lost = _row(db, subs[0])
    set_status(db, subs[0].id, "unsubscribed")
    code, out, err = _retry(path, capsys)
    assert code == 0 and "requeued 0" in out
    assert "left failed" in err and "subscriber is unsubscribed" in err and lost.id in err
    code, out, _ = _retry(path, capsys, "--json")
    [passed] = json.loads(out)["passed_over"]
    assert passed["id"] == lost.id and passed["reason"] == "subscriber is unsubscribed"
    handler.down = False
    report = send_issue(db, config, ISSUE, now=ON_TIME)  # nor by the automatic requeue
    assert (report.requeued, report.sent) == (0, 2)
    assert _row(db, subs[0]).state == "failed" and subs[0].email not in handler.by_recipient


def test_retry_names_an_unknown_address(relay, capsys):
    _, path, _, _, _ = relay
    code, _, err = _retry(path, capsys, "--email", "nobody@lab.test")
    assert code == 2 and "nobody@lab.test" in err


@pytest.fixture
def sendgrid(make_config, monkeypatch):
    """(stand-in, config, config path): a SendGrid stand-in on 127.0.0.1 and a config for it."""
    from pytest_httpserver import HTTPServer

    from tests.test_sendgrid_faults import API_KEY, SendGridStandIn

    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    mail = {
        "backend": "sendgrid",
        "from_address": "digest@lab.test",
        "postal_address": "1 Main St, Springfield",
        "sendgrid_base_url": server.url_for("").rstrip("/"),
        "sendgrid_timeout_seconds": 2.0,  # a loaded machine answers loopback within it
        "retry_base_seconds": 0.01,
        "rate_per_second": 1000.0,
    }
    config, path = make_config({"mail": mail})
    yield SendGridStandIn(server, stall_seconds=5.0), config, path  # a stall outlasts it
    server.clear()
    server.stop()


def _send_in_a_child(stand_in, path) -> tuple[list[str], subprocess.Popen]:
    """`digest send` of the issue in a child process, returned once the provider got a call."""
    command = [sys.executable, "-m", "digest", "--config", str(path), "send"]
    command += ["--date", ISSUE.isoformat(), "--force"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while stand_in.requests < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    return command, proc


def _delivered(stand_in, delivery_id: str) -> int:
    """How many of the stand-in's requests carried this delivery id."""
    return [b["custom_args"]["delivery_id"] for b in stand_in.bodies].count(delivery_id)


def test_a_credentials_refusal_is_requeued_but_a_timeout_is_not(sendgrid):
    """SendGrid: 401 mid-run means nothing was accepted (requeued); no answer after the
    request went out means SendGrid may have it (`unknown`, never requeued)."""
    from digest.mail.delivery import deliver_queued
    from digest.mail.registry import get_backend
    from digest.mail.report import SendReport
    from digest.mail.requeue import requeue_not_sent
    from tests.delivery_support import queue_messages

    stand_in, config, _ = sendgrid
    db = open_db(config.db_path)
    ids = queue_messages(db, config, seed_subscribers(db, 3, save_plans=False))
    stand_in.script = ["timeout", 401]
    with pytest.raises(DigestError, match="401"):
        deliver_queued(db, config, get_backend(config), ISSUE, SendReport(ISSUE, "sendgrid"))
    states = [ledger.get_delivery(db, i) for i in ids]
    assert [(d.state, d.not_sent) for d in states] == [
        ("unknown", False),
        ("failed", True),
        ("queued", False),
    ]
    report = requeue_not_sent(db, ISSUE)
    assert [row.id for row in report.requeued] == [ids[1]]
    deliver_queued(db, config, get_backend(config), ISSUE, SendReport(ISSUE, "sendgrid"))
    assert [ledger.get_delivery(db, i).state for i in ids] == ["unknown", "sent", "sent"]
    # the refused call and the one that was accepted; the unknown row was never sent again
    assert [_delivered(stand_in, i) for i in ids] == [1, 2, 1]
    db.conn.close()


def test_sigterm_during_a_rate_limit_wait_is_not_sent_and_the_next_send_delivers_it(sendgrid):
    """SIGTERM (systemd, docker stop) killed the process mid-row: the row stayed `sending`,
    then `unknown`, lost for good. Now it ends `failed`, not sent, and `digest send` again
    requeues and delivers it, once."""
    stand_in, config, path = sendgrid
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 2)
    stand_in.script = ["429-slow"]  # wait 30 s before trying again
    command, proc = _send_in_a_child(stand_in, path)
    deadline = time.monotonic() + 30  # a loaded machine takes a while to get the 429 back
    while _row(db, subs[0]).attempts < 1 and time.monotonic() < deadline:
        time.sleep(0.05)  # the refused call is recorded right before the wait
    time.sleep(0.2)  # inside the wait
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err
    lost, waiting = _row(db, subs[0]), _row(db, subs[1])
    assert (lost.state, lost.not_sent, waiting.state) == ("failed", True, "queued")
    assert lost.error.startswith("not sent: interrupted before the call")
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["requeued"], report["sent"]) == (1, 2)
    assert [_delivered(stand_in, r.id) for r in (lost, waiting)] == [2, 1]  # a 429, then 202
    db.conn.close()


def _candidate(**changes) -> RequeueCandidate:
    values = {
        "delivery": Delivery(id="d_x", subscriber_id=1, issue_date=ISSUE, state="failed"),
        "subscriber_status": "active",
        "has_message": True,
        "other_row_state": None,
        "auto_requeues": 0,
    }
    return RequeueCandidate(**{**values, **changes})


@pytest.mark.parametrize(
    ("changes", "by", "blocker"),
    [
        ({}, "operator", None),
        ({}, "auto", None),
        ({"subscriber_status": None}, "operator", "subscriber is deleted"),
        ({"subscriber_status": "bounced"}, "operator", "subscriber is bounced"),
        ({"other_row_state": "sent"}, "operator", "has a sent row"),
        ({"has_message": False}, "operator", "no longer stored"),
        ({"auto_requeues": 1}, "auto", "already requeued automatically"),
        ({"auto_requeues": 1}, "operator", None),
    ],
)
def test_what_keeps_a_row_failed(changes, by, blocker):
    found = requeue_blocker(_candidate(**changes), by)
    assert found == blocker if blocker is None else blocker in found


def test_the_migration_marks_rows_failed_before_it_from_their_not_sent_text(make_config):
    """A database from before the `not_sent` column: its outage rows become retryable, its
    rejections and its operator-resolved `unknown` rows do not."""
    config, _ = make_config()
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 4, save_plans=False)
    errors = {
        subs[0].id: "not sent: gave up after 5 attempts: SendGrid 503",
        subs[1].id: "SendGrid 400: The content value must be a string",
        subs[2].id: "no answer within 30s [resolved as failed]",
    }
    with db.conn:  # the ledger as the old code left it, then the schema as it was
        db.conn.executescript(
            "DROP TABLE delivery_requeues; ALTER TABLE deliveries DROP COLUMN not_sent;"
            "DELETE FROM _sqlite_migrations WHERE name = 'm003_not_sent_and_requeues';"
        )
        for sub in subs:
            state = "failed" if sub.id in errors else "sent"
            db.conn.execute(
                "INSERT INTO deliveries (id, subscriber_id, issue_date, state, error, message,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, x'00', '', '')",
                [f"d_{sub.id}", sub.id, ISSUE.isoformat(), state, errors.get(sub.id)],
            )
    db.conn.close()
    db = open_db(config.db_path)  # migrates
    marked = {row.subscriber_id: row.not_sent for row in ledger.list_deliveries(db)}
    assert marked == {subs[0].id: True, subs[1].id: False, subs[2].id: False, subs[3].id: False}
    db.conn.close()


def _as_before_the_migration(db) -> None:
    """Put the schema back as the commit before `not_sent` left it (the rows stay)."""
    with db.conn:
        db.conn.executescript(
            "DROP TABLE delivery_requeues; ALTER TABLE deliveries DROP COLUMN not_sent;"
            "DELETE FROM _sqlite_migrations WHERE name = 'm003_not_sent_and_requeues';"
        )


def test_two_processes_opening_an_old_database_at_once_both_open_it(make_config):
    """After an upgrade the web service and the scheduler open the old file together: both
    see the migration pending, one applies it, and the other must not fail on what the first
    did (it failed with "duplicate column name: not_sent", so that process did not start)."""
    import sqlite3
    import threading

    config, _ = make_config()
    from tests.delivery_support import queue_messages

    db = open_db(config.db_path)
    ids = queue_messages(db, config, seed_subscribers(db, 2, save_plans=False))
    _as_before_the_migration(db)
    db.conn.close()
    writer = sqlite3.connect(config.db_path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # both openers read "pending", then wait for the lock
    outcomes: list[object] = []

    def open_it() -> None:
        try:
            open_db(config.db_path).conn.close()
            outcomes.append("ok")
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test checks
            outcomes.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    writer.execute("ROLLBACK")
    writer.close()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes == ["ok", "ok"]
    db = open_db(config.db_path)
    rows = ledger.list_deliveries(db)  # every row kept, the new column and table in place
    assert [(r.id, r.state, r.not_sent, r.requeues) for r in rows] == [
        (ids[0], "queued", False, 0),
        (ids[1], "queued", False, 0),
    ]
    db.conn.close()


def test_a_row_sendgrid_reported_by_webhook_is_never_requeued(sendgrid, capsys):
    """Every try was answered 502 (a gateway in front of SendGrid), so the row is `failed`,
    not sent; yet SendGrid's event webhook then reports that very message deferred (any event
    means it was accepted; processed/delivered even settle it as sent, see the next test).
    Requeuing it sent a second copy; it stays failed."""
    from digest.web.webhooks import apply_events

    stand_in, config, path = sendgrid
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 2)
    tries = config.mail.send_retries + 1
    stand_in.script = [502] * tries
    first = send_issue(db, config, ISSUE, now=ON_TIME)
    lost = _row(db, subs[0])
    assert first.stopped and (lost.state, lost.not_sent) == ("failed", True)
    now = int(time.time())
    events = [
        {"event": name, "email": subs[0].email, "delivery_id": lost.id, "sg_event_id": f"ev-{n}"}
        | {"sg_message_id": "sg-late", "timestamp": now}
        for n, name in enumerate(("deferred",))
    ]
    assert apply_events(db, events).applied == 1
    code, out, err = _retry(path, capsys, "--json")
    assert code == 0
    retried = json.loads(out)
    assert retried["requeued"] == []
    [passed] = retried["passed_over"]
    assert passed["id"] == lost.id and "deferred" in passed["reason"]
    # an event stored between the look and the change: the change itself checks too
    assert requeue_store.requeue(db, [lost.id], "operator", "test") == []
    again = send_issue(db, config, ISSUE, now=ON_TIME)  # nor the automatic requeue
    assert (again.requeued, again.sent) == (0, 1)
    assert _row(db, subs[0]).state == "failed"
    assert _delivered(stand_in, lost.id) == tries  # never handed over once more
    db.conn.close()


def test_the_providers_report_of_acceptance_makes_a_not_sent_or_requeued_row_sent(sendgrid):
    """SendGrid's processed/delivered report proves it took the message: a row failed "not
    sent" (every try answered 502 by a gateway) becomes `sent`, with the reader's last digest
    date, and so does a requeued row still waiting in the queue (the report came late), which
    the next send then leaves alone: no second copy."""
    from digest.web.webhooks import apply_events

    stand_in, config, path = sendgrid
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 3)
    tries = config.mail.send_retries + 1

    def accepted(sub, n: int) -> str:
        event = {"event": "delivered", "delivery_id": _row(db, sub).id, "sg_event_id": f"e{n}"}
        event |= {"sg_message_id": f"sg-{n}", "timestamp": int(time.time())}
        return next(iter(apply_events(db, [event]).outcomes))

    stand_in.script = [502] * tries
    send_issue(db, config, ISSUE, now=ON_TIME)  # the outage stops the run at the first row
    assert (_row(db, subs[0]).state, _row(db, subs[0]).not_sent) == ("failed", True)
    assert accepted(subs[0], 1) == "reconciled"
    stand_in.script = [502] * tries
    send_issue(db, config, ISSUE, now=ON_TIME)  # nothing to requeue: the next row fails
    late = _row(db, subs[1])
    assert (late.state, late.not_sent) == ("failed", True)
    assert requeue_store.requeue(db, [late.id], "operator", "test") == [late.id]
    assert accepted(subs[1], 2) == "reconciled"  # the report, after the requeue
    for sub, sg_id in ((subs[0], "sg-1"), (subs[1], "sg-2")):
        row = _row(db, sub)
        assert (row.state, row.provider_message_id, row.not_sent) == ("sent", sg_id, False)
        assert get_subscriber(db, sub.id).last_digest_date == ISSUE
    final = send_issue(db, config, ISSUE, now=ON_TIME)
    assert (final.sent, _row(db, subs[2]).state) == (1, "sent")
    assert _delivered(stand_in, late.id) == tries  # never handed over again
    assert accepted(subs[2], 3) == "noted"  # already sent: nothing to settle
    db.conn.close()


def test_a_dry_run_says_to_requeue_first_not_that_the_next_send_sends_them(relay, capsys):
    """The dry run told the operator "`digest send` sends them (so does the hourly pass)",
    but it requeued nothing: a row whose one automatic requeue is spent stays failed through
    any number of sends. It now says to run it without --dry-run."""
    config, path, handler, db, subs = relay
    handler.down = True
    send_issue(db, config, ISSUE, now=ON_TIME)
    send_issue(db, config, ISSUE, now=ON_TIME)  # the automatic requeue, spent: failed again
    lost = _row(db, subs[0])
    assert (lost.state, lost.requeues) == ("failed", 1)
    code, out, _ = _retry(path, capsys, "--email", subs[0].email, "--dry-run")
    assert code == 0 and "would requeue 1" in out and lost.id in out
    assert "without --dry-run" in out and "sends them" not in out
    handler.down = False
    assert send_issue(db, config, ISSUE, now=ON_TIME).requeued == 0  # as the hint says
    assert _row(db, subs[0]).state == "failed" and subs[0].email not in handler.by_recipient


def test_sigterm_while_a_refused_attempt_is_recorded_is_not_sent(sendgrid):
    """SendGrid answers 503; the sender records the attempt, but the web service holds the
    write lock, so the sender waits on it, and SIGTERM arrives then. The provider refused
    the only call, so the row is not sent (requeueable); it stayed `sending`, then `unknown`."""
    import sqlite3

    stand_in, config, path = sendgrid
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 2)
    writer = sqlite3.connect(config.db_path, isolation_level=None, check_same_thread=False)

    def hold_the_write_lock(number: int) -> None:
        if number == 1:
            writer.execute("BEGIN IMMEDIATE")

    stand_in.on_request = hold_the_write_lock
    stand_in.script = [503]
    command, proc = _send_in_a_child(stand_in, path)
    time.sleep(0.5)  # the sender is waiting for the lock to record the refused attempt
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    writer.execute("ROLLBACK")
    _, err = proc.communicate(timeout=30)
    writer.close()
    assert proc.returncode == 128 + signal.SIGTERM, err
    lost, waiting = _row(db, subs[0]), _row(db, subs[1])
    assert (lost.state, lost.not_sent, waiting.state) == ("failed", True, "queued"), lost
    assert lost.error.startswith("not sent: interrupted before the call")
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr  # the send lease was released on the way out
    report = json.loads(done.stdout)
    assert (report["requeued"], report["sent"]) == (1, 2)
    assert [_delivered(stand_in, r.id) for r in (lost, waiting)] == [2, 1]  # a 503, then 202
    db.conn.close()


def _event(delivery_id: str, name: str, n: int) -> dict:
    return {"event": name, "delivery_id": delivery_id, "sg_event_id": f"late-{n}"} | {
        "sg_message_id": f"sg-late-{n}",
        "timestamp": int(time.time()),
    }


def test_a_report_that_comes_while_a_retry_waits_stops_the_retry(sendgrid):
    """A gateway answered 502, yet SendGrid took the message and its `processed` event came
    in while the sender waited to try again: the retry is not made (it would be a second
    copy); the row is settled `sent` by the report, and the next reader is sent as usual."""
    from digest.web.webhooks import apply_events

    stand_in, config, _ = sendgrid
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 2)

    def report_first_call(number: int) -> None:
        if number == 1:  # the webhook's own connection, as `digest serve` would have
            other = open_db(config.db_path)
            apply_events(other, [_event(_row(other, subs[0]).id, "processed", 1)])
            other.conn.close()

    stand_in.on_request = report_first_call
    stand_in.script = [502]
    report = send_issue(db, config, ISSUE, now=ON_TIME)
    first, second = _row(db, subs[0]), _row(db, subs[1])
    assert (report.retries, report.reported, report.sent) == (1, 1, 1)
    assert (first.state, first.provider_message_id) == ("sent", "reported: processed webhook event")
    assert get_subscriber(db, subs[0].id).last_digest_date == ISSUE
    assert [_delivered(stand_in, r.id) for r in (first, second)] == [1, 1]
    assert report.as_dict()["reported"] == 1
    db.conn.close()


def test_a_requeued_row_reported_before_its_turn_is_not_sent_again(sendgrid, capsys):
    """Every try was refused (502), the row was requeued, and then SendGrid reported the
    first copy deferred (any event means it has it). The next send claims the row, sees the
    report before calling, and settles it instead of handing over a second copy."""
    from digest.web.webhooks import apply_events

    stand_in, config, path = sendgrid
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 1)
    tries = config.mail.send_retries + 1
    stand_in.script = [502] * tries
    send_issue(db, config, ISSUE, now=ON_TIME)
    lost = _row(db, subs[0])
    assert requeue_store.requeue(db, [lost.id], "operator", "test") == [lost.id]
    assert apply_events(db, [_event(lost.id, "deferred", 2)]).applied == 1
    assert _row(db, subs[0]).state == "queued"  # a deferral alone does not settle it
    code, out, err = run_cli_in_process(
        path, capsys, "send", "--date", ISSUE.isoformat(), "--force"
    )
    assert code == 0, err
    assert "1 reported by the provider before a second try -> sent, not sent again" in out
    assert "; sent 0," in out and _row(db, subs[0]).state == "sent"
    assert _delivered(stand_in, lost.id) == tries  # never handed over again
    db.conn.close()
