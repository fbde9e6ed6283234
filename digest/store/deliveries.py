"""SQL for the delivery ledger (`deliveries`). Every state change names the state(s) it moves
from in its WHERE clause, so a row can never go backwards, even with two senders at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from digest.errors import UsageError
from digest.store.db import transaction, utcnow
from digest.store.jobs import running_send_claimers
from digest.store.ledger import NOT_SENT_PREFIX, STATES, Delivery, allowed_from
from digest.store.subscribers import advance_last_digest_date

DELIVERY_COLUMNS = (
    "d.id, d.subscriber_id, d.issue_date, d.state, d.backend, d.subject, d.size_bytes, "
    "d.provider_message_id, d.attempts, d.error, d.created_at, d.updated_at, d.sending_at, "
    "d.finished_at, s.email, d.not_sent, "
    "(SELECT count(*) FROM delivery_requeues r WHERE r.delivery_id = d.id) AS requeues"
)
DELIVERY_FROM = "FROM deliveries d LEFT JOIN subscribers s ON s.id = d.subscriber_id"


@dataclass(frozen=True)
class NewDelivery:
    """A rendered message ready to be queued."""

    id: str
    subscriber_id: int
    issue_date: date
    subject: str
    message: bytes


def delivery_from_row(row: dict) -> Delivery:
    return Delivery(
        id=row["id"],
        subscriber_id=row["subscriber_id"],
        issue_date=date.fromisoformat(row["issue_date"]),
        state=row["state"],
        backend=row["backend"],
        subject=row["subject"],
        size_bytes=row["size_bytes"],
        provider_message_id=row["provider_message_id"],
        attempts=row["attempts"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        sending_at=row["sending_at"],
        finished_at=row["finished_at"],
        email=row.get("email"),
        not_sent=bool(row.get("not_sent")),
        requeues=row.get("requeues") or 0,
    )


def queue_deliveries(db, new: Iterable[NewDelivery]) -> int:
    """Insert queued rows in one transaction; a (subscriber, issue) that has a row is left alone.

    Returns how many rows were created.
    """
    now = utcnow()
    created = 0
    with transaction(db):
        for item in new:
            cursor = db.execute(
                "INSERT INTO deliveries (id, subscriber_id, issue_date, state, subject,"
                " size_bytes, message, created_at, updated_at)"
                " VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [
                    item.id,
                    item.subscriber_id,
                    item.issue_date.isoformat(),
                    item.subject,
                    len(item.message),
                    item.message,
                    now,
                    now,
                ],
            )
            created += cursor.rowcount
    return created


def _move(
    db,
    delivery_id: str,
    target: str,
    sets: dict[str, object] | None = None,
    *,
    only_from: tuple[str, ...] | None = None,
) -> bool:
    """Move one row to `target` if it is in a state allowed to get there (narrowed to
    `only_from` when given). Caller holds a tx."""
    sources = allowed_from(target)
    if only_from is not None:
        sources = tuple(state for state in sources if state in only_from)
    now = utcnow()
    values: dict[str, object] = {"state": target, "updated_at": now, **(sets or {})}
    assignments = ", ".join(f"{column} = ?" for column in values)
    marks = ", ".join("?" for _ in sources)
    cursor = db.execute(
        f"UPDATE deliveries SET {assignments} WHERE id = ? AND state IN ({marks})",  # noqa: S608
        [*values.values(), delivery_id, *sources],
    )
    return cursor.rowcount == 1


def claim(db, delivery_id: str, backend: str, claimer: str | None = None) -> str:
    """queued -> sending, committed before the provider is called; `claimer` says who sends
    it ("job:<id>" or a lease holder), so an interrupted claim is recovered by the right one.

    Re-checks the subscriber in the same transaction: one who is no longer active moves the
    row to `skipped` instead. Returns "claimed", "skipped" or "taken" (not queued any more).
    """
    now = utcnow()
    with transaction(db):
        sql = (
            "SELECT d.state, s.status FROM deliveries d LEFT JOIN subscribers s"  # noqa: S608
            " ON s.id = d.subscriber_id WHERE d.id = ?" + db.skip_locked("d")
        )
        rows = list(db.query(sql, [delivery_id]))
        if not rows or rows[0]["state"] != "queued":
            return "taken"
        status = rows[0]["status"]
        if status != "active":
            _move(
                db,
                delivery_id,
                "skipped",
                {
                    "error": f"subscriber is {status or 'deleted'}",
                    "finished_at": now,
                    "message": None,
                },
            )
            return "skipped"
        sets = {"backend": backend, "sending_at": now, "attempts": 1, "claimed_by": claimer}
        moved = _move(db, delivery_id, "sending", sets)
        return "claimed" if moved else "taken"


def skip_if_unsubscribed(db, delivery_id: str) -> bool:
    """sending -> skipped when the subscriber is no longer active: checked before each retry,
    whose wait (a backoff, a 429) can be minutes. Only call it between attempts that the
    provider refused: a row whose call may have been accepted is never skipped."""
    with transaction(db):
        rows = list(
            db.query(
                "SELECT s.status FROM deliveries d LEFT JOIN subscribers s"
                " ON s.id = d.subscriber_id WHERE d.id = ? AND d.state = 'sending'",
                [delivery_id],
            )
        )
        if not rows or rows[0]["status"] == "active":
            return False
        status = rows[0]["status"] or "deleted"
        sets: dict[str, object] = {
            "error": f"subscriber is {status}",
            "finished_at": utcnow(),
            "message": None,
        }
        return _move(db, delivery_id, "skipped", sets)


def record_attempt(db, delivery_id: str, error: str) -> None:
    """A transient failure while `sending`: count it and keep the reason (state unchanged)."""
    with transaction(db):
        db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, error = ?, updated_at = ?"
            " WHERE id = ? AND state = 'sending'",
            [error, utcnow(), delivery_id],
        )


def roll_back_interrupted(db) -> None:
    """End a write transaction an interrupt (Ctrl-C, SIGTERM) cut short between its BEGIN and
    its end, so the row's next move commits instead of nesting in it and being lost at exit.
    The delivery loop holds no transaction of its own: any open one is such a leftover."""
    if db.in_transaction:
        db.execute("ROLLBACK")


def mark_sent(db, delivery_id: str, provider_message_id: str) -> bool:
    """sending|unknown -> sent, and stamp the subscriber's last digest date, in one tx."""
    now = utcnow()
    with transaction(db):
        rows = list(
            db.query("SELECT subscriber_id, issue_date FROM deliveries WHERE id = ?", [delivery_id])
        )
        moved = _move(
            db,
            delivery_id,
            "sent",
            {
                "provider_message_id": provider_message_id,
                "finished_at": now,
                "message": None,
                "error": None,
            },
        )
        if moved and rows:
            advance_last_digest_date(
                db, rows[0]["subscriber_id"], date.fromisoformat(rows[0]["issue_date"])
            )
    return moved


def mark_accepted_by_provider(db, delivery_id: str, provider_message_id: str) -> bool:
    """The provider's own report that it accepted the message (SendGrid's processed/delivered
    webhook): -> sent, with the subscriber's last digest date, from `unknown`, from `failed`
    marked not sent (every try was answered with an error, yet the message went through), or
    from `queued` after a requeue (the report came late). Sending it again would be a second
    copy. Returns False when the row is in none of those states."""
    with transaction(db):
        row = db.execute(
            "SELECT subscriber_id, issue_date FROM deliveries WHERE id = ?", [delivery_id]
        ).fetchone()
        now = utcnow()
        moved = db.execute(
            "UPDATE deliveries SET state = 'sent', provider_message_id = ?, finished_at = ?,"
            " updated_at = ?, message = NULL, error = NULL, not_sent = 0 WHERE id = ? AND ("
            " state = 'unknown' OR (state = 'failed' AND not_sent = 1) OR (state = 'queued'"
            " AND EXISTS (SELECT 1 FROM delivery_requeues r WHERE r.delivery_id = deliveries.id)))",
            [provider_message_id, now, now, delivery_id],
        ).rowcount
        if moved and row:
            advance_last_digest_date(db, row[0], date.fromisoformat(row[1]))
    return bool(moved)


def mark_failed(db, delivery_id: str, error: str) -> bool:
    """sending|unknown -> failed: the provider refused this message (or may have it: an
    operator's resolution of `unknown`); it is never requeued."""
    with transaction(db):
        sets = {"error": error, "finished_at": utcnow(), "not_sent": 0}
        return _move(db, delivery_id, "failed", sets)


def mark_not_sent(db, delivery_id: str, why: str) -> bool:
    """sending -> failed with `not_sent`: the provider never accepted this message (an outage,
    refused credentials, an interrupt between attempts), so it may be requeued."""
    with transaction(db):
        sets = {"error": NOT_SENT_PREFIX + why, "finished_at": utcnow(), "not_sent": 1}
        return _move(db, delivery_id, "failed", sets, only_from=("sending",))


def mark_unknown(db, delivery_id: str, error: str) -> bool:
    """sending -> unknown: the provider may have it. Never resent; an operator resolves it."""
    with transaction(db):
        return _move(db, delivery_id, "unknown", {"error": error})


def recover_interrupted(db, issue_date: date | None = None) -> list[str]:
    """Rows left in `sending` by a crashed run become `unknown`, except those of send jobs a
    worker is running now (PostgreSQL: they are in flight). Returns their ids."""
    where, params = "state = 'sending'", []
    if issue_date is not None:
        where += " AND issue_date = ?"
        params.append(issue_date.isoformat())
    with transaction(db):
        rows = list(db.query(f"SELECT id, claimed_by FROM deliveries WHERE {where}", params))  # noqa: S608
        running = running_send_claimers(db)  # read after: a job that claimed one is 'doing'
        ids = [row["id"] for row in rows if row["claimed_by"] not in running]
        for delivery_id in ids:
            _move(
                db,
                delivery_id,
                "unknown",
                {
                    "error": "interrupted while sending (the process stopped before the provider "
                    "answered); it may or may not have been delivered"
                },
            )
    return ids


def resolve(db, delivery_id: str, outcome: str) -> Delivery:
    """Operator resolution of an `unknown` row: outcome is "sent" or "failed"."""
    if outcome not in ("sent", "failed"):
        raise UsageError(f"a delivery resolves to sent or failed, not {outcome!r}")
    found = get_delivery(db, delivery_id)
    if found is None:
        raise UsageError(f"no delivery with id {delivery_id}")
    if found.state != "unknown":
        raise UsageError(
            f"delivery {delivery_id} is {found.state}; only unknown deliveries can be resolved"
        )
    if outcome == "sent":
        moved = mark_sent(db, delivery_id, found.provider_message_id or "resolved-by-operator")
    else:
        moved = mark_failed(db, delivery_id, (found.error or "") + " [resolved as failed]")
    if not moved:  # pragma: no cover - a concurrent resolution
        raise UsageError(f"delivery {delivery_id} changed while resolving it; look again")
    resolved = get_delivery(db, delivery_id)
    assert resolved is not None
    return resolved


def get_delivery(db, delivery_id: str) -> Delivery | None:
    rows = list(
        db.query(f"SELECT {DELIVERY_COLUMNS} {DELIVERY_FROM} WHERE d.id = ?", [delivery_id])
    )  # noqa: S608
    return delivery_from_row(rows[0]) if rows else None


def load_message(db, delivery_id: str) -> bytes | None:
    rows = list(db.query("SELECT message FROM deliveries WHERE id = ?", [delivery_id]))
    return rows[0]["message"] if rows else None


def list_deliveries(
    db, state: str | None = None, issue_date: date | None = None, limit: int | None = None
) -> list[Delivery]:
    """Ledger rows, oldest first, optionally one state and/or one issue."""
    if state is not None and state not in STATES:
        raise UsageError(f"unknown delivery state {state!r} (known: {', '.join(STATES)})")
    clauses, params = [], []
    if state is not None:
        clauses.append("d.state = ?")
        params.append(state)
    if issue_date is not None:
        clauses.append("d.issue_date = ?")
        params.append(issue_date.isoformat())
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT {DELIVERY_COLUMNS} {DELIVERY_FROM} {where} ORDER BY d.created_at, d.rowid"  # noqa: S608
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [delivery_from_row(row) for row in db.query(sql, params)]


def subscriber_ids_with_delivery(
    db, issue_date: date, id_range: tuple[int, int] | None = None
) -> set[int]:
    """Subscribers who already have a row (any state) for this issue: never rendered again
    (those with ids in `id_range` only, when given)."""
    sql = "SELECT subscriber_id FROM deliveries WHERE issue_date = ?"
    params: list[object] = [issue_date.isoformat()]
    if id_range is not None:
        sql += " AND subscriber_id BETWEEN ? AND ?"
        params += list(id_range)
    return {row["subscriber_id"] for row in db.query(sql, params)}


def count_by_state(db, issue_date: date | None = None) -> dict[str, int]:
    where, params = ("WHERE issue_date = ?", [issue_date.isoformat()]) if issue_date else ("", [])
    counts = dict.fromkeys(STATES, 0)
    for row in db.query(
        f"SELECT state, count(*) AS n FROM deliveries {where} GROUP BY state",  # noqa: S608
        params,
    ):
        counts[row["state"]] = row["n"]
    return counts


def queued_send_times(
    db, issue_date: date, only: Iterable[str] | None = None
) -> list[tuple[str, str, int | None]]:
    """Queued rows of one issue (of `only` among them: a send job's share), in queue order,
    with their subscriber's time zone and local send hour: (id, timezone, send_hour or None)."""
    sql = (
        "SELECT d.id, s.timezone, s.send_hour FROM deliveries d "
        "LEFT JOIN subscribers s ON s.id = d.subscriber_id "
        "WHERE d.issue_date = ? AND d.state = 'queued'"
    )
    params: list[object] = [issue_date.isoformat()]
    if only is not None:
        sql += " AND d.id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(sorted(only)))
    return [
        (row["id"], row["timezone"] or "UTC", row["send_hour"])
        for row in db.query(sql + " ORDER BY d.rowid", params)
    ]


def issue_dates_with_queued(db, since: date) -> list[date]:
    """Issues from `since` on that still have queued rows (e.g. held for a local hour), or
    rows left `sending` by a pass that was killed (the next pass turns them `unknown`)."""
    return [
        date.fromisoformat(row["issue_date"])
        for row in db.query(
            "SELECT DISTINCT issue_date FROM deliveries WHERE state IN ('queued', 'sending') "
            "AND issue_date >= ? ORDER BY issue_date",
            [since.isoformat()],
        )
    ]


def sent_finish_times(db, since: str) -> list[str]:
    """`finished_at` of every delivery sent at or after `since` (ISO UTC), oldest first."""
    return [
        row["finished_at"]
        for row in db.query(
            "SELECT finished_at FROM deliveries WHERE state = 'sent' AND finished_at >= ? "
            "ORDER BY finished_at",
            [since],
        )
    ]


def count_sent_since(db, since: str) -> int:
    return int(
        db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE state = 'sent' AND finished_at >= ?", [since]
        ).fetchone()[0]
    )
