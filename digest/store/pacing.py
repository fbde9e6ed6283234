"""SQL for the fleet's shared send limits: the next send slot, and how many sends are in
flight or done in a window (both read by every sender before its claim)."""

from __future__ import annotations


def next_send_slot(db, interval_s: float, now: float, name: str = "mail") -> float:
    """Reserve the next slot `interval_s` long; returns the epoch second it starts."""
    row = db.execute(
        "INSERT INTO send_pacing (name, next_at) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET next_at = CASE"
        " WHEN send_pacing.next_at > ? THEN send_pacing.next_at + ? ELSE ? END"
        " RETURNING next_at",
        [name, now + interval_s, now, interval_s, now + interval_s],
    ).fetchone()
    return float(row[0]) - interval_s


def sends_since(db, since: str) -> int:
    """Rows sent at or after `since` (ISO UTC) plus rows being sent now (they may count)."""
    row = db.execute(
        "SELECT (SELECT COUNT(*) FROM deliveries WHERE state = 'sent' AND finished_at >= ?)"
        " + (SELECT COUNT(*) FROM deliveries WHERE state = 'sending')",
        [since],
    ).fetchone()
    return int(row[0])
