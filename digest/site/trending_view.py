"""Trending lists per day, week and month: from `digest.rank.trending`, else a fallback.

The fallback orders a period's papers by how many curated topics they matched, then by the
best match score, then in listing order, so the site always has a sensible "top" list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from itertools import chain, islice

from digest.rank.trending import trending
from digest.site.gather import SiteData


@dataclass(frozen=True)
class Ranked:
    paper_id: str
    likes: int = 0  # public, aggregated counts only (never who liked what)
    matches: int = 0  # curated topics matched


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def period_days(data: SiteData, period: str, anchor: date) -> list[date]:
    """Announcement days in the day/ISO-week/month that contains `anchor`."""
    if period == "day":
        return [anchor] if anchor in data.listings else []
    if period == "week":
        year, week, _ = anchor.isocalendar()
        return [d for d in data.days if d.isocalendar()[:2] == (year, week)]
    return [d for d in data.days if (d.year, d.month) == (anchor.year, anchor.month)]


def _fallback(data: SiteData, period: str, anchor: date, limit: int) -> list[Ranked]:
    days = period_days(data, period, anchor)
    order = dict.fromkeys(chain.from_iterable(data.new_listed.get(day, ()) for day in days))
    summary = data.match_summary
    # Papers with a topic match come first (most topics, best score, listing order); the many
    # without one follow in listing order, so only the matched few are sorted.
    matched = [(i, pid) for i, pid in enumerate(order) if pid in summary]
    matched.sort(key=lambda item: (-summary[item[1]][0], -summary[item[1]][1], item[0]))
    ranked = [pid for _, pid in matched[:limit]]
    if len(ranked) < limit:
        ranked += islice((pid for pid in order if pid not in summary), limit - len(ranked))
    return [Ranked(pid, 0, summary.get(pid, (0, 0.0))[0]) for pid in ranked]


def trending_list(
    db, data: SiteData, period: str, anchor: date, limit: int, signal_days: set[str] | None = None
) -> list[Ranked]:
    """The top papers of the period containing `anchor`, best first.

    `signal_days`: days with any reader feedback; periods without one skip the (costly)
    trending query, whose order would only come from topic matches anyway.
    """
    quiet = signal_days is not None and not any(
        d.isoformat() in signal_days for d in period_days(data, period, anchor)
    )
    if quiet:
        return _fallback(data, period, anchor, limit)
    found = []
    for item in trending(db, anchor, period=period, limit=limit):
        paper_id = getattr(item, "paper_id", None) or getattr(item, "id", None)
        if paper_id not in data.papers:
            continue
        found.append(
            Ranked(
                paper_id,
                int(getattr(item, "likes", 0) or 0),
                int(getattr(item, "matches", 0) or getattr(item, "topic_matches", 0) or 0),
            )
        )
    if len(found) < limit:  # fill up with the fallback order (topic matches, listing order)
        have = {r.paper_id for r in found}
        found += [r for r in _fallback(data, period, anchor, limit) if r.paper_id not in have]
    return found[:limit]
