"""The delivery state machine: which moves are allowed, and the row type the store returns.

    queued ──▶ sending ──▶ sent
       │          ├──────▶ failed
       │          ├──────▶ unknown ──▶ sent | failed   (operator resolution only)
       │          └──────▶ skipped    (unsubscribed while a retry waited; nothing was accepted)
       └──▶ skipped                     (unsubscribed before its turn)

A state never moves backwards, so a row that reached `sending` is never sent again: that is
what makes delivery at-most-once. The store enforces each move with `WHERE state IN (...)`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date

STATES = ("queued", "sending", "sent", "failed", "unknown", "skipped")
FINAL_STATES = ("sent", "failed", "skipped")

# target state -> the states it may be reached from
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "sending": ("queued",),
    "skipped": ("queued", "sending"),
    "sent": ("sending", "unknown"),
    "failed": ("sending", "unknown"),
    "unknown": ("sending",),
}


def allowed_from(target: str) -> tuple[str, ...]:
    """The states a row may be in to move to `target` (empty for `queued`: rows start there)."""
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
        }
