"""SQL for the subscribers table. Validation lives in `digest.subscribers.manage`; this is storage only.

Emails are stored normalised (see `digest.subscribers.manage.normalise_email`) and looked up
case-insensitively, so `Ann@x.org` and `ann@x.org` are the same subscriber.
"""

from __future__ import annotations

from datetime import date

from digest.errors import UsageError
from digest.models import SUBSCRIBER_STATUSES, Subscriber
from digest.store import tokens
from digest.store.db import utcnow

# Columns `update_subscriber_row` may change (status has its own function, with timestamps).
UPDATABLE_COLUMNS = (
    "name",
    "frequency",
    "weekday",
    "timezone",
    "send_hour",
    "max_papers",
    "always_send",
    "language",
)


def subscriber_from_row(row: dict, key: bytes) -> Subscriber:
    """A row as a Subscriber, its manage token derived with the database's secret `key` (the
    row holds only the token's selector: digest/store/tokens.py)."""
    last = row["last_digest_date"]
    selector = row.get("manage_selector")
    return Subscriber(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        status=row["status"],
        frequency=row["frequency"],
        weekday=row["weekday"],
        timezone=row["timezone"],
        send_hour=row["send_hour"],
        max_papers=row["max_papers"],
        always_send=bool(row["always_send"]),
        manage_token=tokens.manage_token(key, selector) if selector else None,
        source=row["source"],
        created_at=row["created_at"],
        confirmed_at=row["confirmed_at"],
        unsubscribed_at=row["unsubscribed_at"],
        last_digest_date=date.fromisoformat(last) if last else None,
        language=row.get("language") or "en",
    )


def _one(db, sql: str, params: list) -> Subscriber | None:
    rows = list(db.query(sql, params))
    return subscriber_from_row(rows[0], tokens.database_key(db)) if rows else None


def insert_subscriber(db, values: dict) -> int:
    """Insert one already-validated subscriber row (a fresh manage-token selector is added);
    returns its id."""
    if "manage_token" in values:
        raise UsageError("manage tokens are derived, never stored: leave manage_token out")
    values = {"manage_selector": tokens.new_selector(), **values}
    values.setdefault("created_at", utcnow())
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    cursor = db.execute(
        f"INSERT INTO subscribers ({cols}) VALUES ({marks}) RETURNING id",  # noqa: S608 (our names)
        list(values.values()),
    )
    return int(cursor.fetchone()[0])


def get_subscriber(db, subscriber_id: int) -> Subscriber | None:
    return _one(db, "SELECT * FROM subscribers WHERE id = ?", [subscriber_id])


def get_subscriber_by_email(db, email: str) -> Subscriber | None:
    """Case-insensitive lookup of a (trimmed) address."""
    return _one(db, "SELECT * FROM subscribers WHERE email = ? COLLATE NOCASE", [email.strip()])


def get_subscriber_by_token(db, token: str) -> Subscriber | None:
    """Whose manage token this is: a current token by its selector once its MAC checks out, an
    older one (in emails sent before selectors) by its keyed hash. None for anything else."""
    if not token:
        return None
    key = tokens.database_key(db)
    selector = tokens.selector_of(key, token)
    if selector is not None:
        return _one(db, "SELECT * FROM subscribers WHERE manage_selector = ?", [selector])
    hashed = tokens.legacy_token_hash(key, token)
    return _one(db, "SELECT * FROM subscribers WHERE legacy_token_hash = ?", [hashed])


def list_subscribers(
    db, status: str | None = None, id_range: tuple[int, int] | None = None
) -> list[Subscriber]:
    """All subscribers (or those with one status; with ids in `id_range`, a worker's share),
    oldest first."""
    if status is not None and status not in SUBSCRIBER_STATUSES:
        raise UsageError(
            f"unknown subscriber status {status!r} (known: {', '.join(SUBSCRIBER_STATUSES)})"
        )
    where: list[str] = ["1 = 1"]
    params: list[object] = []
    if status is not None:
        where.append("status = ?")
        params.append(status)
    if id_range is not None:
        where.append("id BETWEEN ? AND ?")
        params += list(id_range)
    sql = f"SELECT * FROM subscribers WHERE {' AND '.join(where)} ORDER BY id"  # noqa: S608
    key = tokens.database_key(db)
    return [subscriber_from_row(row, key) for row in db.query(sql, params)]


def count_subscribers_by_status(db) -> dict[str, int]:
    rows = db.execute("SELECT status, COUNT(*) FROM subscribers GROUP BY status").fetchall()
    return {status: count for status, count in rows}


def update_subscriber_row(db, subscriber_id: int, changes: dict) -> None:
    """Write already-validated column values."""
    unknown = set(changes) - set(UPDATABLE_COLUMNS)
    if unknown:
        raise UsageError(f"cannot change subscriber field(s): {', '.join(sorted(unknown))}")
    if not changes:
        return
    assignments = ", ".join(f"{column} = ?" for column in changes)
    db.execute(
        f"UPDATE subscribers SET {assignments} WHERE id = ?",  # noqa: S608 (checked names)
        [*changes.values(), subscriber_id],
    )


def set_status(db, subscriber_id: int, status: str) -> Subscriber:
    """Move a subscriber to a status; stamps confirmed_at / unsubscribed_at as it goes.

    Becoming active stamps confirmed_at (once) and clears unsubscribed_at; becoming
    unsubscribed stamps unsubscribed_at. Unknown subscriber or status -> UsageError.
    """
    if status not in SUBSCRIBER_STATUSES:
        raise UsageError(
            f"unknown subscriber status {status!r} (known: {', '.join(SUBSCRIBER_STATUSES)})"
        )
    now = utcnow()
    if status == "active":
        sql = (
            "UPDATE subscribers SET status = ?, confirmed_at = COALESCE(confirmed_at, ?),"
            " unsubscribed_at = NULL WHERE id = ?"
        )
        params = [status, now, subscriber_id]
    elif status == "unsubscribed":
        sql = "UPDATE subscribers SET status = ?, unsubscribed_at = ? WHERE id = ?"
        params = [status, now, subscriber_id]
    else:
        sql = "UPDATE subscribers SET status = ? WHERE id = ?"
        params = [status, subscriber_id]
    cursor = db.execute(sql, params)
    if cursor.rowcount == 0:
        raise UsageError(f"no subscriber with id {subscriber_id}")
    found = get_subscriber(db, subscriber_id)
    assert found is not None
    return found


def delete_subscriber(db, subscriber_id: int) -> bool:
    """Delete a subscriber; their personal topics, topic links and feedback go with them."""
    cursor = db.execute("DELETE FROM subscribers WHERE id = ?", [subscriber_id])
    return cursor.rowcount > 0


def advance_last_digest_date(db, subscriber_id: int, day: date) -> None:
    """Record a sent digest's issue date, never moving it back: a held older issue sent after
    a newer one must not reopen the newer window (papers would be offered twice)."""
    db.execute(
        "UPDATE subscribers SET last_digest_date = ? WHERE id = ? "
        "AND (last_digest_date IS NULL OR last_digest_date < ?)",
        [day.isoformat(), subscriber_id, day.isoformat()],
    )


def set_last_digest_date(db, subscriber_id: int, day: date) -> None:
    """Record the issue date of the last digest sent (drives the next candidate window)."""
    db.execute(
        "UPDATE subscribers SET last_digest_date = ? WHERE id = ?",
        [day.isoformat(), subscriber_id],
    )
