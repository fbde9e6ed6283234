"""The delivery state machine: which moves are allowed, and the row type the store returns.

    queued ──▶ sending ──▶ sent
       │          ├──────▶ failed
       │          ├──────▶ unknown ──▶ sent | failed   (an operator, or the report below)
       │          └──────▶ skipped    (unsubscribed while a retry waited; nothing was accepted)
       └──▶ skipped                     (unsubscribed before its turn)
    failed ──▶ queued   only a `not_sent` row: the provider never accepted it (requeue)
    unknown | failed (not_sent) | queued (requeued) ──▶ sent   only on the provider's own
                        report that it accepted the message (SendGrid's processed/delivered)
    sending ──▶ sent   without a call, when any provider event for the row was recorded
                        before the (re)try: an earlier try went through after all

A state never moves backwards, except the requeue, so a row the provider may have accepted
is never sent again: that is what makes delivery at-most-once. The store enforces each move
with `WHERE state IN (...)`, and the requeue also with `not_sent = 1`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date

STATES = ("queued", "sending", "sent", "failed", "unknown", "skipped")
# A `failed` row that was never handed to the provider is stored with `not_sent = 1` (the
# contract) and an error starting with this prefix (for people reading the ledger).
NOT_SENT_PREFIX = "not sent: "
AUTO_REQUEUE_LIMIT = 1  # automatic requeues per row (the send stage's); an operator's are free
FINAL_STATES = ("sent", "failed", "skipped")

# target state -> the states it may be reached from
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "sending": ("queued",),
    "skipped": ("queued", "sending"),
    "sent": ("sending", "unknown"),
    "failed": ("sending", "unknown"),
    "unknown": ("sending",),
    "queued": ("failed",),  # a requeue: only with not_sent = 1 (see digest/store/requeues.py)
}


def allowed_from(target: str) -> tuple[str, ...]:
    """The states a row may be in to move to `target`."""
    if target not in STATES:
        raise ValueError(f"unknown delivery state {target!r}")
    return ALLOWED_FROM.get(target, ())


def can_move(current: str, target: str) -> bool:
    return current in allowed_from(target)


def new_delivery_id() -> str:
    """An opaque 128-bit id: says nothing about the subscriber, safe in headers and custom_args."""
    return "d_" + secrets.token_hex(16)


@dataclass(frozen=True)
class Delivery:
    """One ledger row (without the stored message bytes)."""

    id: str
    subscriber_id: int
    issue_date: date
    state: str
    backend: str = ""
    subject: str = ""
    size_bytes: int = 0
    provider_message_id: str | None = None
    attempts: int = 0
    error: str | None = None
    created_at: str = ""
    updated_at: str = ""
    sending_at: str | None = None
    finished_at: str | None = None
    email: str | None = None  # joined from subscribers for operator listings
    not_sent: bool = False  # failed, and the provider never accepted it: may be requeued
    requeues: int = 0  # times it was put back in the queue (delivery_requeues)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "subscriber_id": self.subscriber_id,
            "email": self.email,
            "issue_date": self.issue_date.isoformat(),
            "state": self.state,
            "backend": self.backend,
            "subject": self.subject,
            "size_bytes": self.size_bytes,
            "provider_message_id": self.provider_message_id,
            "attempts": self.attempts,
            "error": self.error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "sending_at": self.sending_at,
            "finished_at": self.finished_at,
            "not_sent": self.not_sent,
            "requeues": self.requeues,
        }


@dataclass(frozen=True)
class RequeueCandidate:
    """A `failed`, `not_sent` row and what decides whether it may go back in the queue."""

    delivery: Delivery
    subscriber_status: str | None  # None: the subscriber was deleted
    has_message: bool
    other_row_state: str | None  # a sent/sending/unknown row for the same subscriber and issue
    auto_requeues: int
    provider_event: str | None = None  # a webhook event for this delivery: it was accepted


def requeue_blocker(candidate: RequeueCandidate, by: str) -> str | None:
    """Why this row must stay failed, or None when requeuing it cannot send a second copy
    nor mail someone who left. `by` is "operator" or "auto" (bounded per row)."""
    if candidate.provider_event is not None:
        return (
            f"the provider reported it ({candidate.provider_event} webhook event): "
            "it was accepted after all"
        )
    if candidate.subscriber_status != "active":
        return f"subscriber is {candidate.subscriber_status or 'deleted'}"
    if candidate.other_row_state is not None:
        return f"the subscriber has a {candidate.other_row_state} row for this issue"
    if not candidate.has_message:
        return "the rendered message is no longer stored"
    if by == "auto" and candidate.auto_requeues >= AUTO_REQUEUE_LIMIT:
        return (
            f"already requeued automatically {candidate.auto_requeues} time(s); "
            "`digest deliveries retry` puts it back"
        )
    return None
