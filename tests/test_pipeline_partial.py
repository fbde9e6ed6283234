"""One feed failing does not stop the day, and the next run fetches it again."""

from __future__ import annotations

from datetime import date

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
    assert [s.stage for s in first.stages] == ["fetch", "embed", "plan", "send", "site"]

    httpserver.clear()
    httpserver.expect_request("/atom/cs.AI").respond_with_data(ATOM_SAMPLE.read_bytes())
    httpserver.expect_request("/atom/cs.CL").respond_with_data(ATOM_SAMPLE.read_bytes())
    second = run_daily(db, config, date(2025, 8, 20))
    assert second.stages[0].status == "ok"  # fetched again, this time completely
    assert second.status == "ok"
    assert "/atom/cs.CL" in [request.path for request, _ in httpserver.log]
    third = run_daily(db, config, date(2025, 8, 20))
    assert third.stages[0].status == "done-earlier"
