"""The arXiv API (export.arxiv.org/api/query): lookups by id and back-fill by category and date.

`parse_api_response` is pure and reads both the current (2025/26) and the legacy (2016)
serialisations by namespace, never by layout. The fetch helpers go through `PoliteFetcher`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from datetime import date

from digest.config import Config
from digest.errors import ParseError, UsageError
from digest.ingest.http import PoliteFetcher
from digest.ingest.limits import arxiv_id, arxiv_id_problem, oversize_reason
from digest.models import Paper, ParsedListing, SkippedRecord, split_arxiv_id
from digest.textclean import clean_field

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"

API_MAX_RESULTS = 30000  # the API serves no more than this many results for one query
CATEGORY_RE = re.compile(r"^[a-z][a-z\-]*(?:\.[A-Za-z][A-Za-z\-]*)?$")


class ApiQueryError(UsageError):
    """The API refused the query (its `Error` entry), e.g. a malformed id."""


# ---------------------------------------------------------------- parsing


def parse_api_response(raw: bytes) -> ParsedListing:
    """Papers from one API response body. Raises ParseError (not Atom) or ApiQueryError."""
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise ParseError("arXiv API response declares a DOCTYPE or entities; refused")
    try:
        root = ET.fromstring(raw)
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise ParseError(f"arXiv API response is not well-formed XML: {exc}") from exc
    if root.tag != f"{ATOM}feed":
        raise ParseError(f"arXiv API response is not an Atom feed (root element {root.tag!r})")
    listing = ParsedListing(
        channel_title=_text(root.find(f"{ATOM}title")) or None,
        total_results=_int(root.find(f"{OPENSEARCH}totalResults")),
    )
    best: dict[str, Paper] = {}
    for position, entry in enumerate(root.iter(f"{ATOM}entry"), start=1):
        _raise_if_error_entry(entry)
        paper_or_skip = _paper_from_entry(entry, position)
        if isinstance(paper_or_skip, SkippedRecord):
            listing.skipped.append(paper_or_skip)
            continue
        previous = best.get(paper_or_skip.id)
        if previous is not None:
            keep = _higher_version(previous, paper_or_skip)
            dropped = paper_or_skip if keep is previous else previous
            listing.skipped.append(
                SkippedRecord(
                    ref=f"{dropped.id}v{dropped.version}" if dropped.version else dropped.id,
                    reason=f"duplicate entry in the response; kept v{keep.version}",
                )
            )
            paper_or_skip = keep
        best[paper_or_skip.id] = paper_or_skip
    listing.papers = list(best.values())
    return listing


def _raise_if_error_entry(entry: ET.Element) -> None:
    entry_id = _text(entry.find(f"{ATOM}id"))
    title = _text(entry.find(f"{ATOM}title"))
    if title == "Error" and "/api/errors" in entry_id:
        message = _text(entry.find(f"{ATOM}summary")) or entry_id.rsplit("#", 1)[-1]
        raise ApiQueryError(f"arXiv API rejected the query: {message}")


def _paper_from_entry(entry: ET.Element, position: int) -> Paper | SkippedRecord:
    raw_id = _text(entry.find(f"{ATOM}id"))
    ref = raw_id or f"entry {position}"
    if not raw_id:
        return SkippedRecord(ref, "entry has no <id>")
    split = arxiv_id(raw_id)
    if split is None:
        return SkippedRecord(ref, f"entry id {raw_id!r} is not an arXiv id")
    base, version = split
    title = clean_field(_text(entry.find(f"{ATOM}title")))
    abstract = clean_field(_text(entry.find(f"{ATOM}summary")))
    if not title:
        return SkippedRecord(ref, "entry has no title")
    if not abstract:
        return SkippedRecord(ref, "entry has no abstract")
    authors = tuple(
        name
        for name in (
            clean_field(_text(a.find(f"{ATOM}name"))) for a in entry.findall(f"{ATOM}author")
        )
        if name
    )
    too_long = oversize_reason(title, abstract, authors)
    if too_long:
        return SkippedRecord(ref, too_long)
    primary_element = entry.find(f"{ARXIV}primary_category")
    primary_term = (primary_element.get("term") or "") if primary_element is not None else ""
    primary = primary_term.strip() or None
    categories: list[str] = [primary] if primary else []
    for element in entry.findall(f"{ATOM}category"):
        term = (element.get("term") or "").strip()
        if term and term not in categories:
            categories.append(term)
    return Paper(
        id=base,
        title=title,
        abstract=abstract,
        authors=authors,
        categories=tuple(categories),
        primary_category=primary,
        version=version,
        published=_text(entry.find(f"{ATOM}published")) or None,
        updated=_text(entry.find(f"{ATOM}updated")) or None,
        license=_license(entry),
        doi=_text(entry.find(f"{ARXIV}doi")) or None,
        journal_ref=clean_field(_text(entry.find(f"{ARXIV}journal_ref"))) or None,
        comments=clean_field(_text(entry.find(f"{ARXIV}comment"))) or None,
        is_arxiv=True,
    )


def _license(entry: ET.Element) -> str | None:
    element = entry.find(f"{ARXIV}license")
    if element is not None and _text(element):
        return _text(element)
    for link in entry.findall(f"{ATOM}link"):
        if link.get("rel") == "license" and link.get("href"):
            return link.get("href")
    return None


def _higher_version(a: Paper, b: Paper) -> Paper:
    """The later of two records of one paper (the second wins a tie)."""
    return a if (a.version or 0) > (b.version or 0) else b


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _int(element: ET.Element | None) -> int | None:
    text = _text(element)
    return int(text) if text.isdigit() and len(text) < 12 else None


# ---------------------------------------------------------------- ids and queries


def validate_arxiv_id(raw: str) -> tuple[str, int | None]:
    """(base id, version) of a user-given id; UsageError naming it when arXiv would refuse it.

    Besides the shape, new-style ids must have 4 digits after the dot up to 1412 and 5 from
    1501 on (the API silently drops `0808.05394`).
    """
    split = split_arxiv_id(raw)
    if split is None:
        raise UsageError(
            f"not an arXiv id: {raw!r} (expected e.g. 2408.01234, 2408.01234v2 or hep-th/9901001)"
        )
    problem = arxiv_id_problem(*split)
    if problem:
        raise UsageError(f"not an arXiv id: {raw!r} ({problem})")
    return split


def _request_id(raw: str) -> str:
    base, version = validate_arxiv_id(raw)
    return f"{base}v{version}" if version else base


def query_by_ids(fetcher: PoliteFetcher, cfg: Config, ids: Sequence[str]) -> ParsedListing:
    """Look papers up by id (with or without version); ids the API doesn't know are skipped."""
    if not ids:
        raise UsageError("no arXiv ids given")
    wanted = [_request_id(raw) for raw in ids]  # validate all before the first request
    listing = ParsedListing(total_results=0)
    page = cfg.arxiv.api_page_size
    for start in range(0, len(wanted), page):
        chunk = wanted[start : start + page]
        response = fetcher.get(
            cfg.arxiv.api_base_url,
            params={"id_list": ",".join(chunk), "start": 0, "max_results": len(chunk)},
            ok_statuses=(200, 400),
        )
        part = _parse_fetched(response.body, response.status, response.url)
        listing.papers += part.papers
        listing.skipped += part.skipped
        listing.total_results = (listing.total_results or 0) + (part.total_results or 0)
        listing.channel_title = listing.channel_title or part.channel_title
    requested = {validate_arxiv_id(request_id)[0] for request_id in wanted}
    stray = [paper for paper in listing.papers if paper.id not in requested]
    if stray:  # a proxy or a broken mirror answering another query: store only what we asked
        listing.papers = [paper for paper in listing.papers if paper.id in requested]
        listing.skipped += [SkippedRecord(p.id, "not one of the requested ids") for p in stray]
    found = {paper.id for paper in listing.papers}
    for request_id in dict.fromkeys(wanted):
        if validate_arxiv_id(request_id)[0] not in found:
            listing.skipped.append(SkippedRecord(request_id, "not found by the arXiv API"))
    return listing


def category_search_query(category: str, date_from: date, date_to: date) -> str:
    """`cat:X AND submittedDate:[...]` for whole days (GMT), as the API expects."""
    return f"cat:{category} AND submittedDate:[{date_from:%Y%m%d}0000 TO {date_to:%Y%m%d}2359]"


def query_by_category(
    fetcher: PoliteFetcher, cfg: Config, category: str, date_from: date, date_to: date
) -> Iterator[ParsedListing]:
    """Pages of papers submitted to `category` in [date_from, date_to], oldest first."""
    if not CATEGORY_RE.match(category):
        raise UsageError(f"not an arXiv category: {category!r} (expected e.g. cs.AI or hep-th)")
    if date_from > date_to:
        raise UsageError(f"--from {date_from} is after --to {date_to}")
    query = category_search_query(category, date_from, date_to)
    page_size = cfg.arxiv.api_page_size
    start = 0
    while True:
        response = fetcher.get(
            cfg.arxiv.api_base_url,
            params={
                "search_query": query,
                "start": start,
                "max_results": page_size,
                "sortBy": "submittedDate",
                "sortOrder": "ascending",
            },
            ok_statuses=(200, 400),
        )
        page = _parse_fetched(response.body, response.status, response.url)
        if start == 0:  # the first page's total bounds the paging (a later one may lie)
            total = page.total_results or 0
        if start == 0 and total > API_MAX_RESULTS:
            raise UsageError(
                f"{query} matches {total} papers; the arXiv API serves at most "
                f"{API_MAX_RESULTS} per query: use a shorter date range"
            )
        yield page
        start += page_size
        if not (page.papers or page.skipped) or start >= total:
            return


def _parse_fetched(body: bytes, status: int, url: str) -> ParsedListing:
    """Parse a fetched body; a 400 without an Error entry is still a failure naming the URL."""
    if status == 200:
        return parse_api_response(body)
    try:
        parse_api_response(body)  # raises ApiQueryError with arXiv's reason when it gives one
    except ParseError:
        pass
    raise ApiQueryError(f"arXiv API rejected the query {url} (HTTP {status})")
