"""Following an author: a subscriber's author-only topic, resolved against the archive's
author names (accents and case folded), ranked on the recorded day with a "by <name>" reason.
"""

from __future__ import annotations

from datetime import date

import pytest

from digest.errors import UsageError
from digest.rank import planning
from digest.subscribers.manage import add_subscriber
from digest.textclean import normalize_author
from digest.topics.catalog import followed_authors, set_followed_authors

DAY = date(2025, 8, 20)


def _prolific_author(db) -> tuple[str, set[str]]:
    row = db.execute(
        "SELECT a.id, a.name FROM authors a JOIN paper_authors pa ON pa.author_id = a.id "
        "JOIN listings l ON l.paper_id = pa.paper_id WHERE l.announce_date = ? "
        "GROUP BY a.id ORDER BY COUNT(*) DESC, a.name LIMIT 1",
        [DAY.isoformat()],
    ).fetchone()
    papers = {
        r[0] for r in db.execute("SELECT paper_id FROM paper_authors WHERE author_id = ?", [row[0]])
    }
    return row[1], papers


def test_followed_author_papers_are_picked_with_a_reason(sample_db, sample_config):
    name, their_papers = _prolific_author(sample_db)
    typed = normalize_author(name).upper()  # how a person might type it
    sub = add_subscriber(sample_db, "fan@example.org", status="active", authors=[typed])
    assert followed_authors(sample_db, sub.id) == [name]
    plan = planning.plan_digest(sample_db, sample_config, sub, DAY)
    picked = {pick.paper_id for pick in plan.picks}
    assert picked == their_papers & picked and picked  # only their papers, at least one
    assert all(f"by {name}" in pick.why for pick in plan.picks)


def test_unknown_author_writes_nothing_and_sync_replaces(sample_db):
    name, _ = _prolific_author(sample_db)
    with pytest.raises(UsageError, match="no papers by 'Nobody Atall'"):
        add_subscriber(sample_db, "x@example.org", authors=[name, "Nobody Atall"])
    assert sample_db.execute("SELECT COUNT(*) FROM subscribers").fetchone()[0] == 0
    sub = add_subscriber(sample_db, "y@example.org", authors=[name])
    other = sample_db.execute(
        "SELECT name FROM authors WHERE name != ? ORDER BY name LIMIT 1", [name]
    ).fetchone()[0]
    assert set_followed_authors(sample_db, sub.id, [other, other.lower()]) == [other]
    assert followed_authors(sample_db, sub.id) == [other]
    assert set_followed_authors(sample_db, sub.id, []) == []
    assert sample_db.execute("SELECT COUNT(*) FROM topics").fetchone()[0] == 0
