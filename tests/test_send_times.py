"""Delivery at a subscriber's local hour: rows stay queued ("held") until the issue day's
`send_hour` in the subscriber's zone, then the hourly pass (`send_held`, `digest send --held`)
delivers them, each once, through a real SMTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from digest.mail.held import send_held
from digest.mail.send_times import local_send_moment, split_due
from digest.mail.sending import send_issue
from digest.store import deliveries as ledger
from digest.store import open_db
from digest.subscribers.manage import update_subscriber
from tests.conftest import run_cli_in_process
from tests.delivery_support import ISSUE, queue_messages, seed_subscribers


def at(hour: int, minute: int = 0, day: date = ISSUE) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def test_local_send_moment_in_the_subscribers_zone():
    assert local_send_moment(ISSUE, "Asia/Tokyo", 8) == at(23, day=ISSUE - timedelta(days=1))
    assert local_send_moment(ISSUE, "America/Los_Angeles", 7) == at(14)  # PDT in August
    assert local_send_moment(date(2025, 12, 3), "America/Los_Angeles", 7) == at(
        15, day=date(2025, 12, 3)
    )  # PST in December
    assert local_send_moment(ISSUE, "Europe/Paris", None) is None
    assert local_send_moment(ISSUE, "Not/AZone", 9) == at(9)  # unknown zones count as UTC
    rows = [("a", "UTC", None), ("b", "America/New_York", 9), ("c", "Asia/Tokyo", 8)]
    due, held = split_due(ISSUE, rows, at(12))
    assert due == ["a", "c"] and held == [local_send_moment(ISSUE, "America/New_York", 9)]


def test_held_digests_go_out_at_their_local_hour_once(smtp_server):
    config, _, handler = smtp_server()
    db = open_db(config.db_path)
    now_sub, ny_sub, paris_sub = seed_subscribers(db, 3)
    update_subscriber(db, ny_sub.id, timezone="America/New_York", send_hour=9)  # 13:00 UTC
    update_subscriber(db, paris_sub.id, timezone="Europe/Paris", send_hour=18)  # 16:00 UTC

    first = send_issue(db, config, ISSUE, now=at(12))
    assert (first.rendered, first.queued, first.sent, first.held) == (3, 3, 1, 2)
    assert first.next_send_at == "2025-08-20T13:00+00:00"
    assert list(handler.by_recipient) == [now_sub.email]
    assert ledger.count_by_state(db, ISSUE)["queued"] == 2

    assert [r.sent for r in send_held(db, config, now=at(12, 30))] == [0]
    assert len(handler.messages) == 1
    [at_one] = send_held(db, config, now=at(13, 2))
    assert (at_one.sent, at_one.held) == (1, 1)
    assert sorted(handler.by_recipient) == sorted([now_sub.email, ny_sub.email])
    assert send_issue(db, config, ISSUE, now=at(14)).sent == 0  # the daily run again: still held
    [evening] = send_held(db, config, now=at(16, 2))
    assert (evening.sent, evening.held) == (1, 0)
    assert send_held(db, config, now=at(17, 2)) == []  # nothing queued any more
    assert all(len(copies) == 1 for copies in handler.by_recipient.values())
    assert len(handler.by_recipient) == 3 and ledger.count_by_state(db, ISSUE)["sent"] == 3


def test_held_rows_past_the_lateness_limit_are_not_sent(smtp_server):
    config, _, handler = smtp_server()
    db = open_db(config.db_path)
    [sub] = seed_subscribers(db, 1)
    update_subscriber(db, sub.id, timezone="UTC", send_hour=23)
    assert send_issue(db, config, ISSUE, now=at(12)).held == 1
    too_late = at(12) + timedelta(hours=config.mail.max_lateness_hours + 1)
    assert send_held(db, config, now=too_late) == []
    assert handler.messages == [] and ledger.count_by_state(db, ISSUE)["queued"] == 1


def test_cli_send_held_json(smtp_server, capsys):
    config, path, handler = smtp_server()
    db = open_db(config.db_path)
    today = datetime.now(UTC).date()
    early, late = seed_subscribers(db, 2, issue=today, save_plans=False)
    update_subscriber(db, early.id, timezone="UTC", send_hour=0)  # today 00:00 UTC: past
    update_subscriber(db, late.id, timezone="Etc/GMT+12", send_hour=23)  # tomorrow 11:00 UTC
    queue_messages(db, config, [early, late], issue=today)
    db.conn.close()
    code, out, err = run_cli_in_process(path, capsys, "send", "--held", "--json")
    assert code == 0, err
    [report] = json.loads(out)
    assert (report["issue_date"], report["sent"], report["held"]) == (today.isoformat(), 1, 1)
    assert list(handler.by_recipient) == [early.email]
    code, out, _ = run_cli_in_process(path, capsys, "send", "--held")
    assert code == 0 and "0, failed 0" in out and "1 held" in out


def test_a_held_pass_that_crashed_leaves_no_row_sending(smtp_server):
    """A held pass killed mid-call left its row `sending` for ever: the next pass (not only a
    `digest send` of that very issue) turns it `unknown`, says so, and never resends it."""
    config, _, handler = smtp_server()
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 3)
    for sub in subs:
        update_subscriber(db, sub.id, timezone="UTC", send_hour=13)
    assert send_issue(db, config, ISSUE, now=at(12)).held == 3
    ids = ledger.queued_send_times(db, ISSUE)
    assert ledger.claim(db, ids[0][0], "smtp") == "claimed"  # the killed pass's row
    [report] = send_held(db, config, now=at(13, 2))
    assert (report.sent, report.recovered_unknown) == (2, 1)
    assert ledger.get_delivery(db, ids[0][0]).state == "unknown"
    assert len(handler.messages) == 2
    # a pass killed on the issue's last queued row: the next pass still finds it
    more = seed_subscribers(db, 1, domain="late.test")
    update_subscriber(db, more[0].id, timezone="UTC", send_hour=14)
    [late_id] = queue_messages(db, config, more)
    assert ledger.claim(db, late_id, "smtp") == "claimed"
    [again] = send_held(db, config, now=at(14, 2))
    assert (again.sent, again.recovered_unknown) == (0, 1)
    assert ledger.count_by_state(db, ISSUE)["sending"] == 0 and len(handler.messages) == 2
