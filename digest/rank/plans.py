"""Stored plans: save one subscriber's picks for an issue, read them back, show them.

A plan is frozen once its email has gone out (`save_plan` then keeps the stored one).
"""

from __future__ import annotations

from datetime import date

from digest.models import DigestPlan, Pick
from digest.store import ranking as rank_store


def save_plan(db, plan: DigestPlan) -> bool:
    """Store a plan, replacing an earlier plan of the same issue unless it was already sent.

    Returns False (and keeps the stored plan) when that issue's email has gone out.
    """
    if rank_store.plan_is_sent(db, plan.subscriber_id, plan.issue_date):
        return False
    rows = [
        {
            "paper_id": p.paper_id,
            "rank": n,
            "score": p.score,
            "topic": p.topic,
            "why": p.why,
            "why_json": {
                "keywords": list(p.matched_keywords),
                "authors": list(p.matched_authors),
                "similar_to": p.similar_to,
            },
        }
        for n, p in enumerate(plan.picks, start=1)
    ]
    rank_store.replace_plan(
        db, plan.subscriber_id, plan.issue_date, plan.candidates, plan.window_start, rows
    )
    return True


def load_plan(db, subscriber_id: int, issue_date: date) -> DigestPlan | None:
    stored = rank_store.plan_rows(db, subscriber_id, issue_date)
    if stored is None:
        return None
    header, rows = stored
    picks = tuple(
        Pick(
            paper_id=r["paper_id"],
            score=r["score"],
            topic=r["topic"],
            why=r["why"],
            matched_keywords=tuple(r["why_json"].get("keywords", ())),
            matched_authors=tuple(r["why_json"].get("authors", ())),
            similar_to=r["why_json"].get("similar_to"),
        )
        for r in rows
    )
    start = date.fromisoformat(header["window_start"]) if header["window_start"] else None
    return DigestPlan(subscriber_id, issue_date, picks, header["candidates"], start)


def picks_of(
    db, subscriber_id: int, issue_date: date | None = None
) -> tuple[DigestPlan | None, dict[str, str]]:
    """A subscriber's stored plan (the latest when no date is given) and the picked titles."""
    day = issue_date or rank_store.latest_plan_date(db, subscriber_id)
    plan = load_plan(db, subscriber_id, day) if day else None
    if plan is None:
        return None, {}
    rows = rank_store.paper_text_rows(db, [p.paper_id for p in plan.picks])
    return plan, {pid: row["title"] for pid, row in rows.items()}
