"""Read everything the site shows from the store, once, into plain in-memory structures.

Rendering never queries the database: this module is the only reader (via digest.store.site).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache

from digest.store import site as site_store


@dataclass(slots=True)
class PaperEntry:
    id: str
    title: str
    abstract: str
    author_ids: list[int]
    author_names: list[str]
    categories: list[str]
    primary_category: str | None
    version: int | None
    announce_type: str | None
    first_announced: date | None
    published: str | None
    updated: str | None
    license: str | None
    doi: str | None
    journal_ref: str | None
    comments: str | None
    is_arxiv: bool
    content_hash: str
    listed: dict[date, str] = field(default_factory=dict)  # listing day -> announce type
    versions: list[tuple[int, str]] = field(default_factory=list)  # (version, first seen day)


@dataclass
class TopicEntry:
    id: int
    name: str
    slug: str
    description: str
    keywords: tuple[str, ...]


@dataclass
class Match:
    topic_id: int
    paper_id: str
    day: date
    score: float


@dataclass
class SiteData:
    """The whole public archive, as the site needs it."""

    days: list[date]
    papers: dict[str, PaperEntry]
    listings: dict[date, list[tuple[str, str]]]  # day -> [(paper_id, announce_type)]
    authors: dict[int, str]
    author_papers: dict[int, list[str]]
    topics: list[TopicEntry]
    matches_by_paper: dict[str, list[Match]]
    matches_by_topic: dict[int, list[Match]]

    @cached_property
    def matches_by_topic_day(self) -> dict[tuple[int, date], list[Match]]:
        grouped: dict[tuple[int, date], list[Match]] = defaultdict(list)
        for topic_id, matches in self.matches_by_topic.items():
            for match in matches:
                grouped[(topic_id, match.day)].append(match)
        return dict(grouped)

    @cached_property
    def new_listed(self) -> dict[date, list[str]]:
        """day -> papers listed as new or cross-list that day (known papers, listing order)."""
        return {
            day: [pid for pid, kind in listed if kind in ("new", "cross") and pid in self.papers]
            for day, listed in self.listings.items()
        }

    @cached_property
    def latest_day(self) -> date | None:
        """The home page's day, as every command means "the latest day": the newest
        announcement day that listed new or cross-listed papers (store.days.
        latest_announcement_day; a day of only replacements is not it)."""
        listed = [day for day in self.days if self.new_listed.get(day)]
        return listed[-1] if listed else (self.days[-1] if self.days else None)

    @cached_property
    def match_summary(self) -> dict[str, tuple[int, float]]:
        """paper id -> (curated topics matched, best score), for papers with any match."""
        return {
            pid: (len({m.topic_id for m in matches}), max(m.score for m in matches))
            for pid, matches in self.matches_by_paper.items()
            if matches
        }

    @cached_property
    def topics_by_id(self) -> dict[int, TopicEntry]:
        return {t.id: t for t in self.topics}


def slugify(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    return slug or "topic"


def _curated_topics(db) -> list[TopicEntry]:
    from digest.store.topics import list_topics

    entries: list[TopicEntry] = []
    used = {"index"}  # topics/index.html is the list of topics
    for topic in list_topics(db, kind="curated"):
        slug = base = slugify(topic.name)
        tries = 0
        while slug in used:  # names that fold to the same slug keep distinct pages
            tries += 1
            slug = f"{base}-{topic.id}" + (f"-{tries}" if tries > 1 else "")
        used.add(slug)
        entries.append(
            TopicEntry(int(topic.id or 0), topic.name, slug, topic.description, topic.keywords)
        )
    return entries


@lru_cache(maxsize=65536)
def _categories(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))  # few distinct lists: decoded once each


def _day_parser():
    """date.fromisoformat with a cache (a few hundred distinct days, 100k+ lookups)."""
    parsed: dict[str, date] = {}

    def day_of(text: str) -> date:
        found = parsed.get(text)
        if found is None:
            found = parsed[text] = date.fromisoformat(text)
        return found

    return day_of


def gather(db) -> SiteData:
    """Load the public archive: papers, listings, authors, versions, topics and matches."""
    authors = site_store.archive_authors(db)
    ids_by_paper: dict[str, list[int]] = defaultdict(list)
    author_papers: dict[int, list[str]] = defaultdict(list)
    for paper_id, author_id in site_store.archive_paper_authors(db):
        ids_by_paper[paper_id].append(author_id)
        author_papers[author_id].append(paper_id)

    papers: dict[str, PaperEntry] = {}
    day_of = _day_parser()
    for (
        paper_id,
        version,
        title,
        abstract,
        authors_json,
        categories_json,
        primary_category,
        announce_type,
        first_announced,
        _last,
        published,
        updated,
        license_,
        doi,
        journal_ref,
        comments,
        is_arxiv,
        content_hash,
    ) in site_store.archive_paper_rows(db):
        author_ids = ids_by_paper.get(paper_id, [])
        papers[paper_id] = PaperEntry(
            paper_id,
            title,
            abstract,
            author_ids,
            [authors[a] for a in author_ids] or json.loads(authors_json),
            list(_categories(categories_json)),
            primary_category,
            version,
            announce_type,
            day_of(first_announced) if first_announced else None,
            published,
            updated,
            license_,
            doi,
            journal_ref,
            comments,
            bool(is_arxiv),
            content_hash,
        )

    listings: dict[date, list[tuple[str, str]]] = defaultdict(list)
    for paper_id, day_text, announce_type in site_store.archive_listings(db):
        day = day_of(day_text)
        entry = papers.get(paper_id)
        if entry is not None:
            listings[day].append((paper_id, announce_type))
            entry.listed[day] = announce_type

    for paper_id, version, first_seen, _source in site_store.archive_versions(db):
        entry = papers.get(paper_id)
        if entry is not None:
            entry.versions.append((version, (first_seen or "")[:10]))

    topics = _curated_topics(db)
    known_topics = {t.id for t in topics}
    by_paper: dict[str, list[Match]] = defaultdict(list)
    by_topic: dict[int, list[Match]] = defaultdict(list)
    for topic_id, paper_id, day_text, score in site_store.archive_topic_matches(db):
        if topic_id not in known_topics or paper_id not in papers:
            continue
        match = Match(topic_id, paper_id, date.fromisoformat(day_text), float(score))
        by_paper[paper_id].append(match)
        by_topic[topic_id].append(match)

    for paper_ids in author_papers.values():
        paper_ids[:] = [p for p in paper_ids if p in papers]
    return SiteData(
        days=sorted(listings),
        papers=papers,
        listings=dict(listings),
        authors=authors,
        author_papers=dict(author_papers),
        topics=topics,
        matches_by_paper=dict(by_paper),
        matches_by_topic=dict(by_topic),
    )
