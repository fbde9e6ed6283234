"""The listing-feed parser on every recorded feed, and on hostile input."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.errors import ParseError
from digest.ingest.arxiv_feed import is_malformed, parse_feed
from tests.conftest import ATOM_SAMPLE, EMPTY_RSS, RSS_SAMPLE


def test_atom_sample_has_41_new_and_45_cross():
    listing = parse_feed(ATOM_SAMPLE.read_bytes())
    assert len(listing.papers) == 86
    assert Counter(p.announce_type for p in listing.papers) == {"new": 41, "cross": 45}
    assert listing.channel_date == date(2025, 8, 20)
    assert not listing.skipped


def test_atom_entry_fields_are_clean():
    papers = {p.id: p for p in parse_feed(ATOM_SAMPLE.read_bytes()).papers}
    first = papers["2508.13167"]
    assert first.version == 1
    assert first.abstract.startswith("Recent advances in large language models")
    assert "Announce Type" not in first.abstract
    assert first.authors[:2] == ("Weizhen Li", "Jianbo Lin")
    assert first.categories == ("cs.AI", "cs.CL")
    assert first.license == "http://creativecommons.org/licenses/by-nc-sa/4.0/"
    assert papers["2508.00875"].doi == "10.7249/PEA3971-1"
    assert papers["2508.13303"].journal_ref.startswith("2025 IEEE/RSJ")


def test_tex_accents_in_authors_are_decoded():
    authors = {a for p in parse_feed(ATOM_SAMPLE.read_bytes()).papers for a in p.authors}
    assert "Paulo André Lima de Castro" in authors
    assert "Jörg Deigmöller" in authors
    assert "Anders Søgaard" in authors
    assert not any("\\" in a for a in authors)


def test_rss_sample_types_and_doi():
    listing = parse_feed(RSS_SAMPLE.read_bytes())
    assert Counter(p.announce_type for p in listing.papers) == {"new": 2, "cross": 1, "replace": 1}
    cross = next(p for p in listing.papers if p.announce_type == "cross")
    assert (cross.id, cross.version, cross.doi) == (
        "2205.06398",
        2,
        "10.1093/bioinformatics/btac431",
    )
    assert listing.channel_date == date(2026, 9, 24)


def test_empty_holiday_feed_is_no_announcement():
    listing = parse_feed(EMPTY_RSS.read_bytes())
    assert listing.is_empty_announcement
    assert listing.channel_date == date(2025, 12, 31)


def test_truncated_feed_keeps_the_good_entries():
    raw = ATOM_SAMPLE.read_bytes()
    listing = parse_feed(raw[: len(raw) // 3])
    assert 10 < len(listing.papers) < 86
    assert any("malformed XML" in s.reason for s in listing.skipped)
    assert is_malformed(listing) and not is_malformed(parse_feed(raw))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "the response was empty"),
        (b"  \r\n", "the response was empty"),
        (
            b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head>"
            b"<body><h1>Down for maintenance</h1></body></html>",
            "got an HTML page (503 Service Unavailable)",
        ),
        (b"<html><body>Rate limited</body></html>", "got an HTML page"),
        (b'{"error": "rate limited"}', "not an RSS/Atom feed"),
    ],
)
def test_an_error_page_or_empty_body_is_not_an_empty_announcement(raw, reason):
    """Before, these parsed as a feed with no entries: "no announcement today", exit 0."""
    with pytest.raises(ParseError, match="not an RSS/Atom feed") as caught:
        parse_feed(raw)
    assert reason in str(caught.value)


def test_a_charset_mismatch_on_an_empty_channel_is_still_no_announcement():
    raw = EMPTY_RSS.read_bytes()
    assert raw.startswith(b"<?xml") or b"<rss" in raw[:200]
    declared = b'<?xml version="1.0" encoding="us-ascii"?>' + raw.split(b"?>", 1)[-1]
    declared = declared.replace(b"<title>", "<title>\u00e9 ".encode(), 1)
    listing = parse_feed(declared)  # feedparser flags the encoding (bozo), harmlessly
    assert listing.is_empty_announcement and not is_malformed(listing)


ENTRY = """<entry><id>oai:arXiv.org:{id}v{v}</id><title>{title}</title>
<summary>arXiv:{id}v{v} Announce Type: {kind} \nAbstract: {abstract}</summary>
<category term="cs.AI"/><published>2025-08-20T00:00:00-04:00</published>
<arxiv:announce_type>{kind}</arxiv:announce_type><dc:creator>A. One, B. Two</dc:creator></entry>"""


def atom(*entries: str) -> bytes:
    return (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        "<title>cs.AI updates on arXiv.org</title>" + "".join(entries) + "</feed>"
    ).encode()


def test_bad_entries_are_skipped_with_reasons_and_duplicates_keep_highest_version():
    raw = atom(
        ENTRY.format(id="2508.00001", v=1, title="Good", kind="new", abstract="Text."),
        ENTRY.format(id="2508.00001", v=2, title="Good v2", kind="new", abstract="Text 2."),
        ENTRY.format(id="not-an-id", v=1, title="Bad id", kind="new", abstract="x"),
        ENTRY.format(id="2508.00003", v=1, title="", kind="new", abstract="x"),
        ENTRY.format(id="2508.00004", v=1, title="No abstract", kind="new", abstract=""),
        ENTRY.format(
            id="2508.00005",
            v=1,
            title="&lt;script&gt;alert(1)&lt;/script&gt; &amp; x&lt;y",
            kind="cross",
            abstract="Hostile title.",
        ),
    )
    listing = parse_feed(raw)
    ids = {p.id: p for p in listing.papers}
    assert set(ids) == {"2508.00001", "2508.00005"}
    assert ids["2508.00001"].version == 2 and ids["2508.00001"].title == "Good v2"
    assert "alert(1)" in ids["2508.00005"].title  # kept as text; escaping happens at render
    reasons = sorted(s.reason for s in listing.skipped)
    assert any("no valid arXiv id" in r for r in reasons)
    assert "missing title" in reasons and "missing abstract" in reasons


def test_non_utf8_bytes_do_not_lose_the_feed():
    raw = atom(ENTRY.format(id="2508.00009", v=1, title="Caf\xe9", kind="new", abstract="ok"))
    raw = raw.replace("Caf\xe9".encode(), b"Caf\xe9")  # a lone latin-1 byte
    listing = parse_feed(raw)
    assert [p.id for p in listing.papers] == ["2508.00009"] or listing.skipped


def test_garbage_is_a_parse_error():
    with pytest.raises(ParseError):
        parse_feed(b"\x00\x01 not xml at all <<<")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000) | st.text(max_size=2000).map(str.encode))
def test_fuzz_parse_feed_raises_only_parse_error(raw):
    try:
        listing = parse_feed(raw)
    except ParseError:
        return
    for paper in listing.papers:
        assert paper.id and paper.title and paper.abstract


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300), st.text(max_size=300))
def test_fuzz_entry_text(title, abstract):
    from xml.sax.saxutils import escape

    raw = atom(
        ENTRY.format(
            id="2508.00010", v=1, title=escape(title), kind="new", abstract=escape(abstract)
        )
    )
    try:
        parse_feed(raw)
    except ParseError:
        pass


def test_hf_daily_papers_with_absurd_input_is_a_parse_error_or_clamped():
    """Deep nesting escaped as RecursionError; a 27-digit upvote count overflowed SQLite."""
    from digest.ingest.hf import MAX_UPVOTES, parse_hf_daily

    with pytest.raises(ParseError, match="not JSON"):
        parse_hf_daily(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ParseError, match="not JSON"):
        parse_hf_daily(b"\xff\xfe not utf-8")
    raw = b'[{"paper": {"id": "2401.00001", "upvotes": 100000000000000000000000000}}]'
    (paper,) = parse_hf_daily(raw)
    assert paper.upvotes == MAX_UPVOTES


def test_an_absurd_version_skips_that_entry_not_the_whole_feed(tmp_path):
    """v99999999999999999999 overflowed SQLite's INTEGER: the whole listing failed to store."""
    from digest.ingest.daily import ingest_listing
    from digest.store import open_db

    raw = atom(
        ENTRY.format(
            id="2508.00001", v="99999999999999999999", title="T", kind="new", abstract="A"
        ),
        ENTRY.format(id="2508.00002", v=1, title="Good", kind="new", abstract="Text."),
    )
    listing = parse_feed(raw)
    assert [p.id for p in listing.papers] == ["2508.00002"]
    assert any("no valid arXiv id" in s.reason for s in listing.skipped)
    db = open_db(tmp_path / "d.db")
    report = ingest_listing(
        db, listing, source="feed", label="cs.AI", url=None, announce_types=("new",)
    )
    assert report.counts.new == 1
    db.conn.close()


def test_ids_with_absurd_versions_or_non_ascii_digits_are_skipped_everywhere():
    import io
    import json

    from digest.ingest.hf import parse_hf_daily
    from digest.ingest.jsonl import iter_jsonl

    lines = [
        {"id": i, "title": "t", "abstract": "a"}
        for i in [
            "2401.00001v99999999999999999999",
            "\uff12\uff14\uff10\uff11.00001",
            "2401.00003v7",
        ]
    ]
    items = list(iter_jsonl(io.BytesIO(b"\n".join(json.dumps(x).encode() for x in lines))))
    assert [type(i).__name__ for i in items] == ["SkippedRecord", "SkippedRecord", "Paper"]
    assert "not a usable arXiv id" in items[0].reason and items[2].version == 7
    hf = parse_hf_daily(json.dumps([{"paper": {"id": "\uff12\uff14\uff10\uff11.00001"}}]).encode())
    assert hf == []
