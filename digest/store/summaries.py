"""SQL for code/venue badges, cached TL;DRs, each card's lead line and sentence vectors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

import numpy as np

from digest.models import Badges, CodeLink
from digest.store.db import transaction, utcnow

CHUNK = 500  # ids per IN (...) list: under SQLite's and PostgreSQL's parameter limits


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


# ---------------------------------------------------------------- badges


def save_badges(db, items: Iterable[tuple[str, Badges]], version: int) -> int:
    """Store each paper's badges (replacing older ones) in one transaction; returns the count."""
    now = utcnow()
    count = 0
    with transaction(db):
        for paper_id, badges in items:
            links = json.dumps([[link.kind, link.url] for link in badges.links])
            db.execute(
                "INSERT INTO paper_badges "
                "(paper_id, links_json, venue, venue_key, has_code, version, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (paper_id) DO UPDATE SET "
                "links_json = excluded.links_json, venue = excluded.venue, "
                "venue_key = excluded.venue_key, has_code = excluded.has_code, "
                "version = excluded.version, updated_at = excluded.updated_at",
                [
                    paper_id,
                    links,
                    badges.venue,
                    badges.venue_key,
                    int(badges.has_code),
                    version,
                    now,
                ],
            )
            count += 1
    return count


def badges_for(db, paper_ids: Sequence[str]) -> dict[str, Badges]:
    """Badges of the given papers that have any (papers without a row or badge are left out)."""
    found: dict[str, Badges] = {}
    ids = list(dict.fromkeys(paper_ids))
    for chunk in _chunks(ids):
        marks = ", ".join("?" for _ in chunk)
        for paper_id, links_json, venue, venue_key in db.execute(
            "SELECT paper_id, links_json, venue, venue_key FROM paper_badges "  # noqa: S608
            f"WHERE paper_id IN ({marks})",
            list(chunk),
        ).fetchall():
            links = tuple(CodeLink(kind, url) for kind, url in json.loads(links_json))
            badges = Badges(links=links, venue=venue, venue_key=venue_key)
            if not badges.is_empty:
                found[paper_id] = badges
    return found


def papers_needing_badges(db, version: int, limit: int = 5000) -> list[dict]:
    """Papers with no badge row, or one made by an older extractor: what a refresh redoes."""
    rows = db.execute(
        "SELECT p.id, p.title, p.abstract, p.comments, p.journal_ref FROM papers p "
        "LEFT JOIN paper_badges b ON b.paper_id = p.id "
        "WHERE b.paper_id IS NULL OR b.version < ? ORDER BY p.id LIMIT ?",
        [version, limit],
    ).fetchall()
    keys = ("id", "title", "abstract", "comments", "journal_ref")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def badge_counts(db) -> dict[str, int]:
    """Papers with a code link and with a venue, for the run report and `digest status`."""
    row = db.execute("SELECT COALESCE(SUM(has_code), 0), COUNT(venue) FROM paper_badges").fetchone()
    return {"with_code": int(row[0]), "with_venue": int(row[1])}


# ---------------------------------------------------------------- cached TL;DRs


def cached_summaries(
    db, model: str, prompt_version: str, language: str, hashes: Sequence[str]
) -> dict[str, str]:
    """content hash -> TL;DR for those already made with this model, prompt and language."""
    found: dict[str, str] = {}
    for chunk in _chunks(list(dict.fromkeys(hashes))):
        marks = ", ".join("?" for _ in chunk)
        rows = db.execute(
            "SELECT content_hash, tldr FROM summaries WHERE model = ? AND "  # noqa: S608
            f"prompt_version = ? AND language = ? AND content_hash IN ({marks})",
            [model, prompt_version, language, *chunk],
        ).fetchall()
        found.update({content_hash: tldr for content_hash, tldr in rows})
    return found


def save_summary(
    db, model: str, prompt_version: str, language: str, content_hash: str, tldr: str
) -> None:
    with transaction(db):
        db.execute(
            "INSERT INTO summaries "
            "(model, prompt_version, language, content_hash, tldr, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (model, prompt_version, language, content_hash) DO NOTHING",
            [model, prompt_version, language, content_hash, tldr, utcnow()],
        )


# ---------------------------------------------------------------- lead lines of one issue


def save_leads(
    db, subscriber_id: int, issue_date: date, leads: Mapping[str, tuple[str, str]]
) -> None:
    """One subscriber's lead lines for one issue: paper id -> (line, extractive | llm)."""
    day = issue_date.isoformat()
    with transaction(db):
        for paper_id, (lead, source) in leads.items():
            db.execute(
                "INSERT INTO digest_leads (subscriber_id, issue_date, paper_id, lead, source) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (subscriber_id, issue_date, paper_id) "
                "DO UPDATE SET lead = excluded.lead, source = excluded.source",
                [subscriber_id, day, paper_id, lead, source],
            )


def leads_for(db, subscriber_id: int, issue_date: date) -> dict[str, tuple[str, str]]:
    rows = db.execute(
        "SELECT paper_id, lead, source FROM digest_leads "
        "WHERE subscriber_id = ? AND issue_date = ?",
        [subscriber_id, issue_date.isoformat()],
    ).fetchall()
    return {paper_id: (lead, source) for paper_id, lead, source in rows}


# ---------------------------------------------------------------- sentence vectors


def vectors_by_key(db, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Cached vectors (sentences, topic texts) by their key in the embeddings table."""
    found: dict[str, np.ndarray] = {}
    for chunk in _chunks(list(dict.fromkeys(keys))):
        marks = ", ".join("?" for _ in chunk)
        rows = db.execute(
            "SELECT content_hash, vector FROM embeddings WHERE model = ? "  # noqa: S608
            f"AND content_hash IN ({marks})",
            [model, *chunk],
        ).fetchall()
        found.update({key: np.frombuffer(blob, dtype=np.float32) for key, blob in rows})
    return found
