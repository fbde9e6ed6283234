"""Hostile paper text from every source: invisible controls, bidi overrides, TeX, HTML,
absurd lengths, and a broken document, followed from the feed bytes into the store."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

import pytest

from digest.config import Config
from digest.ingest.arxiv_api import parse_api_response
from digest.ingest.arxiv_feed import is_malformed, parse_feed
from digest.ingest.daily import fetch_daily
from digest.ingest.jsonl import parse_jsonl_record
from digest.store import open_db
from digest.store import papers as paper_store
from digest.textclean import clean_field, split_authors

RLO, PDF, ZWSP, ZWJ, BOM = "\u202e", "\u202c", "\u200b", "\u200d", "\ufeff"
NEXT = "2026-09-25"  # the day after the feeds' usual 2026-09-24


def atom_entry(
    arxiv_id: str, title: str, abstract: str, authors: str, extra: str = "", day="2026-09-24"
) -> str:
    return f"""<entry><id>oai:arXiv.org:{arxiv_id}</id><title>{escape(title)}</title>
<link href="https://arxiv.org/abs/{arxiv_id.split("v")[0]}" rel="alternate" type="text/html"/>
<summary>arXiv:{arxiv_id} Announce Type: new
Abstract: {escape(abstract)}</summary><category term="cs.AI"/><category term="{RLO}cs.AI "/>
<published>{day}T00:00:00-04:00</published><arxiv:announce_type>new</arxiv:announce_type>
<dc:creator>{escape(authors)}</dc:creator>{extra}</entry>"""


def atom_feed(*entries: str) -> bytes:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<feed xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns="http://www.w3.org/2005/Atom">'
        "<id>http://rss.arxiv.org/atom/cs.AI</id><title>cs.AI updates on arXiv.org</title>"
        "<updated>2026-09-24T04:00:19+00:00</updated>" + "".join(entries) + "</feed>"
    ).encode()


def test_bidi_overrides_and_zero_width_spaces_never_reach_the_store():
    """U+202E in an author name flipped the rest of the line in the email ('oreZ deZ ,Eve')."""
    raw = atom_feed(
        atom_entry(
            "2611.00002v1",
            f"Bidi {RLO}gnp.exe{PDF} and zero{ZWSP}width{BOM} title \U0001f600",
            f"Abstract {RLO}reversed\u2066 isolate, with a scientist 👩{ZWJ}🔬.",
            f"Eve {RLO}evE, Zed{ZWSP} Zero",
            extra=f"<dc:rights>http://creativecommons.org/licenses/by/4.0/{RLO}\n</dc:rights>"
            f"<arxiv:DOI> 10.1000/x{ZWSP}y </arxiv:DOI>",
        )
    )
    (paper,) = parse_feed(raw).papers
    assert paper.title == "Bidi gnp.exe and zerowidth title \U0001f600"
    assert paper.abstract == f"Abstract reversed isolate, with a scientist 👩{ZWJ}🔬."
    assert paper.authors == ("Eve evE", "Zed Zero")
    assert paper.categories == ("cs.AI",)
    assert (paper.license, paper.doi) == (
        "http://creativecommons.org/licenses/by/4.0/",
        "10.1000/xy",
    )


def test_controls_and_line_breaks_are_dropped_or_become_spaces():
    text = "Control \x00\x01\x07\x1b[31m chars\x7f\x9b and\r\nBcc: victim@example.com"
    assert clean_field(text) == "Control [31m chars and Bcc: victim@example.com"
    assert split_authors("E\x08F G, \x00Ann") == ["EF G", "Ann"]


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("$\\mathcal{O}(n^{2})$ time", "$\\mathcal{O}(n^{2})$ time"),
        ("\\emph{a} priori over $\\mathbb{R}$", "\\emph{a} priori over $\\mathbb{R}$"),
        ("$x_{i}$ by Garc{\\'\\i}a and {\\\"o}", "$x_{i}$ by García and ö"),
    ],
)
def test_tex_command_arguments_keep_their_braces(raw, kept):
    """Braces around one letter were dropped everywhere: \\mathcal{O} became \\mathcalO."""
    assert clean_field(raw) == kept


def test_a_cut_short_feed_keeps_ampersands_and_brackets_in_names_as_text():
    """feedparser's fallback parser (used for a broken document) hands dc:creator over
    HTML-escaped: 'Smith &amp; Wesson' was stored and the page showed '&amp;amp;'."""
    entry = atom_entry(
        "2611.00007v1",
        "A & B <i> title",
        "Abstract & more.",
        "Smith & Wesson, Ann <B>",
        extra="<arxiv:journal_reference>J. Phys. A &amp; B</arxiv:journal_reference>",
    )
    whole = atom_feed(entry, atom_entry("2611.00008v1", "Second", "Text.", "C D"))
    listing = parse_feed(whole[: whole.index(b"<entry><id>oai:arXiv.org:2611.00008") + 40])
    assert is_malformed(listing)
    (paper,) = listing.papers
    assert paper.authors == ("Smith & Wesson", "Ann <B>")
    assert paper.title == "A & B <i> title"
    assert paper.journal_ref == "J. Phys. A & B"
    assert parse_feed(whole).papers[0].authors == ("Smith & Wesson", "Ann <B>")


def test_an_absurdly_long_title_skips_that_entry_only():
    raw = atom_feed(
        atom_entry("2611.00003v1", "Long " + "x" * 5000, "Fine abstract.", "A B"),
        atom_entry("2611.00004v1", "Fine title", "word " * 3000, "A B"),
        atom_entry("2611.00005v1", "Good", "Fine abstract.", "A B"),
    )
    listing = parse_feed(raw)
    assert [p.id for p in listing.papers] == ["2611.00004", "2611.00005"]  # long, but an abstract
    assert len(listing.skipped) == 1
    assert "title is 5,005 characters, over 1,000" in listing.skipped[0].reason
    assert listing.skipped[0].ref.endswith("2611.00003v1")


def test_the_api_and_jsonl_sources_clean_and_bound_the_same_way():
    api = f"""<feed xmlns="http://www.w3.org/2005/Atom">
<entry><id>http://arxiv.org/abs/2611.00011v1</id><title>T{RLO}x</title>
<summary>A{ZWSP}b.</summary><author><name>N{RLO}n</name></author></entry>
<entry><id>http://arxiv.org/abs/2611.00012v1</id><title>{"y" * 1200}</title>
<summary>A.</summary></entry></feed>""".encode()
    listing = parse_api_response(api)
    assert [(p.title, p.abstract, p.authors) for p in listing.papers] == [("Tx", "Ab.", ("Nn",))]
    assert "title is 1,200 characters" in listing.skipped[0].reason
    record = {
        "id": "2611.00013",
        "title": f"T{RLO}x",
        "abstract": f"A{ZWSP}b \x7f.",
        "authors": [f"N{RLO}n"],
        "doi": f"10.1/{BOM}x",
        "categories": [f"cs.AI{RLO}", " cs.LG ", "cs.AI"],
    }
    paper = parse_jsonl_record(json.dumps(record, ensure_ascii=False), "line 1")
    assert (paper.title, paper.abstract, paper.authors, paper.doi) == (  # type: ignore[union-attr]
        "Tx",
        "Ab .",
        ("Nn",),
        "10.1/x",
    )
    assert paper.categories == ("cs.AI", "cs.LG")  # type: ignore[union-attr]


@pytest.fixture
def feed_config(httpserver, make_config) -> Config:
    config, _ = make_config(
        {
            "arxiv": {
                "categories": ["cs.AI"],
                "feed_base_url": httpserver.url_for("/").rstrip("/"),
                "feed_format": "atom",
                "max_retries": 1,
                "timeout_seconds": 2,
            }
        }
    )
    config.db_path.parent.mkdir(parents=True, exist_ok=True)
    return config


def test_bad_feeds_name_the_problem_and_keep_what_was_stored(httpserver, feed_config):
    """Over real HTTP: a good day, then an HTML page with 200, a 503, a cut-short feed with
    hostile text, each a failed run with a clear reason and nothing stored before lost; then
    the whole next day arrives and is an ordinary good run."""
    db = open_db(feed_config.db_path)
    good = atom_feed(
        *(atom_entry(f"2609.0010{i}v1", f"Good {i}", "Text.", "A B") for i in range(3))
    )
    hostile = atom_feed(
        atom_entry(
            "2609.00201v1", f"Evil <script>x</script>{RLO}", "T.", "Ann & Bob <x>", day=NEXT
        ),
        atom_entry("2609.00202v1", "Second", "Text.", "C D", day=NEXT),
    )
    answers = [
        (good, 200, "ok", None),
        (b"<!DOCTYPE html><html><head><title>Down</title></head></html>", 200, "failed", "HTML"),
        (b"busy", 503, "failed", "HTTP 503"),
        (hostile[: hostile.index(b"2609.00202") + 5], 200, "failed", "cut short"),
    ]
    for body, status, expected, reason in answers:
        httpserver.clear()
        httpserver.expect_request("/atom/cs.AI").respond_with_data(
            body, status=status, headers={"Retry-After": "0"}
        )
        (report,) = fetch_daily(db, feed_config)
        assert report.status == expected, report
        assert reason is None or reason in (report.error or ""), report.error
    ids = ["2609.00100", "2609.00101", "2609.00102", "2609.00201", "2609.00202"]
    stored = paper_store.get_papers(db, ids)
    assert sorted(stored) == ids[:4]  # the good day, and the complete entry before the damage
    evil = stored["2609.00201"]
    assert evil.title == "Evil <script>x</script>" and evil.authors == ("Ann & Bob <x>",)

    httpserver.clear()
    httpserver.expect_request("/atom/cs.AI").respond_with_data(hostile)
    (report,) = fetch_daily(db, feed_config)
    assert (report.status, report.counts.new, report.counts.unchanged) == ("ok", 1, 1)
    assert sorted(paper_store.get_papers(db, ids)) == ids
    db.conn.close()


def test_ids_arxiv_never_issues_are_skipped_with_the_reason():
    """'2611.0001' (4 digits after 2014), '1412.00001' (5 before 2015) and month 13 looked
    like arXiv ids and got abs links that lead nowhere."""
    raw = atom_feed(
        *(
            atom_entry(arxiv_id, "T", "A.", "N")
            for arxiv_id in ("2611.0001v1", "1412.00001v1", "2613.00001v1", "0704.0001v2")
        )
    )
    listing = parse_feed(raw)
    assert [(p.id, p.version) for p in listing.papers] == [("0704.0001", 2)]
    assert len(listing.skipped) == 3
    skipped = parse_jsonl_record('{"id": "2611.0001", "title": "t", "abstract": "a"}', "line 1")
    assert skipped.reason == (  # type: ignore[union-attr]
        "id '2611.0001' is not a usable arXiv id (ids from 2611 have 5 digits after the dot)"
    )


def test_the_weekends_empty_feed_still_served_on_monday_is_stale_not_no_announcement(
    httpserver, feed_config
):
    """arXiv rebuilt late: Monday's run got Sunday's empty channel. It read as 'no
    announcement today', so the run ended for good (the scheduler retries only stale runs)
    and Monday's listing was never fetched."""
    from datetime import date

    from digest.pipeline import run_daily

    sunday = atom_feed().replace(b"2026-09-24T04:00:19", b"2026-09-27T04:00:19")
    monday = date(2026, 9, 28)
    httpserver.expect_request("/atom/cs.AI").respond_with_data(sunday)
    db = open_db(feed_config.db_path)
    (report,) = fetch_daily(db, feed_config, expected_date=date(2026, 9, 27))
    assert report.status == "empty"  # asked for Sunday itself: no announcement, rightly
    (report,) = fetch_daily(db, feed_config, expected_date=monday)
    assert (report.status, report.channel_date) == ("stale", date(2026, 9, 27))
    assert run_daily(db, feed_config, monday).status == "stale"
    db.conn.close()


def test_rss_keeps_angle_brackets_in_text_as_atom_does():
    """feedparser treats RSS titles and descriptions as HTML and sanitized them: the recorded
    abstract of 2508.13382 read 'traces delimited by and tags' from RSS, where Atom has
    'delimited by <think> and <answer> tags'."""
    from tests.conftest import ATOM_SAMPLE

    (atom,) = [p for p in parse_feed(ATOM_SAMPLE.read_bytes()).papers if p.id == "2508.13382"]
    title = "Bounds for a<b and c>d <i>in</i> x & y"
    rss = f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
version="2.0"><channel><title>cs.AI updates on arXiv.org</title>
<pubDate>Wed, 20 Aug 2025 00:00:00 -0400</pubDate><item><title>{escape(title)}</title>
<link>https://arxiv.org/abs/2508.13382</link><description>arXiv:2508.13382v1 Announce Type: new
Abstract: {escape(atom.abstract)} &lt;script&gt;x&lt;/script&gt;</description>
<guid isPermaLink="false">oai:arXiv.org:2508.13382v1</guid><category>cs.AI</category>
<arxiv:announce_type>new</arxiv:announce_type><dc:creator>A &lt;B&gt; C, D &amp; E</dc:creator>
</item></channel></rss>""".encode()
    (paper,) = parse_feed(rss).papers
    assert "delimited by <think> and <answer> tags" in paper.abstract
    assert paper.abstract == atom.abstract + " <script>x</script>"
    assert paper.title == title and paper.authors == ("A <B> C", "D & E")


def test_a_skipped_entrys_reference_carries_no_terminal_escape():
    """A broken document is read by feedparser's lenient parser, which lets an ESC through:
    the skipped entry's id was printed by `digest fetch` and `digest status` as it came."""
    raw = atom_feed(atom_entry("2611.0001\x1b[2Jv1", "T", "A.", "N"))
    skipped = [s for s in parse_feed(raw).skipped if s.ref != "document"]
    assert [s.ref for s in skipped] == ["oai:arXiv.org:2611.0001[2Jv1"]
    assert "\\x1b" in skipped[0].reason  # the reason shows the id with repr()
