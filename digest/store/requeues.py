"""SQL for putting `failed` rows the provider never accepted (`not_sent = 1`) back in the
queue, and for their requeue history (`delivery_requeues`).

The requeue re-checks every condition in its own UPDATE, inside one write transaction, so a
subscriber who unsubscribes or a row that moves between the look and the change is left alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from digest.store.db import transaction, utcnow
from digest.store.deliveries import DELIVERY_COLUMNS, DELIVERY_FROM, delivery_from_row
from digest.store.ledger import RequeueCandidate, allowed_from
from digest.store.subscribers import advance_last_digest_date

# Another row of the same subscriber and issue that the provider has, may have, or is being
# given. UNIQUE(subscriber_id, issue_date) rules it out today; the check keeps a requeue safe
# should that ever change.
_OTHER_ROW = (
    "SELECT o.state FROM deliveries o WHERE o.subscriber_id = d.subscriber_id"
    " AND o.issue_date = d.issue_date AND o.id != d.id"
    " AND o.state IN ('sent', 'sending', 'unknown') LIMIT 1"
)
# Any provider event (processed, delivered, deferred, bounce, ...) names a message the
# provider accepted, whatever the answer to the request said (a 5xx from a gateway in front of
# it). Not correlated, so SQLite reads webhook_events once, not once per row.
_PROVIDER_REPORTED = (
    "d.id IN (SELECT delivery_id FROM webhook_events WHERE delivery_id IS NOT NULL)"
)
_FIRST_EVENT = (
    "SELECT w.event FROM webhook_events w WHERE w.delivery_id = d.id ORDER BY w.id LIMIT 1"
)
_REQUEUABLE = " AND ".join(
    (
        "d.not_sent = 1",
        "d.message IS NOT NULL",
        "(SELECT status FROM subscribers WHERE id = d.subscriber_id) = 'active'",
        f"NOT EXISTS ({_OTHER_ROW})",
    )
)


@dataclass(frozen=True)
class RequeueEntry:
    """One line of a row's requeue history."""

    requeued_at: str
    requeued_by: str  # operator | auto
    reason: str
    failed_error: str | None
    failed_attempts: int


def not_sent_candidates(
    db, issue_date: date | None = None, subscriber_id: int | None = None
) -> list[RequeueCandidate]:
    """Failed rows marked `not_sent`, oldest first, with what decides their requeue."""
    clauses = ["d.state = 'failed'", "d.not_sent = 1"]
    params: list[object] = []
    if issue_date is not None:
        clauses.append("d.issue_date = ?")
        params.append(issue_date.isoformat())
    if subscriber_id is not None:
        clauses.append("d.subscriber_id = ?")
        params.append(subscriber_id)
    sql = (
        f"SELECT {DELIVERY_COLUMNS}, s.status AS subscriber_status,"  # noqa: S608
        " d.message IS NOT NULL AS has_message,"
        f" ({_OTHER_ROW}) AS other_row_state,"
        " (SELECT count(*) FROM delivery_requeues r WHERE r.delivery_id = d.id"
        "  AND r.requeued_by = 'auto') AS auto_requeues,"
        f" CASE WHEN {_PROVIDER_REPORTED} THEN ({_FIRST_EVENT}) END AS provider_event"
        f" {DELIVERY_FROM} WHERE {' AND '.join(clauses)} ORDER BY d.rowid"
    )
    return [
        RequeueCandidate(
            delivery=delivery_from_row(row),
            subscriber_status=row["subscriber_status"],
            has_message=bool(row["has_message"]),
            other_row_state=row["other_row_state"],
            auto_requeues=row["auto_requeues"],
            provider_event=row["provider_event"],
        )
        for row in db.query(sql, params)
    ]


def requeue(db, delivery_ids: Iterable[str], by: str, reason: str) -> list[str]:
    """failed (not_sent) -> queued for each row that still qualifies, each recorded in its
    history with `reason`, in one transaction. Returns the ids that moved."""
    sources = ", ".join(f"'{state}'" for state in allowed_from("queued"))
    moved = []
    now = utcnow()
    ids = list(delivery_ids)
    with transaction(db):  # the write lock: no webhook event is stored while this runs
        reported = _provider_reported(db, ids)
        for delivery_id in ids:
            if delivery_id in reported:
                continue
            before = db.execute(
                "SELECT error, attempts FROM deliveries WHERE id = ?", [delivery_id]
            ).fetchone()
            cursor = db.execute(
                "UPDATE deliveries AS d SET state = 'queued', not_sent = 0, error = NULL,"  # noqa: S608
                " finished_at = NULL, updated_at = ?"
                f" WHERE d.id = ? AND d.state IN ({sources}) AND {_REQUEUABLE}",
                [now, delivery_id],
            )
            if cursor.rowcount != 1:
                continue
            db.execute(
                "INSERT INTO delivery_requeues (delivery_id, requeued_at, requeued_by, reason,"
                " failed_error, failed_attempts) VALUES (?, ?, ?, ?, ?, ?)",
                [delivery_id, now, by, reason, before[0], before[1]],
            )
            moved.append(delivery_id)
    return moved


def _provider_reported(db, delivery_ids: list[str]) -> set[str]:
    """The ids among `delivery_ids` that have a webhook event: one read of webhook_events,
    not one per row."""
    rows = db.execute(
        "SELECT DISTINCT delivery_id FROM webhook_events"
        " WHERE delivery_id IN (SELECT value FROM json_each(?))",
        [json.dumps(delivery_ids)],
    )
    return {row[0] for row in rows}


def provider_event(db, delivery_id: str) -> str | None:
    """The first provider event (processed, delivered, bounce, ...) recorded for this row, or
    None: the provider has never reported it."""
    row = db.execute(
        "SELECT event FROM webhook_events WHERE delivery_id = ? ORDER BY id LIMIT 1",
        [delivery_id],
    ).fetchone()
    return row[0] if row else None


def settle_reported(db, delivery_id: str, event: str) -> bool:
    """sending -> sent without a call: the provider reported this row (`event`) while it
    waited for a retry or a requeued attempt, so an earlier attempt went through after all."""
    now = utcnow()
    with transaction(db):
        row = db.execute(
            "SELECT subscriber_id, issue_date FROM deliveries WHERE id = ?", [delivery_id]
        ).fetchone()
        moved = db.execute(
            "UPDATE deliveries SET state = 'sent', provider_message_id = ?, finished_at = ?,"
            " updated_at = ?, message = NULL, error = NULL, not_sent = 0"
            " WHERE id = ? AND state = 'sending'",
            [f"reported: {event} webhook event", now, now, delivery_id],
        ).rowcount
        if moved and row:
            advance_last_digest_date(db, row[0], date.fromisoformat(row[1]))
    return bool(moved)


def requeue_history(db, delivery_id: str) -> list[RequeueEntry]:
    """Every requeue of one row, oldest first."""
    return [
        RequeueEntry(
            requeued_at=row["requeued_at"],
            requeued_by=row["requeued_by"],
            reason=row["reason"],
            failed_error=row["failed_error"],
            failed_attempts=row["failed_attempts"],
        )
        for row in db.query(
            "SELECT * FROM delivery_requeues WHERE delivery_id = ? ORDER BY id", [delivery_id]
        )
    ]
