"""SQL for the service tables: confirm tokens, consents, webhook events, runs, leases, rate limits.

Callers wrap multi-statement changes in `digest.store.transaction` (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from digest.store.db import transaction, utcnow


@contextlib.contextmanager
def eager_transaction(db, timeout_s: float = 30.0) -> Iterator[None]:
    """BEGIN IMMEDIATE that polls every 1-3 ms for the write lock, for short web requests.

    SQLite's own busy handler backs off to 100 ms sleeps, so a request can lose the race again
    and again to a run that commits and begins its next batch at once; polling finds the gap.
    Nested use becomes a savepoint, exactly like `digest.store.transaction`.
    """
    with transaction(db, eager_timeout_s=timeout_s):
        yield


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------ confirm tokens
def insert_confirm_token(
    db, subscriber_id: int, token: str, days: int, choices: dict | None = None
) -> None:
    """A new confirmation token; `choices` (the sign-up form's) wait with it until it is used."""
    now = datetime.now(UTC)
    db.execute(
        "INSERT INTO confirm_tokens (token_hash, subscriber_id, created_at, expires_at,"
        " choices_json) VALUES (?, ?, ?, ?, ?)",
        [
            token_hash(token),
            subscriber_id,
            _iso(now),
            _iso(now + timedelta(days=days)),
            None if choices is None else json.dumps(choices, ensure_ascii=False),
        ],
    )


def find_confirm_token(db, token: str) -> dict | None:
    """The token's row (by hash) when it exists, whatever its state."""
    rows = list(db.query("SELECT * FROM confirm_tokens WHERE token_hash = ?", [token_hash(token)]))
    return rows[0] if rows else None


def confirm_token_choices(row: dict) -> dict | None:
    """The sign-up choices stored with a token's row; None when it holds none."""
    stored = row.get("choices_json")
    return json.loads(stored) if stored else None


def confirm_token_usable(row: dict, now: datetime | None = None) -> bool:
    now = now or datetime.now(UTC)
    return row["used_at"] is None and datetime.fromisoformat(row["expires_at"]) > now


def use_confirm_token(db, token_id: int) -> bool:
    """Mark a token used and drop its choices; False when someone used it first (single use)."""
    cursor = db.execute(
        "UPDATE confirm_tokens SET used_at = ?, choices_json = NULL"
        " WHERE id = ? AND used_at IS NULL",
        [utcnow(), token_id],
    )
    return cursor.rowcount == 1


def supersede_confirm_tokens(db, subscriber_id: int) -> int:
    """After a confirmation, the address's other open links are spent and their choices go:
    the confirmed link's choices are the ones that count. Returns how many were open."""
    cursor = db.execute(
        "UPDATE confirm_tokens SET used_at = ?, choices_json = NULL"
        " WHERE subscriber_id = ? AND used_at IS NULL",
        [utcnow(), subscriber_id],
    )
    return cursor.rowcount


def drop_expired_choices(db, now: datetime | None = None) -> int:
    """Forget the sign-up choices of links that expired unused (nobody confirmed them)."""
    cursor = db.execute(
        "UPDATE confirm_tokens SET choices_json = NULL"
        " WHERE choices_json IS NOT NULL AND expires_at <= ?",
        [_iso(now or datetime.now(UTC))],
    )
    return cursor.rowcount


PURGE_MARKER = "purge:unconfirmed"  # rate_limits row: the day's purge has run


def forget_unconfirmed_sign_ups(db, now: datetime | None = None) -> int:
    """Once a day (the first caller does it): delete web sign-ups still pending whose every
    confirmation link has expired, and the choices of every expired link. Anyone can type
    anyone's address; without a confirmation nothing about it is kept (its consent rows
    stay, anonymous). Returns how many sign-ups went."""
    from digest.store import subscribers as subscriber_store

    now = now or datetime.now(UTC)
    if hit_rate_limit(db, PURGE_MARKER, now.strftime("%Y-%m-%d")) != 1:
        return 0
    stale = [
        row[0]
        for row in db.execute(
            "SELECT s.id FROM subscribers s JOIN confirm_tokens t ON t.subscriber_id = s.id"
            " WHERE s.status = 'pending' AND s.source = 'web' AND s.confirmed_at IS NULL"
            " GROUP BY s.id HAVING MAX(t.expires_at) <= ?",
            [_iso(now)],
        )
    ]
    for subscriber_id in stale:
        subscriber_store.delete_subscriber(db, subscriber_id)
    drop_expired_choices(db, now)
    return len(stale)


# ------------------------------------------------------------------ consents
def add_consent(
    db,
    subscriber_id: int | None,
    action: str,
    source: str,
    text_version: str,
    ip: str | None = None,
    detail: str = "",
) -> None:
    db.execute(
        "INSERT INTO consents (subscriber_id, action, at, source, text_version, ip, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [subscriber_id, action, utcnow(), source, text_version, ip, detail],
    )


def consents_for(db, subscriber_id: int) -> list[dict]:
    return list(
        db.query(
            "SELECT action, at, source, text_version, ip, detail FROM consents"
            " WHERE subscriber_id = ? ORDER BY id",
            [subscriber_id],
        )
    )


# ------------------------------------------------------------------ webhook events
def record_webhook_event(
    db,
    sg_event_id: str | None,
    dedupe_key: str,
    event: str,
    delivery_id: str | None,
    subscriber_id: int | None,
    event_at: str | None,
) -> bool:
    """Insert the event once; False when it was already recorded (a replay)."""
    cursor = db.execute(
        "INSERT INTO webhook_events (sg_event_id, dedupe_key, event, delivery_id,"
        " subscriber_id, outcome, event_at, received_at) VALUES (?, ?, ?, ?, ?, '', ?, ?)"
        " ON CONFLICT DO NOTHING",
        [sg_event_id, dedupe_key, event, delivery_id, subscriber_id, event_at, utcnow()],
    )
    return cursor.rowcount == 1


def set_webhook_outcome(db, dedupe_key: str, outcome: str) -> None:
    db.execute("UPDATE webhook_events SET outcome = ? WHERE dedupe_key = ?", [outcome, dedupe_key])


def count_webhook_events(db) -> int:
    return int(db.execute("SELECT COUNT(*) FROM webhook_events").fetchone()[0])


# ------------------------------------------------------------------ runs and stages
def start_run(db, issue_date: str, forced: bool, holder: str) -> int:
    cursor = db.execute(
        "INSERT INTO runs (issue_date, started_at, status, forced, holder)"
        " VALUES (?, ?, 'running', ?, ?) RETURNING id",
        [issue_date, utcnow(), int(forced), holder],
    )
    return int(cursor.fetchone()[0])


def finish_run(db, run_id: int, status: str, error: str | None = None) -> None:
    db.execute(
        "UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE id = ?",
        [status, utcnow(), error, run_id],
    )


def run_finished_for(db, issue_date: str) -> bool:
    """Whether a run for this issue date ended ok or with no announcement."""
    row = db.execute(
        "SELECT 1 FROM runs WHERE issue_date = ? AND status IN ('ok', 'no_announcement')",
        [issue_date],
    ).fetchone()
    return row is not None


def completed_stages(db, issue_date: str) -> dict[str, dict]:
    """Stages already finished ok for this issue date (any run): stage -> counts."""
    rows = db.query(
        "SELECT stage, counts_json FROM run_stages WHERE issue_date = ? AND status = 'ok'"
        " ORDER BY run_id",
        [issue_date],
    )
    return {row["stage"]: json.loads(row["counts_json"]) for row in rows}


def record_stage(
    db,
    run_id: int,
    issue_date: str,
    stage: str,
    status: str,
    started_at: str,
    duration_s: float | None,
    counts: dict,
    error: str | None,
) -> None:
    db.execute(
        "INSERT INTO run_stages (run_id, stage, issue_date, status, started_at,"
        " finished_at, duration_s, counts_json, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (run_id, stage) DO UPDATE SET issue_date = excluded.issue_date,"
        " status = excluded.status, started_at = excluded.started_at,"
        " finished_at = excluded.finished_at, duration_s = excluded.duration_s,"
        " counts_json = excluded.counts_json, error = excluded.error",
        [
            run_id,
            stage,
            issue_date,
            status,
            started_at,
            None if status == "running" else utcnow(),
            duration_s,
            json.dumps(counts, default=str),
            error,
        ],
    )


def recent_runs(db, limit: int = 5) -> list[dict]:
    """The last runs, newest first, each with its stages."""
    runs = list(db.query("SELECT * FROM runs ORDER BY id DESC LIMIT ?", [limit]))
    for run in runs:
        run["stages"] = [
            {**row, "counts": json.loads(row.pop("counts_json"))}
            for row in db.query(
                "SELECT stage, status, started_at, finished_at, duration_s, counts_json, error"
                " FROM run_stages WHERE run_id = ? ORDER BY started_at, rowid",
                [run["id"]],
            )
        ]
    return runs


def last_successful_ingest(db) -> dict | None:
    """The newest feed ingest that brought papers (for the stale-feed warning)."""
    if not db.table_exists("ingest_runs"):
        return None
    rows = list(
        db.query(
            "SELECT started_at, channel_date, category FROM ingest_runs"
            " WHERE source = 'feed' AND status = 'ok' ORDER BY started_at DESC LIMIT 1"
        )
    )
    return rows[0] if rows else None


# ------------------------------------------------------------------ leases
def get_lease(db, name: str) -> dict | None:
    rows = list(db.query("SELECT * FROM leases WHERE name = ?", [name]))
    return rows[0] if rows else None


def put_lease(db, name: str, holder: str, expires_at: datetime) -> None:
    db.execute(
        "INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder,"
        " acquired_at = excluded.acquired_at, expires_at = excluded.expires_at",
        [name, holder, utcnow(), _iso(expires_at)],
    )


def renew_lease(db, name: str, holder: str, expires_at: datetime) -> bool:
    cursor = db.execute(
        "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?",
        [_iso(expires_at), name, holder],
    )
    return cursor.rowcount == 1


def try_session_lock(db, name: str) -> bool:
    """PostgreSQL only: take the session advisory lock `name` if it is free (kept until the
    connection ends or `pg_advisory_unlock`)."""
    return bool(db.execute("SELECT pg_try_advisory_lock(hashtext(?))", [name]).fetchone()[0])


def release_lease(db, name: str, holder: str) -> None:
    db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", [name, holder])


# ------------------------------------------------------------------ rate limits
def hit_rate_limit(db, key: str, window_start: str) -> int:
    """Count one hit in (key, window); returns the count including this hit."""
    db.execute(
        "INSERT INTO rate_limits (key, window_start, count) VALUES (?, ?, 1)"
        " ON CONFLICT(key, window_start) DO UPDATE SET count = rate_limits.count + 1",
        [key, window_start],
    )
    row = db.execute(
        "SELECT count FROM rate_limits WHERE key = ? AND window_start = ?", [key, window_start]
    ).fetchone()
    return int(row[0])


def prune_rate_limits(db, older_than: str) -> None:
    db.execute("DELETE FROM rate_limits WHERE window_start < ?", [older_than])


def papers_listed_on(db, day: str) -> int:
    """How many papers the store holds as announced on this listing date."""
    return int(
        db.execute("SELECT COUNT(*) FROM listings WHERE announce_date = ?", [day]).fetchone()[0]
    )


def rate_count(db, key: str, window_start: str) -> int:
    row = db.execute(
        "SELECT count FROM rate_limits WHERE key = ? AND window_start = ?", [key, window_start]
    ).fetchone()
    return int(row[0]) if row else 0


def count_reputation_events(db, since: str) -> dict[str, int]:
    """Complaints and hard bounces reported by the provider since `since` (ISO UTC)."""
    row = db.execute(
        "SELECT SUM(CASE WHEN event = 'spamreport' OR outcome = 'complained' THEN 1 END),"
        " SUM(CASE WHEN event = 'bounce' AND outcome != 'soft-bounce'"
        " AND outcome != 'complained' THEN 1 END)"
        " FROM webhook_events WHERE received_at >= ?",
        [since],
    ).fetchone()
    return {"complaints": int(row[0] or 0), "bounces": int(row[1] or 0)}
