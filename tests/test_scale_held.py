"""The hourly pass over held digests on PostgreSQL, while workers send: `digest send --held`
hands the rows whose local hour has come to the workers as send jobs, leaves the rows still
held queued, and does not touch a row a worker is sending at that moment (its provider call
is in flight: recovering it as `unknown` would be wrong). Nothing arrives twice.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from tests.delivery_support import queue_messages, seed_subscribers
from tests.pg_server import wait_until
from tests.test_scale_kill import SlowReplyHandler, smtp_fleet
from tests.test_scale_postgres import digest, start_workers, stop_workers

DUE_ZONE = ("Etc/GMT-14", 0)  # 00:00 at UTC+14 on the issue day: always passed by now
LATER_ZONE = ("Etc/GMT+12", 23)  # 23:00 at UTC-12 on the issue day: tomorrow, in UTC


@pytest.mark.slow
def test_the_held_pass_sends_due_rows_as_jobs_and_spares_a_row_in_flight(tmp_path, pg_url):

    from digest.config import load_config
    from digest.store import deliveries as ledger_store
    from digest.store import jobs as job_store
    from digest.store import open_db, transaction
    from digest.store.subscribers import update_subscriber_row
    from digest.workers.fleet import ensure_queue
    from digest.workers.names import task_name
    from digest.workers.sharding import send_job

    issue = datetime.now(UTC).date()
    handler = SlowReplyHandler()
    smtp, config_path = smtp_fleet(
        tmp_path, pg_url, handler, smtp_timeout_seconds=60.0, rate_per_second=50.0
    )
    config = load_config(str(config_path))
    db = open_db(pg_url)
    ensure_queue(db)
    subs = seed_subscribers(db, 12, issue=issue)
    for sub in subs[4:8]:
        update_subscriber_row(db, sub.id, {"timezone": DUE_ZONE[0], "send_hour": DUE_ZONE[1]})
    for sub in subs[8:]:
        update_subscriber_row(db, sub.id, {"timezone": LATER_ZONE[0], "send_hour": LATER_ZONE[1]})
    ids = queue_messages(db, config, subs, issue)
    daily, due_later, held = ids[:4], ids[4:8], ids[8:]
    workers = start_workers(config_path, 2)
    try:
        handler.catch()  # the day's send job: its first message's reply is held
        with transaction(db):
            job_store.defer_jobs(db, [send_job("day", issue, daily, task_name("send_shard"))])
        _port, in_flight = wait_until(handler.caught, 120, "a message in flight")
        assert ledger_store.get_delivery(db, in_flight).state == "sending"

        passed = digest(config_path, "send", "--held", "--json", timeout=300)
        assert passed.returncode == 0, passed.stdout + passed.stderr
        [report] = json.loads(passed.stdout)
        assert report["recovered_unknown"] == 0
        assert ledger_store.get_delivery(db, in_flight).state == "sending"  # left to its job
        states = {i: ledger_store.get_delivery(db, i).state for i in ids}
        assert all(states[i] == "sent" for i in due_later), states
        assert all(states[i] == "queued" for i in held), states
        assert all(states[i] == "sent" for i in daily if i != in_flight), states

        handler.release()
        wait_until(
            lambda: job_store.job_states(db, "day") == {"succeeded": 1}, 120, "the day's job"
        )
    finally:
        handler.release()
        stop_workers(workers)
        smtp.stop()
    assert ledger_store.get_delivery(db, in_flight).state == "sent"
    final = Counter(ledger_store.get_delivery(db, i).state for i in ids)
    assert final == {"sent": 8, "queued": 4}
    assert set(handler.delivery_ids) == set(daily + due_later)
    assert max(handler.delivery_ids.values()) == 1
    db.close()
