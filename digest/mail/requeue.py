"""Put digests the provider never accepted back in the queue, so an outage does not cost a
subscriber that day's email for good.

Only rows marked `not_sent` qualify (every attempt refused, credentials refused, or an
interrupt between attempts): sending them again cannot make a second copy. A rejection
(`PermanentError`) or an `unknown` row never qualifies. The next send of the issue sends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from digest.store import requeues as requeue_store
from digest.store.ledger import Delivery, requeue_blocker

OPERATOR_REASON = "requeued by the operator (digest deliveries retry)"
AUTO_REASON = "requeued automatically by the next send of the issue"


@dataclass(frozen=True)
class PassedOver:
    delivery: Delivery
    reason: str


@dataclass
class RequeueReport:
    """What a requeue did (or, dry run, would do): rows put back and rows left failed, why."""

    dry_run: bool = False
    requeued: list[Delivery] = field(default_factory=list)
    passed_over: list[PassedOver] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "requeued": [_row(row) for row in self.requeued],
            "passed_over": [{**_row(p.delivery), "reason": p.reason} for p in self.passed_over],
        }


def _row(row: Delivery) -> dict:
    return {
        "id": row.id,
        "issue_date": row.issue_date.isoformat(),
        "subscriber_id": row.subscriber_id,
        "email": row.email,
        "error": row.error,
        "attempts": row.attempts,
    }


def requeue_not_sent(
    db,
    issue_date: date | None = None,
    *,
    subscriber_id: int | None = None,
    dry_run: bool = False,
    by: str = "operator",
) -> RequeueReport:
    """Move `failed` rows never handed to the provider back to `queued` (one transaction),
    for one issue (or all) and one subscriber (or all). `by="auto"` is the send stage's own
    requeue: at most once per row."""
    report = RequeueReport(dry_run=dry_run)
    eligible: list[Delivery] = []
    for candidate in requeue_store.not_sent_candidates(db, issue_date, subscriber_id):
        blocker = requeue_blocker(candidate, by)
        if blocker is None:
            eligible.append(candidate.delivery)
        else:
            report.passed_over.append(PassedOver(candidate.delivery, blocker))
    if dry_run:
        report.requeued = eligible
        return report
    reason = AUTO_REASON if by == "auto" else OPERATOR_REASON
    moved = set(requeue_store.requeue(db, [row.id for row in eligible], by, reason))
    for row in eligible:  # one that changed in between is reported, not silently dropped
        if row.id in moved:
            report.requeued.append(row)
        else:
            report.passed_over.append(PassedOver(row, "it changed while being requeued"))
    return report
