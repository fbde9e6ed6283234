"""At most once across processes: three `digest worker` processes send digests through a real
SMTP server (aiosmtpd) while a random one is SIGKILLed again and again and restarted. No
message may arrive twice, and every row ends `sent` or `unknown` (killed between its claim
and the provider's answer: the provider may have it; listed, never resent).

Suite size: DIGEST_KILL_TEST_DIGESTS digests (default 120) and DIGEST_KILL_TEST_KILLS kills
(default 4); the issue's full size (2,000 digests, 20 kills) runs with those set
(bench/kill_test.sh)."""

from __future__ import annotations

import email
import os
import random
import signal
import time
from collections import Counter

import pytest

from tests.delivery_support import ISSUE, RecordingHandler, queue_messages, seed_subscribers
from tests.test_scale_postgres import start_workers, stop_workers, write_config

DIGESTS = int(os.environ.get("DIGEST_KILL_TEST_DIGESTS", "120"))
KILLS = int(os.environ.get("DIGEST_KILL_TEST_KILLS", "4"))


@pytest.mark.slow
def test_killed_workers_never_send_a_digest_twice(tmp_path, pg_url):
    import portpicker
    from aiosmtpd.controller import Controller

    from digest.config import load_config
    from digest.store import deliveries as ledger_store
    from digest.store import jobs as job_store
    from digest.store import open_db, transaction
    from digest.workers.fleet import ensure_queue
    from digest.workers.names import task_name
    from digest.workers.sharding import send_job

    handler = RecordingHandler()
    port = portpicker.pick_unused_port()
    smtp = Controller(handler, hostname="127.0.0.1", port=port)
    smtp.start()
    config_path = write_config(
        tmp_path,
        "http://127.0.0.1:9/",
        url=pg_url,
        backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_timeout_seconds=5.0,
        from_address="digest@lab.test",
        postal_address="1 Main St, Springfield",
        rate_per_second=80.0,
        retry_base_seconds=0.01,
    )
    config = load_config(str(config_path))
    db = open_db(pg_url)
    ensure_queue(db)
    subs = seed_subscribers(db, DIGESTS)
    tag = "kill-test"
    with transaction(db):  # the rows and the jobs that send them, together
        ids = queue_messages(db, config, subs)
        shards = [ids[i : i + 20] for i in range(0, len(ids), 20)]
        job_store.defer_jobs(db, [send_job(tag, ISSUE, s, task_name("send_shard")) for s in shards])
    workers = start_workers(config_path, 3)
    rng = random.Random(16)
    kills = 0
    try:
        while kills < KILLS and job_store.job_states(db, tag).get("succeeded", 0) < len(shards):
            time.sleep(rng.uniform(0.3, 1.5))
            victim = rng.randrange(len(workers))
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            workers[victim] = start_workers(config_path, 1)[0]
            kills += 1
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            states = job_store.job_states(db, tag)
            if states.get("todo", 0) + states.get("doing", 0) == 0:
                break
            time.sleep(0.5)
    finally:
        stop_workers(workers)
        smtp.stop()
    assert kills >= 1
    states = job_store.job_states(db, tag)
    assert states == {"succeeded": len(shards)}, states
    received = Counter(
        email.message_from_bytes(raw)["X-Digest-Delivery"] for raw in handler.messages
    )
    assert received and max(received.values()) == 1, "a digest arrived twice"
    rows = {d.id: d for d in ledger_store.list_deliveries(db, issue_date=ISSUE)}
    by_state = Counter(d.state for d in rows.values())
    assert set(by_state) <= {"sent", "unknown"}, by_state
    assert by_state["sent"] + by_state["unknown"] == DIGESTS
    sent = {i for i, d in rows.items() if d.state == "sent"}
    assert sent <= set(received)  # every row marked sent did arrive
    unknown = sorted(i for i, d in rows.items() if d.state == "unknown")
    print(
        f"{DIGESTS} digests, {kills} kills: {by_state['sent']} sent, {len(unknown)} unknown {unknown}"
    )
    db.close()
