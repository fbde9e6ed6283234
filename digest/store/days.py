"""Announcement days: which days listed papers, and which one is "the latest day"."""

from __future__ import annotations

from datetime import date

LISTED_TYPES = ("new", "cross")  # what makes a day a day of papers (not only replacements)


def listed_days(db) -> list[date]:
    """Announcement days that listed new or cross-listed papers, oldest first."""
    rows = db.execute(
        "SELECT DISTINCT announce_date FROM listings WHERE announce_type IN (?, ?) "
        "ORDER BY announce_date",
        list(LISTED_TYPES),
    )
    return [date.fromisoformat(r[0]) for r in rows]


def latest_announcement_day(db) -> date | None:
    """ "The latest day" every command defaults to: the newest announcement day that listed new
    or cross-listed papers (a day of only replacements has nothing to read, rank or send)."""
    row = db.execute(
        "SELECT MAX(announce_date) FROM listings WHERE announce_type IN (?, ?)", list(LISTED_TYPES)
    ).fetchone()
    return date.fromisoformat(row[0]) if row and row[0] else None
