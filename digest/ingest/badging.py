"""Storing badges at ingest, and redoing them for papers stored before (or by an older rule)."""

from __future__ import annotations

from collections.abc import Iterable

from digest.ingest.badges import BADGES_VERSION, extract_badges
from digest.models import Paper
from digest.store import summaries as store
from digest.store.papers import get_papers


def record_badges(db, papers: Iterable[Paper]) -> int:
    """Extract and store the badges of papers just ingested, from what the store now holds
    (a feed entry has no comments: an update must not wipe what the API gave before)."""
    stored = get_papers(db, [p.id for p in papers])
    return save_from(db, stored.values())


def save_from(db, papers: Iterable[Paper]) -> int:
    return store.save_badges(db, ((p.id, extract_badges(p)) for p in papers), BADGES_VERSION)


def refresh_badges(db, batch: int = 2000) -> int:
    """Badges for every stored paper that has none yet or older ones, in batches."""
    done = 0
    while rows := store.papers_needing_badges(db, BADGES_VERSION, limit=batch):
        papers = [
            Paper(
                id=row["id"],
                title=row["title"],
                abstract=row["abstract"],
                comments=row["comments"],
                journal_ref=row["journal_ref"],
            )
            for row in rows
        ]
        done += save_from(db, papers)
    return done
