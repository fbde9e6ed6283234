"""Who is due for an issue, and which announcement days their digest covers.

Daily readers get every issue; weekly readers the issue on their weekday, or the first one
after it when that day had none for them. Pure date logic plus two store reads.
"""

from __future__ import annotations

from datetime import date, timedelta

from digest.models import Subscriber
from digest.store import ranking as rank_store
from digest.store.subscribers import list_subscribers

MAX_WINDOW_DAYS = {"daily": 7, "weekly": 14}  # a long pause never floods one email


def is_due(subscriber: Subscriber, issue_date: date, previous_issue: date | None = None) -> bool:
    """Daily: every issue. Weekly: the issue on their weekday, or, when that day had no issue
    for them (a weekend weekday, a holiday, a failed run), the first issue after it.

    `previous_issue` is their latest planned issue before this one, if any: an issue planned
    (even an empty one) counts as served, so a weekly reader is due once a week, not every day
    until something is sent.
    """
    if subscriber.status != "active":
        return False
    if subscriber.frequency != "weekly":
        return True
    their_day = _their_latest_weekday(subscriber, issue_date)
    if their_day == issue_date:
        return True
    served = [d for d in (subscriber.last_digest_date, previous_issue) if d is not None]
    if served:
        return max(served) < their_day
    joined = _joined_on(subscriber)  # never served: only weekdays since they joined count
    return joined is not None and joined <= their_day


def _their_latest_weekday(subscriber: Subscriber, issue_date: date) -> date:
    """A weekly subscriber's weekday on or before the issue date."""
    return issue_date - timedelta(days=(issue_date.weekday() - (subscriber.weekday or 0)) % 7)


def _joined_on(subscriber: Subscriber) -> date | None:
    try:
        return date.fromisoformat(subscriber.created_at[:10])
    except ValueError:
        return None


def due_subscribers(
    db, issue_date: date, id_range: tuple[int, int] | None = None
) -> list[Subscriber]:
    """Active subscribers who get an issue on this date (weekly ones on their weekday, or on
    the first issue after it when that day had none for them); `id_range`: a worker's share."""
    due = []
    for sub in list_subscribers(db, status="active", id_range=id_range):
        previous = None
        if sub.frequency == "weekly" and _their_latest_weekday(sub, issue_date) != issue_date:
            last = sub.last_digest_date
            if last is None or last < _their_latest_weekday(sub, issue_date):
                previous = rank_store.previous_issue_date(db, sub.id, issue_date)
        if is_due(sub, issue_date, previous):
            due.append(sub)
    return due


def candidate_window(subscriber: Subscriber, issue_date: date) -> tuple[date, date]:
    """Announcement days this issue covers: since the previous digest, capped in length."""
    span = MAX_WINDOW_DAYS.get(subscriber.frequency, 7)
    since = issue_date if subscriber.frequency == "daily" else issue_date - timedelta(days=6)
    last = subscriber.last_digest_date
    if last is not None and last < issue_date:
        since = last + timedelta(days=1)
    return max(since, issue_date - timedelta(days=span - 1)), issue_date
