"""`digest status` covers the whole day: the last fetch, plan, send (counts by state) and site
build, and the next scheduled run with whether a scheduler is there to make it. A real
database with the recorded feeds, a real send to the outbox and a real site build."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from digest.ops.status import collect_status, day_lines
from tests.conftest import run_cli_in_process

ISSUE = date(2025, 8, 20)
NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # a Friday afternoon


def test_a_fresh_database_says_what_has_not_happened_yet(make_config):
    from digest.store import open_db

    config, _ = make_config()
    db = open_db(config.db_path)
    lines = day_lines(collect_status(db, config, NOW)["day"], NOW)
    assert [line.split()[0] + " " + line.split()[1] for line in lines] == [
        "last fetch",
        "last plan",
        "last send",
        "site not",
        "next run",
    ]
    assert "never" in lines[0] and "none yet" in lines[1] and "none yet" in lines[2]
    # 00:30 New York on weekdays: Friday 15:00 UTC -> Monday 00:30 EST = 05:30 UTC
    assert "next run    Mon 2026-12-07 00:30 America/New_York (in 2 d 14 h)" in lines[4]
    assert lines[4].endswith("no scheduler is running: start `digest schedule`")
    db.conn.close()


def test_status_after_a_day_of_work_names_each_stage(sample_db, sample_config, capsys):
    from digest.mail.sending import send_issue
    from digest.site.build import build_site
    from digest.store.service import put_lease
    from digest.subscribers.manage import add_subscriber

    db, config = sample_db, sample_config
    for n in range(3):
        add_subscriber(db, f"reader{n}@example.org", status="active", text="language models")
    sent = send_issue(db, config, ISSUE, force=True)
    assert sent.sent == 3
    site = build_site(db, config)
    put_lease(db, "scheduler", "host-a:4242:x", datetime.now(UTC) + timedelta(minutes=5))

    now = datetime.now(UTC)
    day = collect_status(db, config, now)["day"]
    assert day["last_ingest"]["status"] == "ok" and day["last_ingest"]["new"] > 0
    assert day["last_plan"]["issue_date"] == "2025-08-20" and day["last_plan"]["digests"] == 3
    assert day["last_send"]["states"]["sent"] == 3 and day["last_send"]["backends"] == ["outbox"]
    assert day["last_site_build"]["pages_rendered"] == site.rendered > 0
    assert day["next_run"]["scheduler"] == "host-a:4242:x"
    picks = day["last_plan"]["picks"]

    code, out, _ = run_cli_in_process(Path(config.source), capsys, "status")
    assert code == 0
    assert f"last plan   issue 2025-08-20: 3 digests, {picks} picks" in out
    assert "last send   issue 2025-08-20 via outbox: 3 sent" in out
    assert f"site        built: {site.rendered} pages rendered" in out
    assert "scheduler running (host-a:4242:x)" in out
    code, out, _ = run_cli_in_process(Path(config.source), capsys, "status", "--json")
    shown = json.loads(out)["day"]
    assert shown["last_send"]["states"]["sent"] == 3 and shown["next_run"]["at"]
