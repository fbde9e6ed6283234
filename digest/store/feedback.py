"""SQL for the feedback table: likes, dislikes and clicks per subscriber and paper.

Every event is kept (an append-only log); readers fold it: for one subscriber and paper the
latest of like/dislike wins, and clicks are counted separately.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from digest.errors import UsageError
from digest.models import FEEDBACK_KINDS, split_arxiv_id
from digest.store.db import utcnow


def normalise_paper_id(raw: str) -> str:
    """arXiv ids in any spelling -> base id without version; foreign ids are kept as given."""
    parsed = split_arxiv_id(raw)
    return parsed[0] if parsed else raw.strip()


def _is_text(value: str) -> bool:
    """False for text SQLite cannot store (lone surrogates from a non-UTF-8 terminal)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def add_feedback(
    db,
    subscriber_id: int,
    paper_id: str,
    kind: str,
    source: str = "cli",
    created_at: str | None = None,
) -> str:
    """Record one like/dislike/click; returns the stored paper id.

    Unknown kind, subscriber or paper -> UsageError naming it (nothing is written).
    """
    if kind not in FEEDBACK_KINDS:
        raise UsageError(f"unknown feedback kind {kind!r} (known: {', '.join(FEEDBACK_KINDS)})")
    stored_id = normalise_paper_id(paper_id)
    if (
        not _is_text(stored_id)
        or not db.execute("SELECT 1 FROM papers WHERE id = ?", [stored_id]).fetchone()
    ):
        raise UsageError(f"unknown paper id {paper_id.strip()!r} (not in the store)")
    if db.execute("SELECT 1 FROM subscribers WHERE id = ?", [subscriber_id]).fetchone() is None:
        raise UsageError(f"no subscriber with id {subscriber_id}")
    db.execute(
        "INSERT INTO feedback (subscriber_id, paper_id, kind, source, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [subscriber_id, stored_id, kind, source, created_at or utcnow()],
    )
    return stored_id


def feedback_for_subscriber(db, subscriber_id: int) -> tuple[list[str], list[str], list[str]]:
    """(liked_ids, disliked_ids, clicked_ids) for one subscriber, oldest first.

    A later like overrides an earlier dislike of the same paper and vice versa.
    """
    verdict: dict[str, str] = {}
    clicked: dict[str, None] = {}
    rows = db.execute(
        "SELECT paper_id, kind FROM feedback WHERE subscriber_id = ? ORDER BY created_at, id",
        [subscriber_id],
    ).fetchall()
    for paper_id, kind in rows:
        if kind == "click":
            clicked.setdefault(paper_id, None)
        else:
            verdict.pop(paper_id, None)  # re-insert so the order follows the latest verdict
            verdict[paper_id] = kind
    liked = [pid for pid, kind in verdict.items() if kind == "like"]
    disliked = [pid for pid, kind in verdict.items() if kind == "dislike"]
    return liked, disliked, list(clicked)


def feedback_summary(db, subscriber_id: int) -> dict[str, int]:
    """How many papers one subscriber currently likes, dislikes and has clicked."""
    liked, disliked, clicked = feedback_for_subscriber(db, subscriber_id)
    return {"like": len(liked), "dislike": len(disliked), "click": len(clicked)}


def _bound(value: date | datetime | str | None, end: bool) -> str | None:
    """Turn a date (whole day, inclusive) or timestamp into a created_at comparison bound."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) == 10:
        value = date.fromisoformat(value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return (value + timedelta(days=1)).isoformat() if end else value.isoformat()
    return value


def feedback_counts(
    db,
    paper_ids: Sequence[str] | None = None,
    since: date | datetime | str | None = None,
    until: date | datetime | str | None = None,
) -> dict[str, dict[str, int]]:
    """paper id -> {"like": n, "dislike": n, "click": n}, counted in distinct subscribers.

    Only events in [since, until] count (dates are whole days, inclusive). Per subscriber
    the latest like/dislike in the window wins, so one person counts once per paper.
    """
    clauses, params = [], []
    low, high = _bound(since, end=False), _bound(until, end=True)
    if low:
        clauses.append("created_at >= ?")
        params.append(low)
    if high:
        clauses.append("created_at < ?" if len(high) == 10 else "created_at <= ?")
        params.append(high)
    wanted: set[str] | None = None
    if paper_ids is not None:
        wanted = {normalise_paper_id(pid) for pid in paper_ids}
        if not wanted:
            return {}
        if len(wanted) <= 500:
            clauses.append(f"paper_id IN ({','.join('?' for _ in wanted)})")
            params.extend(sorted(wanted))
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = db.execute(
        f"SELECT subscriber_id, paper_id, kind FROM feedback {where} ORDER BY created_at, id",  # noqa: S608
        params,
    ).fetchall()
    verdicts: dict[tuple[int, str], str] = {}
    clicks: set[tuple[int, str]] = set()
    for subscriber_id, paper_id, kind in rows:
        if wanted is not None and paper_id not in wanted:
            continue
        if kind == "click":
            clicks.add((subscriber_id, paper_id))
        else:
            verdicts[(subscriber_id, paper_id)] = kind
    counts: dict[str, dict[str, int]] = {}
    for (_, paper_id), kind in verdicts.items():
        counts.setdefault(paper_id, {"like": 0, "dislike": 0, "click": 0})[kind] += 1
    for _, paper_id in clicks:
        counts.setdefault(paper_id, {"like": 0, "dislike": 0, "click": 0})["click"] += 1
    return counts


def feedback_events(db, subscriber_id: int, limit: int = 50) -> list[dict]:
    """The latest raw events for one subscriber, newest first (for `subscribers show`)."""
    rows = db.query(
        "SELECT paper_id, kind, source, created_at FROM feedback WHERE subscriber_id = ?"
        " ORDER BY created_at DESC, id DESC LIMIT ?",
        [subscriber_id, limit],
    )
    return list(rows)


def feedback_by_subscriber(db) -> dict[int, tuple[list[str], list[str], list[str]]]:
    """subscriber id -> (liked_ids, disliked_ids, clicked_ids) for everyone, in one query.

    The bulk form of `feedback_for_subscriber` (same folding rules), for ranking at scale.
    """
    verdicts: dict[int, dict[str, str]] = {}
    clicked: dict[int, dict[str, None]] = {}
    rows = db.execute(
        "SELECT subscriber_id, paper_id, kind FROM feedback ORDER BY created_at, id"
    ).fetchall()
    for subscriber_id, paper_id, kind in rows:
        if kind == "click":
            clicked.setdefault(subscriber_id, {}).setdefault(paper_id, None)
        else:
            verdict = verdicts.setdefault(subscriber_id, {})
            verdict.pop(paper_id, None)
            verdict[paper_id] = kind
    out: dict[int, tuple[list[str], list[str], list[str]]] = {}
    for subscriber_id in set(verdicts) | set(clicked):
        verdict = verdicts.get(subscriber_id, {})
        out[subscriber_id] = (
            [pid for pid, kind in verdict.items() if kind == "like"],
            [pid for pid, kind in verdict.items() if kind == "dislike"],
            list(clicked.get(subscriber_id, {})),
        )
    return out
