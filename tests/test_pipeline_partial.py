"""One feed failing does not stop the day, and the next run fetches it again."""

from __future__ import annotations

import json
from datetime import date

import pytest

from digest.pipeline import run_daily
from digest.store import open_db
from tests.conftest import ATOM_SAMPLE


def test_a_failed_feed_is_fetched_again_by_the_next_run(make_config, httpserver, sample_db_path):
    import shutil

    config, _ = make_config(
        {
            "arxiv": {
                "feed_base_url": httpserver.url_for("/").rstrip("/"),
                "categories": ["cs.AI", "cs.CL"],
                "max_retries": 0,
                "request_delay_seconds": 0.0,
            },
            "mail": {"max_lateness_hours": 1e9},
        }
    )
    config.db_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(sample_db_path, config.db_path)  # vectors already stored: no model load
    httpserver.expect_request("/atom/cs.AI").respond_with_data(ATOM_SAMPLE.read_bytes())
    httpserver.expect_request("/atom/cs.CL").respond_with_data("boom", status=500)
    db = open_db(config.db_path)

    first = run_daily(db, config, date(2025, 8, 20))
    assert first.status == "partial"
    fetch = first.stages[0]
    assert fetch.stage == "fetch" and fetch.status == "partial"
    assert "cs.CL" in fetch.counts["errors"]
    assert [s.stage for s in first.stages] == [
        "fetch",
        "embed",
        "plan",
        "summarise",
        "send",
        "site",
    ]

    httpserver.clear()
    httpserver.expect_request("/atom/cs.AI").respond_with_data(ATOM_SAMPLE.read_bytes())
    httpserver.expect_request("/atom/cs.CL").respond_with_data(ATOM_SAMPLE.read_bytes())
    second = run_daily(db, config, date(2025, 8, 20))
    assert second.stages[0].status == "ok"  # fetched again, this time completely
    assert second.status == "ok"
    assert "/atom/cs.CL" in [request.path for request, _ in httpserver.log]
    third = run_daily(db, config, date(2025, 8, 20))
    assert third.stages[0].status == "done-earlier"


def test_an_html_error_page_is_a_failed_feed_not_a_holiday(make_config, httpserver):
    """A proxy or maintenance page answering 200 text/html used to read as an empty channel:
    the day ended as "no announcement" (exit 0) and nothing was fetched again."""
    from digest.ingest.daily import fetch_daily, is_no_announcement

    config, _ = make_config(
        {
            "arxiv": {
                "feed_base_url": httpserver.url_for("/").rstrip("/"),
                "categories": ["cs.AI", "cs.CL"],
                "max_retries": 0,
            }
        }
    )
    page = b"<html><head><title>Down for maintenance</title></head><body>back soon</body></html>"
    httpserver.expect_request("/atom/cs.AI").respond_with_data(page, content_type="text/html")
    httpserver.expect_request("/atom/cs.CL").respond_with_data(b"", content_type="text/xml")
    db = open_db(config.db_path)
    reports = fetch_daily(db, config)
    assert [r.status for r in reports] == ["failed", "failed"]
    assert "got an HTML page (Down for maintenance)" in reports[0].error
    assert "the response was empty" in reports[1].error
    assert not is_no_announcement(reports)
    day = run_daily(db, config, date(2025, 8, 20))
    assert day.status == "failed" and day.stages[0].error.startswith("every feed failed")
    # the operator reads words, not a Python class name ('RuntimeError: every feed failed')


def test_a_cut_short_feed_keeps_its_entries_and_is_fetched_again(make_config, httpserver):
    from digest.ingest.daily import fetch_daily
    from digest.store.papers import count_papers

    config, _ = make_config(
        {
            "arxiv": {
                "feed_base_url": httpserver.url_for("/").rstrip("/"),
                "categories": ["cs.AI"],
                "max_retries": 0,
            }
        }
    )
    raw = ATOM_SAMPLE.read_bytes()
    httpserver.expect_oneshot_request("/atom/cs.AI").respond_with_data(raw[: len(raw) // 3])
    httpserver.expect_oneshot_request("/atom/cs.AI").respond_with_data(raw)
    db = open_db(config.db_path)
    (first,) = fetch_daily(db, config)
    kept = count_papers(db)
    assert first.status == "failed" and 10 < kept < 86
    assert f"kept the {kept} complete entries" in first.error
    (second,) = fetch_daily(db, config)
    assert second.status == "ok" and count_papers(db) == 86
    assert second.counts.new == 86 - kept


def test_a_category_named_twice_is_fetched_once(make_config, httpserver):
    """Both copies were fetched; the second then looked 'stale' next to the first."""
    from digest.ingest.daily import fetch_daily

    config, _ = make_config(
        {
            "arxiv": {
                "feed_base_url": httpserver.url_for("/").rstrip("/"),
                "categories": ["cs.AI", "cs.AI"],
            }
        }
    )
    httpserver.expect_request("/atom/cs.AI").respond_with_data(ATOM_SAMPLE.read_bytes())
    db = open_db(config.db_path)
    reports = fetch_daily(db, config)
    assert [(r.label, r.status) for r in reports] == [("cs.AI", "ok")]
    assert len(httpserver.log) == 1


def test_a_feed_dated_in_the_future_is_refused_not_made_the_reference(make_config, httpserver):
    """Stored, its date became the one later fetches were compared with: every real listing
    after it was 'stale' (for ever, with 9999-12-31)."""
    from digest.ingest.daily import fetch_daily
    from digest.store.papers import count_papers

    config, _ = make_config(
        {"arxiv": {"feed_base_url": httpserver.url_for("/").rstrip("/"), "categories": ["cs.AI"]}}
    )
    future = ATOM_SAMPLE.read_bytes().replace(
        b"2025-08-20T00:00:00-04:00", b"9999-12-31T00:00:00-04:00"
    )
    httpserver.expect_oneshot_request("/atom/cs.AI").respond_with_data(future)
    httpserver.expect_oneshot_request("/atom/cs.AI").respond_with_data(ATOM_SAMPLE.read_bytes())
    db = open_db(config.db_path)
    (first,) = fetch_daily(db, config)
    assert first.status == "failed" and "dated 9999-12-31, days after today" in first.error
    assert count_papers(db) == 0
    (second,) = fetch_daily(db, config)
    assert second.status == "ok" and second.counts.new == 86


def test_ctrl_c_while_storing_a_listing_marks_its_run_failed(tmp_path):
    """A KeyboardInterrupt during the store left the run row 'running' for ever."""
    import signal

    from digest.ingest.daily import ingest_listing
    from digest.models import Paper, ParsedListing
    from digest.store.papers import count_papers, recent_ingest_runs

    papers = [
        Paper(f"2508.{n:05d}", f"T {n}", "A " * 50, ("A B", "C D"), announce_type="new")
        for n in range(60_000)
    ]
    db = open_db(tmp_path / "d.db")

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)  # setup takes ~0.03 s, the store ~3 s
    try:
        with pytest.raises(KeyboardInterrupt):
            ingest_listing(
                db,
                ParsedListing(papers=papers),
                source="feed",
                label="cs.AI",
                url=None,
                announce_types=("new",),
            )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    (run,) = recent_ingest_runs(db)
    assert (run["status"], run["error"]) == ("failed", "interrupted")
    assert count_papers(db) == 0  # one transaction: nothing half-written


def _feed_config(make_config, httpserver, sample_db_path, **site):
    import shutil

    config, path = make_config(
        {
            "arxiv": {
                "feed_base_url": httpserver.url_for("/").rstrip("/"),
                "categories": ["cs.AI"],
                "max_retries": 0,
                "request_delay_seconds": 0.0,
            },
            "mail": {"max_lateness_hours": 1e9},
            "site": {"search": False, **site},
        }
    )
    config.db_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(sample_db_path, config.db_path)
    return config, path


def test_feeds_down_still_embeds_and_builds_the_site_but_plans_and_sends_nothing(
    make_config, httpserver, sample_db_path
):
    config, _ = _feed_config(make_config, httpserver, sample_db_path)
    httpserver.expect_request("/atom/cs.AI").respond_with_data("down", status=503)
    db = open_db(config.db_path)

    down = run_daily(db, config, date(2025, 8, 20))
    statuses = {s.stage: s.status for s in down.stages}
    assert statuses == {
        "fetch": "failed",
        "embed": "ok",
        "plan": "skipped",
        "summarise": "skipped",
        "send": "skipped",
        "site": "ok",
    }
    assert down.status == "failed"
    assert down.summary.startswith(f"run {down.run_id} for 2025-08-20: failed: fetch failed (")
    assert down.summary.endswith("skipped plan, summarise, send")
    assert db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 0
    assert "Traceback" not in json.dumps(down.as_dict())  # one clear line; the store keeps it

    httpserver.clear()
    httpserver.expect_request("/atom/cs.AI").respond_with_data(ATOM_SAMPLE.read_bytes())
    back = run_daily(db, config, date(2025, 8, 20))
    # embed and site ran while the feed was down; they run again after the fetch that worked
    assert [s.status for s in back.stages] == ["ok"] * 6
    assert "due" in back.stages[2].counts and "sent" in back.stages[4].counts


def test_a_failed_site_build_leaves_the_sent_issue_and_says_so(
    make_config, httpserver, sample_db_path, tmp_path
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    config, _ = _feed_config(make_config, httpserver, sample_db_path, dir=str(blocker / "site"))
    httpserver.expect_request("/atom/cs.AI").respond_with_data(ATOM_SAMPLE.read_bytes())
    db = open_db(config.db_path)

    report = run_daily(db, config, date(2025, 8, 20))
    assert [s.status for s in report.stages] == ["ok", "ok", "ok", "ok", "ok", "failed"]
    assert report.status == "failed" and "site failed (" in report.summary
    again = run_daily(db, config, date(2025, 8, 20))  # only the site is tried again
    assert [s.status for s in again.stages[:5]] == ["done-earlier"] * 5
    assert again.stages[5].status == "failed"


def test_an_interrupted_run_is_recorded_as_failed_not_left_running(
    make_config, httpserver, sample_db_path
):
    config, _ = _feed_config(make_config, httpserver, sample_db_path)
    httpserver.expect_request("/atom/cs.AI").respond_with_data(ATOM_SAMPLE.read_bytes())
    db = open_db(config.db_path)

    def ctrl_c_before_planning(text: str) -> None:
        if text.startswith("plan"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_daily(db, config, date(2025, 8, 20), progress=ctrl_c_before_planning)
    row = db.execute("SELECT status, error FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    assert row == ("failed", "interrupted: KeyboardInterrupt")
    resumed = run_daily(db, config, date(2025, 8, 20))
    assert [s.status for s in resumed.stages] == ["done-earlier"] * 2 + ["ok"] * 4


def test_one_feed_down_on_a_quiet_day_is_not_reported_as_every_feed_failing(
    make_config, httpserver
):
    config, _ = make_config(
        {
            "arxiv": {
                "feed_base_url": httpserver.url_for("/").rstrip("/"),
                "categories": ["cs.AI", "cs.CL"],
                "max_retries": 0,
            }
        }
    )
    sample = ATOM_SAMPLE.read_text()
    empty = sample[: sample.index("<entry>")] + "</feed>\n"  # the channel, no entries
    httpserver.expect_request("/atom/cs.AI").respond_with_data(empty.encode())
    httpserver.expect_request("/atom/cs.CL").respond_with_data("down", status=503)
    db = open_db(config.db_path)
    day = run_daily(db, config, date(2025, 8, 20))
    fetch = day.stages[0]
    assert fetch.status == "failed" and fetch.error is not None
    assert "1 of 2 feeds failed and the others listed nothing new" in fetch.error
    assert "every feed failed" not in fetch.error


def test_a_plain_run_after_a_killed_force_run_finishes_its_redo(
    make_config, httpserver, sample_db_path
):
    config, _ = _feed_config(make_config, httpserver, sample_db_path)
    httpserver.expect_request("/atom/cs.AI").respond_with_data(ATOM_SAMPLE.read_bytes())
    db = open_db(config.db_path)
    first = run_daily(db, config, date(2025, 8, 20))
    assert first.status == "ok"

    def ctrl_c_before_planning(text: str) -> None:
        if text.startswith("plan"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # e.g. a new subscriber: redo the day
        run_daily(db, config, date(2025, 8, 20), force=True, progress=ctrl_c_before_planning)
    resumed = run_daily(db, config, date(2025, 8, 20))
    assert [s.status for s in resumed.stages] == ["done-earlier"] * 2 + ["ok"] * 4
    assert resumed.forced  # the send is still the forced one the operator asked for
    done = run_daily(db, config, date(2025, 8, 20))
    assert [s.status for s in done.stages] == ["done-earlier"] * 6


@pytest.mark.parametrize(
    ("zone", "local_time", "listing"),
    [
        ("America/New_York", "2025-08-20T00:30", date(2025, 8, 20)),
        ("Europe/Paris", "2025-08-20T00:30", date(2025, 8, 19)),  # 18:30 in New York
        ("Asia/Tokyo", "2025-08-20T00:30", date(2025, 8, 19)),
        ("Asia/Tokyo", "2025-08-20T13:30", date(2025, 8, 20)),  # 00:30 in New York
        ("Pacific/Kiritimati", "2025-08-21T00:30", date(2025, 8, 20)),
        ("Pacific/Pago_Pago", "2025-08-19T23:30", date(2025, 8, 20)),  # 06:30 UTC
    ],
)
def test_the_default_issue_is_arxivs_newest_listing_in_any_schedule_zone(
    make_config, zone, local_time, listing
):
    """arXiv dates a listing by New York's day: an operator in Paris running at 00:30 asked
    for a listing that did not exist yet and found the feed stale every day."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from digest.pipeline import default_issue_date

    config, _ = make_config({"schedule": {"timezone": zone}})
    moment = datetime.fromisoformat(local_time).replace(tzinfo=ZoneInfo(zone))
    assert default_issue_date(config, moment) == listing


def test_a_paris_run_at_half_past_midnight_fetches_the_newest_listing(make_config, httpserver):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from digest.pipeline import default_issue_date

    config, _ = make_config(
        {
            "arxiv": {
                "feed_base_url": httpserver.url_for("/").rstrip("/"),
                "categories": ["cs.AI"],
                "max_retries": 0,
            },
            "schedule": {"timezone": "Europe/Paris"},
        }
    )
    httpserver.expect_request("/atom/cs.AI").respond_with_data(ATOM_SAMPLE.read_bytes())
    db = open_db(config.db_path)
    paris = datetime(2025, 8, 21, 0, 30, tzinfo=ZoneInfo("Europe/Paris"))  # the 20th's listing
    report = run_daily(db, config, default_issue_date(config, paris))
    assert report.stages[0].status == "ok" and report.stages[0].counts["new"] == 86


def test_the_run_report_names_a_subscriber_that_could_not_be_planned(
    make_config, httpserver, sample_db_path
):
    import numpy as np

    from digest.store.papers import get_paper, save_embeddings
    from digest.subscribers.manage import add_subscriber
    from digest.topics.catalog import add_personal_topic

    config, _ = _feed_config(make_config, httpserver, sample_db_path)
    httpserver.expect_request("/atom/cs.AI").respond_with_data(ATOM_SAMPLE.read_bytes())
    db = open_db(config.db_path)
    bad = add_subscriber(db, "bad@example.org", status="active")
    add_personal_topic(db, bad.id, "", name="Broken", seed_ids=["2609.26811"])
    seed = get_paper(db, "2609.26811")  # its stored vector has the wrong dimension
    save_embeddings(db, config.embedding.model, [seed.content_hash], np.ones((1, 7), np.float32))

    report = run_daily(db, config, date(2025, 8, 20))
    plan = report.stages[2]
    assert plan.stage == "plan" and plan.counts["failed"] == 1
    assert plan.counts["errors"].startswith("bad@example.org")  # not just a count
