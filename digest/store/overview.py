"""SQL for `digest status`'s picture of the day: the last plan, the last send (its counts by
state), the last site build, and whether a scheduler holds its lease. Read-only."""

from __future__ import annotations

from datetime import date

from digest.store.deliveries import count_by_state


def last_plan(db) -> dict | None:
    """The issue planned most recently: its date, how many digests, how many picks, when."""
    rows = list(
        db.query(
            "SELECT issue_date, COUNT(*) AS digests, SUM(picked) AS picks,"
            " MAX(created_at) AS planned_at FROM plans GROUP BY issue_date"
            " ORDER BY planned_at DESC, issue_date DESC LIMIT 1"
        )
    )
    if not rows:
        return None
    row = rows[0]
    return {**row, "picks": int(row["picks"] or 0)}


def last_send(db) -> dict | None:
    """The issue whose deliveries changed last: its counts by state, backend, last finish."""
    rows = list(
        db.query(
            "SELECT issue_date, MAX(updated_at) AS updated_at, MAX(finished_at) AS finished_at"
            " FROM deliveries GROUP BY issue_date ORDER BY updated_at DESC, issue_date DESC"
            " LIMIT 1"
        )
    )
    if not rows:
        return None
    row = rows[0]

    backends = [
        r["backend"]
        for r in db.query(
            "SELECT DISTINCT backend FROM deliveries WHERE issue_date = ? AND backend != ''"
            " ORDER BY backend",
            [row["issue_date"]],
        )
    ]
    states = count_by_state(db, date.fromisoformat(row["issue_date"]))
    return {**row, "backends": backends, "states": states}


def last_site_build(db) -> dict | None:
    """The newest site build that finished (a build still running or killed has no finish)."""
    rows = list(
        db.query(
            "SELECT started_at, finished_at, full, pages_rendered, pages_reused, seconds"
            " FROM site_builds WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1"
        )
    )
    return {**rows[0], "full": bool(rows[0]["full"])} if rows else None


def lease_holder(db, name: str) -> dict | None:
    """Who holds the named lease and until when (expired leases included: the caller judges)."""
    rows = list(db.query("SELECT holder, expires_at FROM leases WHERE name = ?", [name]))
    return rows[0] if rows else None
