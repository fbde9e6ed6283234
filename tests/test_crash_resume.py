"""Crash-resume with real processes: `digest send` runs in a subprocess against a real SMTP
server (aiosmtpd on 127.0.0.1, in this process) and is SIGKILLed at random points 20+ times,
re-run after each kill. Some kills land inside DATA (the server has the message, the sender
never saw the 250), some just after a message, some at a random moment (start-up, rendering,
queueing). Across all runs nobody gets two copies, and everyone not marked `unknown` got
exactly one.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from digest.store import deliveries as ledger
from digest.store import open_db
from tests.delivery_support import ISSUE, RecordingHandler, parse, seed_subscribers

KILLS = 22
SUBSCRIBERS = 200  # enough that no run finishes the issue before its kill


class KillingHandler(RecordingHandler):
    """Records every message; kills the sender when told to (inside DATA or just after)."""

    def __init__(self) -> None:
        super().__init__()
        self.pid: int | None = None
        self.mode = "none"
        self.kill_at = 0  # kill on this run's n-th message
        self.delay = 0.0
        self.run_count = 0

    def arm(self, pid: int, mode: str, kill_at: int, delay: float) -> None:
        with self.lock:
            self.pid, self.mode, self.kill_at, self.delay = pid, mode, kill_at, delay
            self.run_count = 0

    def _kill(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.run_count += 1
            hit = self.mode in ("in-data", "after") and self.run_count == self.kill_at
            mode, delay = self.mode, self.delay
        if hit and mode == "in-data":
            raw = envelope.original_content or envelope.content
            with self.lock:  # the server has it; the sender will never see the 250
                self.messages.append(raw)
                for rcpt in envelope.rcpt_tos:
                    self.by_recipient.setdefault(rcpt.lower(), []).append(raw)
            self._kill()
            return "451 4.3.0 sender went away"
        reply = await super().handle_DATA(server, session, envelope)
        if hit and mode == "after":
            threading.Timer(delay, self._kill).start()
        return reply


@pytest.mark.slow
def test_sigkill_at_random_points_never_duplicates(smtp_server):
    handler = KillingHandler()
    config, path, _ = smtp_server(handler, rate_per_second=30.0)
    db = open_db(config.db_path)
    subs = seed_subscribers(db, SUBSCRIBERS)  # plans pre-saved: send only renders + sends
    db.conn.close()

    rng = random.Random(20250820)
    command = [
        sys.executable,
        "-m",
        "digest",
        "--config",
        str(path),
        "send",
        "--date",
        ISSUE.isoformat(),
        "--force",
        "--json",
    ]
    env = {**os.environ, "SMTP_USERNAME": "", "SMTP_PASSWORD": ""}
    modes = []
    killed = 0
    for _ in range(KILLS):
        mode = rng.choice(["in-data", "after", "after", "timer"])
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        handler.arm(proc.pid, mode, kill_at=rng.randint(1, 3), delay=rng.uniform(0, 0.05))
        if mode == "timer":
            threading.Timer(rng.uniform(0.2, 2.0), handler._kill).start()
        code = proc.wait(timeout=60)
        killed += code == -signal.SIGKILL
        modes.append(f"{mode}:{code}")
        handler.arm(0, "none", 0, 0.0)
    assert killed >= 20, f"only {killed} runs were killed ({modes})"

    final = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert final.returncode in (0, 1), final.stderr

    db = open_db(config.db_path)
    rows = {row.subscriber_id: row for row in ledger.list_deliveries(db, issue_date=ISSUE)}
    assert len(rows) == SUBSCRIBERS
    counts = ledger.count_by_state(db, ISSUE)
    assert counts["queued"] == counts["sending"] == counts["failed"] == 0, counts
    assert counts["unknown"] >= 1  # the in-DATA kills leave ambiguous rows behind
    for sub in subs:
        copies = handler.by_recipient.get(sub.email, [])
        row = rows[sub.id]
        assert len(copies) <= 1, f"{sub.email} got {len(copies)} copies"
        if row.state == "sent":
            assert len(copies) == 1, f"{sub.email} is sent but got {len(copies)}"
        else:
            assert row.state == "unknown", row
        for raw in copies:  # what arrived is the message rendered for this row
            assert str(parse(raw)["X-Digest-Delivery"]) == row.id
    assert len(handler.messages) == sum(len(c) for c in handler.by_recipient.values())
    db.conn.close()


def test_ctrl_c_while_pacing_leaves_the_next_row_queued(smtp_server, tmp_path):
    """The pacing wait came after the claim: Ctrl-C between two messages turned the next,
    never-sent row `unknown`. Now it stays queued and the next run sends it, once."""
    handler = RecordingHandler()
    config, path, _ = smtp_server(handler, rate_per_second=0.4)  # 2.5 s between messages
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 3)
    command = [sys.executable, "-m", "digest", "--config", str(path), "send"]
    command += ["--date", ISSUE.isoformat(), "--force"]
    env = {**os.environ, "SMTP_USERNAME": "", "SMTP_PASSWORD": ""}
    proc = subprocess.Popen(  # SIGINT as a terminal has it, even when pytest runs in `&`
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler),
    )
    deadline = time.monotonic() + 60
    while not handler.messages and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.8)  # the sender is waiting for the next slot
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    assert proc.returncode == 130
    counts = ledger.count_by_state(db, ISSUE)
    assert (counts["sent"], counts["queued"], counts["sending"]) == (1, 2, 0), counts
    done = subprocess.run(command, capture_output=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert ledger.count_by_state(db, ISSUE)["sent"] == 3
    assert sorted(handler.by_recipient) == sorted(sub.email for sub in subs)
    assert len(handler.messages) == 3
