"""Deliver an issue's queued rows one at a time, each claimed before its provider call.

The claim (`queued -> sending`) is committed before the call and the row finished after it, so
a crash mid-call leaves `sending` (later `unknown`), never a second copy. Errors map to states
as digest/mail/base.py describes; an unavailable provider stops the run with the rest queued.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

from digest.config import Config
from digest.errors import DigestError
from digest.mail.base import AmbiguousError, AuthError, MailBackend, PermanentError, TransientError
from digest.mail.health import window_from_ledger
from digest.mail.pacing import Pacer, RateLimitedError, backoff_delay
from digest.mail.report import SendReport
from digest.mail.send_times import next_moment_utc, split_due
from digest.mail.wire import from_wire
from digest.store import deliveries as ledger_store
from digest.store import requeues as requeue_store
from digest.store.ledger import NOT_SENT_PREFIX

ProgressCallback = Callable[[int, int], None]  # (done, total)
UNANSWERED_LIMIT = 3  # calls in a row that may or may not have been accepted: stop the run


def deliver_queued(
    db,
    config: Config,
    backend: MailBackend,
    issue_date: date,
    report: SendReport,
    progress: ProgressCallback | None = None,
    *,
    now: datetime | None = None,
    only: set[str] | None = None,
    pacer=None,
    window=None,
    claimer: str | None = None,
) -> None:
    """Send every queued row of the issue whose time has come (subscribers with a local send
    hour later than `now` stay queued: "held"), one at a time, each claimed before its call.
    `only`: just these rows (a worker's shard); `pacer`/`window`: the fleet's shared limits;
    `claimer`: who claims the rows (a send job, a lease holder), recorded on each."""
    rows = ledger_store.queued_send_times(db, issue_date, only)
    queued, held = split_due(issue_date, rows, now or datetime.now(UTC))
    report.held, report.next_send_at = len(held), next_moment_utc(held)
    if not queued:
        return
    start_issue = getattr(backend, "start_issue", None)
    if start_issue is not None:
        try:
            start_issue(issue_date)  # e.g. SMTP connects and logs in before any claim
        except AuthError as exc:
            raise DigestError(f"{exc}; nothing was sent, {len(queued)} stay queued") from exc
        except (TransientError, PermanentError) as exc:
            raise DigestError(
                f"{exc}; nothing was sent, {len(queued)} stay queued "
                "(run `digest send` again when the server is back)"
            ) from exc
    with _sigterm_as_exit():
        _deliver_rows(db, config, backend, queued, report, progress, pacer, window, claimer)


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """While rows are sent, SIGTERM (systemd, docker stop, kill) raises SystemExit instead of
    killing the process mid-row: a row waiting to retry then ends `failed`, not sent (and may
    be requeued), instead of `sending` and, at the next start, `unknown` for good. Only in the
    main thread, and only where nobody handles SIGTERM already."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def stop(signum, frame) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _deliver_rows(
    db,
    config: Config,
    backend: MailBackend,
    queued: list[str],
    report: SendReport,
    progress: ProgressCallback | None,
    pacer=None,
    window=None,
    claimer: str | None = None,
) -> None:
    """The loop: one row at a time, paced, stopping on an outage or too many failures."""
    pacer = pacer or Pacer(config.mail.rate_per_second)
    window = window or window_from_ledger(db, config)
    consecutive_errors = unanswered = 0
    for done, delivery_id in enumerate(queued, start=1):
        report.window = window.blocked() if window.limited else None
        if report.window is not None:  # the rest wait for the next pass, still queued
            report.held += len(queued) - done + 1
            return
        outcome = _deliver_one(db, config, backend, delivery_id, report, pacer, claimer)
        if outcome == "sent" and window.limited:
            window.record()
        consecutive_errors = (
            0 if outcome in ("sent", "skipped", "taken", "reported") else consecutive_errors + 1
        )
        if progress is not None:
            progress(done, len(queued))
        unanswered = unanswered + 1 if outcome == "unknown" else 0
        if outcome == "outage" or unanswered >= UNANSWERED_LIMIT:
            # the next message would fare no better: keep it queued rather than lose it (or
            # leave one more `unknown` for the operator to look up at the provider)
            why = "is not taking messages" if outcome == "outage" else "is not answering"
            who = "the outbox" if backend.name == "outbox" else "the provider"
            report.stopped = (
                f"{who} {why} ({report.errors[-1]}); "
                f"{len(queued) - done} stay queued for the next `digest send`"
                + (", with the one just refused" if outcome == "outage" else "")
            )
            return
        if consecutive_errors >= config.mail.max_consecutive_errors:
            left = len(queued) - done
            report.stopped = (
                f"paused after {consecutive_errors} failed deliveries in a row; "
                f"{left} stay queued for the next `digest send`"
            )
            return


def _deliver_one(
    db,
    config: Config,
    backend: MailBackend,
    delivery_id: str,
    report: SendReport,
    pacer: Pacer,
    claimer: str | None = None,
) -> str:
    """Claim, send, finish one row. Returns the row's outcome, "taken", "reported" (the
    provider had reported it: settled without a call), or "outage" (it failed because the
    provider is unavailable: stop the run rather than fail the rows after it)."""
    pacer.wait()  # before the claim: an interrupt while pacing leaves the row queued
    claimed = ledger_store.claim(db, delivery_id, backend.name, claimer)
    if claimed == "skipped":
        report.skipped += 1
        return "skipped"
    if claimed != "claimed":
        return "taken"
    retries = rate_limits = attempts = 0
    waited_for_rate_limit = 0.0
    refusal = ""  # the provider's refusal of the last call, recorded before the wait
    while True:
        try:  # nothing in here reaches the provider: an interrupt means "not sent"
            if attempts:
                # recorded in here: its write may wait for the lock, and SIGTERM then too
                ledger_store.record_attempt(db, delivery_id, refusal)
                pacer.wait()  # a backoff or a 429's wait, possibly minutes long
            else:
                message = from_wire(ledger_store.load_message(db, delivery_id) or b"")
        except BaseException as exc:
            ledger_store.roll_back_interrupted(db)  # a write the interrupt cut short
            _finish_not_sent(db, delivery_id, report, f"interrupted before the call ({exc!r})")
            raise
        if attempts and ledger_store.skip_if_unsubscribed(db, delivery_id):
            report.skipped += 1  # they left while we waited to try again
            return "skipped"
        if _reported_meanwhile(db, delivery_id, report):
            return "reported"
        attempts += 1
        try:
            result = backend.send(message, delivery_id)  # type: ignore[arg-type]
        except RateLimitedError as exc:
            rate_limits += 1
            # the provider's wait, but never less than the backoff: a reset time already past
            # (our clock ahead of theirs) made it 0, and the retries hammered the provider
            wait = max(
                exc.retry_after or 0.0,
                backoff_delay(rate_limits, config.mail.retry_base_seconds),
                0.05,
            )
            budget = config.mail.rate_limit_max_wait_seconds
            if waited_for_rate_limit + wait > budget:
                outcome = _finish_not_sent(
                    db,
                    delivery_id,
                    report,
                    f"{exc}; waiting {wait:.0f}s more (after {waited_for_rate_limit:.0f}"
                    f"s) would pass [mail].rate_limit_max_wait_seconds = {budget:g}",
                    backend,
                )
                return outcome if exc.per_message else "outage"  # one chat channel's limit
            report.rate_limited += 1
            waited_for_rate_limit += wait
            report.errors.append(f"{delivery_id}: {exc} (waiting {wait:.1f}s)")
            refusal = str(exc)
            pacer.pause(wait)
            continue
        except TransientError as exc:
            if retries >= config.mail.send_retries or not exc.retry:
                tries = f"gave up after {retries + 1} attempts: " if exc.retry else ""
                outcome = _finish_not_sent(db, delivery_id, report, f"{tries}{exc}", backend)
                return outcome if exc.per_message else "outage"
            retries += 1
            report.retries += 1
            wait = backoff_delay(retries, config.mail.retry_base_seconds)
            if exc.retry_after is not None:
                wait = max(wait, exc.retry_after)
            report.errors.append(f"{delivery_id}: {exc} (retry {retries} in {wait:.1f}s)")
            refusal = str(exc)
            pacer.pause(wait)
            continue
        except AmbiguousError as exc:
            ledger_store.mark_unknown(db, delivery_id, str(exc))
            report.unknown += 1
            report.errors.append(f"{delivery_id}: unknown: {exc}")
            return "unknown"
        except PermanentError as exc:
            return _finish_failed(db, delivery_id, report, str(exc))
        except AuthError as exc:
            ledger_store.mark_not_sent(db, delivery_id, str(exc))
            report.failed += 1
            raise DigestError(
                f"{exc}; stopped the run ({report.sent} sent so far; the rest "
                "stay queued for the next `digest send`)"
            ) from exc
        except BaseException as exc:  # a bug or an interrupt mid-call: the provider may have it
            ledger_store.mark_unknown(db, delivery_id, f"{type(exc).__name__}: {exc}")
            report.unknown += 1
            raise
        ledger_store.mark_sent(db, delivery_id, result.provider_message_id)
        report.sent += 1
        return "sent"


def _reported_meanwhile(db, delivery_id: str, report: SendReport) -> bool:
    """Right before each call: has the provider reported this row since it was queued (a
    requeued row whose first try went through after all, or a retry whose refused call did)?
    Then it is settled `sent` and not sent again. Only a call already under way when the
    report comes can no longer be stopped."""
    event = requeue_store.provider_event(db, delivery_id)
    if event is None or not requeue_store.settle_reported(db, delivery_id, event):
        return False
    report.reported += 1
    return True


def _finish_failed(db, delivery_id: str, report: SendReport, error: str) -> str:
    """The provider rejected this message: `failed`, never requeued."""
    ledger_store.mark_failed(db, delivery_id, error)
    report.failed += 1
    report.errors.append(f"{delivery_id}: failed: {error}")
    return "failed"


def _finish_not_sent(
    db, delivery_id: str, report: SendReport, why: str, backend: MailBackend | None = None
) -> str:
    """Every attempt was refused or none was made: `failed` with `not_sent`, so `digest
    deliveries retry` (or the next send of the issue, once) may put it back in the queue.
    A chat issue split in parts of which some were posted is `unknown` instead: never again."""
    partly_sent = getattr(backend, "partly_sent", None)
    if partly_sent is not None and partly_sent(delivery_id):
        ledger_store.mark_unknown(db, delivery_id, f"posted in part, then {why}")
        report.unknown += 1
        report.errors.append(f"{delivery_id}: unknown: posted in part, then {why}")
        return "unknown"
    ledger_store.mark_not_sent(db, delivery_id, why)
    report.failed += 1
    report.errors.append(f"{delivery_id}: failed: {NOT_SENT_PREFIX}{why}")
    return "failed"
