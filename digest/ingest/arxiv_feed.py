"""arXiv listing feeds (rss.arxiv.org RSS 2.0 and Atom): the daily source. Parsing is pure.

A feed holds exactly one announcement day. An empty, well-formed channel means "no
announcement" (weekend/holiday), which is a state, not an error.
"""

from __future__ import annotations

import html
import re
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from xml.sax import SAXException
from zoneinfo import ZoneInfo

import feedparser

from digest.errors import ParseError
from digest.ingest.limits import arxiv_id, oversize_reason
from digest.models import ANNOUNCE_TYPES, Paper, ParsedListing, SkippedRecord
from digest.textclean import clean_field, split_authors

ARXIV_TZ = ZoneInfo("America/New_York")
_PREFIX_RE = re.compile(
    r"^\s*arXiv:(?P<id>\S+?)\s+Announce Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?", re.S
)
_TYPE_PRIORITY = {kind: rank for rank, kind in enumerate(ANNOUNCE_TYPES)}
DOCUMENT_REF = "document"  # the skipped-record ref for a broken document (not one entry)


def feed_url(base_url: str, feed_format: str, categories: str) -> str:
    """`categories` is one category or several joined with '+' (cs.LG+cs.AI)."""
    return f"{base_url.rstrip('/')}/{feed_format}/{categories}"


def parse_feed(raw: bytes) -> ParsedListing:
    """Parse an RSS or Atom listing. Bad entries are skipped with a reason; good ones kept.

    Raises ParseError only when the bytes are not a feed at all.
    """
    # RSS titles and descriptions count as HTML to feedparser, whose sanitizer then dropped
    # text: "delimited by <think> and <answer> tags" became "delimited by and tags". arXiv
    # sends plain text; templates escape it, so nothing in it is ever markup.
    parsed = feedparser.parse(raw, sanitize_html=False, resolve_relative_uris=False)
    if not parsed.get("version"):  # an HTML error page, an empty body, JSON...
        raise ParseError(f"not an RSS/Atom feed: {_describe(raw, parsed)}")
    malformed = parsed.bozo and isinstance(parsed.get("bozo_exception"), SAXException)
    if malformed and not parsed.entries and not parsed.feed.get("title"):
        raise ParseError(f"not an RSS/Atom feed: {_bozo_reason(parsed)}")
    listing = ParsedListing(
        channel_date=_channel_date(parsed),
        channel_title=clean_field(parsed.feed.get("title")) or None,
    )
    if malformed:  # cut short or broken: the entries before the damage are still good
        listing.skipped.append(
            SkippedRecord(DOCUMENT_REF, f"malformed XML: {_bozo_reason(parsed)}")
        )
    best: dict[str, Paper] = {}
    for position, entry in enumerate(parsed.entries, start=1):
        try:
            paper = _paper_from_entry(entry, listing.channel_date, loose=malformed)
        except ValueError as exc:
            ref = clean_field(str(entry.get("id") or entry.get("link") or ""))[:200]
            ref = ref or f"entry {position}"  # printed and stored: no terminal escapes
            listing.skipped.append(SkippedRecord(ref, str(exc)))
            continue
        kept = best.get(paper.id)
        if kept is None or _preferred(paper, kept):
            best[paper.id] = paper
    listing.papers = list(best.values())
    return listing


def is_malformed(listing: ParsedListing) -> bool:
    """True when the document itself was broken (e.g. cut short), so entries may be missing."""
    return any(record.ref == DOCUMENT_REF for record in listing.skipped)


def _describe(raw: bytes, parsed) -> str:
    """What came instead of a feed, in a few words (for the one-line error)."""
    if not raw.strip():
        return "the response was empty"
    if parsed.bozo:
        return _bozo_reason(parsed)
    head = raw[:2048].decode("utf-8", "replace")
    title = re.search(r"<title[^>]*>([^<]{1,120})", head, re.I)
    if re.search(r"<html|<!doctype html", head, re.I):
        return "got an HTML page" + (f" ({clean_field(title.group(1))})" if title else "")
    return f"unrecognised document starting {clean_field(head[:60])!r}"


def _bozo_reason(parsed) -> str:
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}" if exc else "unknown problem"


def _preferred(candidate: Paper, kept: Paper) -> bool:
    """Duplicates inside one input: the highest version wins, then new > cross > replace."""
    if (candidate.version or 0) != (kept.version or 0):
        return (candidate.version or 0) > (kept.version or 0)
    rank = _TYPE_PRIORITY.get(candidate.announce_type or "", 9)
    return rank < _TYPE_PRIORITY.get(kept.announce_type or "", 9)


def _paper_from_entry(entry, channel_date: date | None, *, loose: bool = False) -> Paper:
    """`loose`: the document was broken, so feedparser's fallback parser read it, and that
    one hands `dc:creator` and the journal reference over still HTML-escaped ('A &amp; B')."""
    unescape = html.unescape if loose else str
    summary = entry.get("summary") or ""
    prefix = _PREFIX_RE.match(summary)
    raw_id = entry.get("id") or (prefix.group("id") if prefix else "") or entry.get("link") or ""
    ids = arxiv_id(raw_id) or (arxiv_id(prefix.group("id")) if prefix else None)
    if ids is None:
        raise ValueError(f"no valid arXiv id (got {raw_id[:80]!r})")
    base_id, version = ids
    title = clean_field(entry.get("title"))
    if not title:
        raise ValueError("missing title")
    abstract = clean_field(summary[prefix.end() :] if prefix else summary)
    if not abstract:
        raise ValueError("missing abstract")
    authors = tuple(split_authors(unescape(entry.get("author") or "")))
    too_long = oversize_reason(title, abstract, authors)
    if too_long:
        raise ValueError(too_long)
    announce_type = entry.get("arxiv_announce_type") or (prefix.group("type") if prefix else "")
    announce_type = announce_type.strip().lower()
    if announce_type not in ANNOUNCE_TYPES:
        raise ValueError(f"unknown announce type {announce_type!r}")
    terms = (clean_field(tag.get("term")) for tag in entry.get("tags", []))
    categories = tuple(dict.fromkeys(term for term in terms if term))
    return Paper(
        id=base_id,
        version=version,
        title=title,
        abstract=abstract,
        authors=authors,
        categories=categories,
        primary_category=None,  # the feed doesn't flag it; the API does
        announce_type=announce_type,
        announced=_entry_date(entry) or channel_date,
        license=clean_field(entry.get("rights")) or None,
        doi=clean_field(entry.get("arxiv_doi")) or None,
        journal_ref=clean_field(unescape(entry.get("arxiv_journal_reference") or "")) or None,
    )


def _local_date(text: str | None) -> date | None:
    """The calendar date in the timestamp's own offset (arXiv writes midnight Eastern)."""
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        try:
            stamp = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    if stamp.utcoffset() == datetime.min.utcoffset() or stamp.tzinfo is None:
        return stamp.astimezone(ARXIV_TZ).date() if stamp.tzinfo else stamp.date()
    return stamp.date()


def _entry_date(entry) -> date | None:
    return _local_date(entry.get("published"))


def _channel_date(parsed) -> date | None:
    """RSS: channel pubDate. Atom: the entries' published; an empty Atom feed: its updated."""
    channel = _local_date(parsed.feed.get("published"))
    if channel:
        return channel
    for entry in parsed.entries:
        found = _entry_date(entry)
        if found:
            return found
    return _local_date(parsed.feed.get("updated"))
