"""Sender reputation guards: the sliding sending window (fake clock, then through a real send
into the outbox) and the 7-day complaint rate that warns and then pauses sending, fed by
provider webhook events applied the way the SendGrid endpoint applies them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from digest.errors import DigestError
from digest.mail.health import SendWindow, judge
from digest.mail.held import send_held
from digest.mail.sending import send_issue
from digest.ops.status import collect_status
from digest.rank.planning import save_plan
from digest.store import deliveries as ledger
from digest.store import open_db
from digest.web.webhooks import apply_events
from tests.delivery_support import ISSUE, plan_for, seed_subscribers

ON_TIME = datetime(2025, 8, 20, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_on_a_fake_clock():
    clock = FakeClock()
    window = SendWindow(per_hour=3, per_day=5, times=[clock.now - 7200], clock=clock)
    for _ in range(3):
        assert window.blocked() is None
        window.record()
        clock.now += 60
    assert "max_per_hour = 3" in window.blocked()
    clock.now += 3600 - 190  # 10 s before the first of the three leaves the hour
    assert window.blocked() is not None
    clock.now += 20
    assert window.blocked() is None  # it slid out
    window.record()
    assert "max_per_day = 5" in window.blocked()  # 1 from two hours ago + 4 since
    clock.now += 86400
    assert window.blocked() is None and len(window.sent) == 0
    assert not SendWindow(0, 0).limited


def test_complaint_levels(make_config):
    config, _ = make_config({"mail": {"complaint_min_sent": 100}})
    assert judge(50, 5, 0, config).level == "ok"  # too few sends to judge
    assert judge(1000, 1, 0, config).level == "ok"  # 0.1 % is the warning line itself
    assert judge(1000, 2, 0, config).level == "warn"
    warn = judge(1000, 3, 1, config)
    assert warn.level == "warn" and "complaint_warn_rate" in warn.message
    pause = judge(1000, 4, 0, config)
    assert pause.level == "pause" and "4 complaints / 1000 sent" in pause.message


def test_window_leaves_the_rest_queued_for_the_next_pass(make_config):
    config, _ = make_config({"mail": {"rate_per_second": 1000.0, "max_per_hour": 2}})
    db = open_db(config.db_path)
    seed_subscribers(db, 5)
    report = send_issue(db, config, ISSUE, now=ON_TIME)
    assert (report.queued, report.sent, report.held) == (5, 2, 3)
    assert "max_per_hour = 2" in report.window
    assert ledger.count_by_state(db, ISSUE)["queued"] == 3
    [later] = send_held(db, config, now=ON_TIME + timedelta(hours=1))
    assert later.sent == 0 and later.held == 3  # still the same (real) hour
    wider, _ = make_config({"mail": {"rate_per_second": 1000.0, "max_per_hour": 4}})
    [next_pass] = send_held(db, wider, now=ON_TIME + timedelta(hours=1))
    assert (next_pass.sent, next_pass.held) == (2, 1)
    outbox = wider.path(wider.mail.outbox_dir) / ISSUE.isoformat()
    assert len(list(outbox.glob("*.eml"))) == 4


def test_complaints_pause_sending_until_overridden(make_config):
    config, _ = make_config({"mail": {"rate_per_second": 1000.0, "complaint_min_sent": 10}})
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 12)
    assert send_issue(db, config, ISSUE, now=ON_TIME).sent == 12
    assert collect_status(db, config)["sender_health"]["level"] == "ok"
    rows = ledger.list_deliveries(db, issue_date=ISSUE)
    events = [
        {"event": "spamreport", "delivery_id": rows[0].id, "sg_event_id": "ev-1", "timestamp": 1}
    ]
    assert apply_events(db, events).applied == 1
    status = collect_status(db, config)
    assert status["sender_health"]["complaints"] == 1 and status["sender_health"]["sent"] == 12
    assert any("complaint_pause_rate" in w for w in status["warnings"])
    tomorrow = ISSUE + timedelta(days=1)
    for sub in subs:
        save_plan(db, plan_for(sub.id, tomorrow))
    with pytest.raises(DigestError, match=r"sending is paused: 1 complaints / 12 sent"):
        send_issue(db, config, tomorrow, force=True)
    assert ledger.count_by_state(db, tomorrow)["queued"] == 0
    forced = send_issue(db, config, tomorrow, force=True, ignore_complaints=True)
    assert forced.sent == 11  # the complainer is suppressed; everyone else gets it
