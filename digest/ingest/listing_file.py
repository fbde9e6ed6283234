"""A recorded announcement day kept as JSON Lines (data/samples/listings/): one listing.

Each line is a plain-format paper whose `published` is the listing day it appeared on. The
file is stored as that day's listing, like a recorded feed: papers, a listing row each (as
new submissions), an ingest run. `digest import` stores papers without listing them; the demo
needs days. Parsing is pure (`parse_listing_file`); storing goes through the feed ingest.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from pathlib import Path

from digest.config import Config
from digest.errors import DigestError
from digest.ingest.daily import ingest_listing
from digest.ingest.jsonl import iter_jsonl
from digest.models import IngestReport, Paper, ParsedListing, SkippedRecord

# arXiv categories (cs.CV, math.AG, hep-th, q-bio.NC); ACM classes such as I.2.7 are not
_CATEGORY_RE = re.compile(r"[a-z][a-z-]*(?:\.[A-Za-z][A-Za-z-]*)?")


def _listing_day(paper: Paper) -> date | None:
    try:
        return date.fromisoformat((paper.published or "")[:10])
    except ValueError:
        return None


def parse_listing_file(path: Path) -> ParsedListing:
    """The papers of one recorded day, each marked announced (as new) on its `published` day.

    Lines without a day, or dated another day than the file's first paper, are skipped with
    their reason; categories that are not arXiv's (ACM classes) are dropped from the list.
    """
    listing = ParsedListing()
    for number, item in enumerate(iter_jsonl(path), start=1):
        if isinstance(item, SkippedRecord):
            listing.skipped.append(item)
            continue
        day = _listing_day(item)
        if day is None:
            listing.skipped.append(SkippedRecord(f"line {number}", "no listing day (published)"))
            continue
        if listing.channel_date is None:
            listing.channel_date = day
        elif day != listing.channel_date:
            reason = f"listed on {day}, not on the file's day {listing.channel_date}"
            listing.skipped.append(SkippedRecord(f"line {number}", reason))
            continue
        categories = tuple(c for c in item.categories if _CATEGORY_RE.fullmatch(c))
        primary = item.primary_category if item.primary_category in categories else None
        listing.papers.append(
            replace(
                item,
                categories=categories,
                primary_category=primary or (categories[0] if categories else None),
                announced=day,
                announce_type="new",
                published=None,  # the listing day, not the submission time the field means
            )
        )
    return listing


def ingest_listing_file(db, config: Config, path: Path) -> IngestReport:
    """Store one recorded day (safe to repeat: papers are upserted, listings kept once)."""
    if not path.is_file():
        raise DigestError(f"{path}: no such listing file")
    return ingest_listing(
        db,
        parse_listing_file(path),
        source="jsonl",
        label=path.name,
        url=str(path),
        announce_types=config.arxiv.announce_types,
    )
