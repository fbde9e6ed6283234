"""arXiv API: the parser on every recorded response, queries and back-fill over loopback HTTP."""

from __future__ import annotations

import re
import time
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from digest.config import ArxivConfig, Config
from digest.errors import FetchError, ParseError, UsageError
from digest.ingest.arxiv_api import (
    ApiQueryError,
    category_search_query,
    parse_api_response,
    query_by_category,
    query_by_ids,
    validate_arxiv_id,
)
from digest.ingest.backfill import backfill_api
from digest.ingest.http import PoliteFetcher
from digest.store.db import open_db
from digest.store.papers import count_papers, get_paper, recent_ingest_runs

API = Path(__file__).parent / "fixtures" / "arxiv" / "api"


def body(name_start: str) -> bytes:
    (path,) = [p for p in API.iterdir() if p.name.startswith(name_start)]
    return path.read_bytes()


CURRENT = "laya-reader__api_query_cat_cs.CL"
LEGACY_ONE = "arxivpy-legacy-2016__id_list_1111.2011v2"
LEGACY_SEARCH = "arxivpy-legacy-2016__search_query_au_del_maestro"
PAGE_0 = "arxivpy-2026__q_testing_s0_m10_"
PAGE_10 = "arxivpy-2026__q_testing_s10_m10_"
HUNDRED = "arxivpy-2026__q_testing_s0_m100_"
ERROR_400 = "arxivpy-2026__id_abc_"
EMPTY = "arxivpy-2026__id_0000.0000_"
OLD_VERSIONED = "arxivpy-2026__id_quant-ph_0201082v1_"
OLD_PLAIN = "arxivpy-2026__id_astro-ph_0601001_"
NEW_VERSIONED = "arxivpy-2026__id_2104.12255v1_"
ERA_MISMATCH = "arxivpy-2026__id_0808.05394_1707.08567_"


def with_total(raw: bytes, total: int) -> bytes:
    """A recorded body with another opensearch:totalResults (to end paging where we want)."""
    return re.sub(rb"(<opensearch:totalResults[^>]*>)\d+(<)", rb"\g<1>%d\2" % total, raw)


# ---------------------------------------------------------------- parser on recorded bodies


def test_current_format():
    listing = parse_api_response(body(CURRENT))
    assert listing.total_results == 119894
    assert [p.id for p in listing.papers] == ["2609.28471", "2609.28449", listing.papers[2].id]
    first, second = listing.papers[:2]
    assert first.version == 1 and first.is_arxiv
    assert first.title == "Contrastive Learning for Authorship Verification"
    assert first.authors == ("Peter Kirby",)
    assert first.doi == "10.1007/978-3-032-39150-6_7"
    assert first.journal_ref.startswith("Experimental IR Meets Multilinguality")
    assert first.comments.startswith("Published in the proceedings of CLEF 2026")
    assert first.published == "2026-09-23T17:59:08Z" and first.updated == "2026-09-23T17:59:08Z"
    assert second.primary_category == "cs.SE"
    assert second.categories == ("cs.SE", "cs.AI", "cs.CL")
    assert second.authors[0] == "Hamed Taherkhani" and len(second.authors) == 6
    assert listing.skipped == []


def test_legacy_2016_format_single_id():
    (paper,) = parse_api_response(body(LEGACY_ONE)).papers
    assert (paper.id, paper.version) == ("1111.2011", 2)
    assert paper.title == (
        "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"
    )
    assert "\n" not in paper.abstract and paper.abstract.startswith("Theoretical description")
    assert paper.authors == ("James M. Murray", "Adrian Del Maestro", "Zlatko Tesanovic")
    assert paper.primary_category == "cond-mat.str-el"
    assert paper.categories == ("cond-mat.str-el", "cond-mat.stat-mech")
    assert paper.doi == "10.1103/PhysRevB.85.115117"
    assert paper.journal_ref == "Phys. Rev. B 85, 115117 (2012)"
    assert paper.comments == "8 pages, 3 figures. Published version"
    assert (paper.published, paper.updated) == ("2011-11-08T18:48:36Z", "2012-04-02T12:38:54Z")


def test_legacy_2016_search_with_old_style_ids():
    listing = parse_api_response(body(LEGACY_SEARCH))
    assert listing.total_results == 31
    assert len(listing.papers) == 10
    ids = {p.id for p in listing.papers}
    assert any("/" in i for i in ids), ids  # e.g. cond-mat/0603029
    assert all(p.title and p.abstract and p.authors for p in listing.papers)
    assert all(p.categories[0] == p.primary_category for p in listing.papers)


def test_paging_pair_and_hundred():
    first, second = parse_api_response(body(PAGE_0)), parse_api_response(body(PAGE_10))
    assert len(first.papers) == len(second.papers) == 10
    assert not {p.id for p in first.papers} & {p.id for p in second.papers}
    hundred = parse_api_response(body(HUNDRED))
    assert len(hundred.papers) == 100 and hundred.total_results == 214881
    assert [p.id for p in hundred.papers[:20]] == [p.id for p in first.papers + second.papers]
    assert any(not p.abstract.isascii() for p in hundred.papers)  # Greek letters, accents


def test_http_400_error_entry_names_the_bad_id():
    with pytest.raises(ApiQueryError) as caught:
        parse_api_response(body(ERROR_400))
    assert str(caught.value) == "arXiv API rejected the query: incorrect id format for abc"
    assert isinstance(caught.value, UsageError)


def test_empty_result():
    listing = parse_api_response(body(EMPTY))
    assert (listing.papers, listing.skipped, listing.total_results) == ([], [], 0)


def test_old_style_ids_with_and_without_version():
    (versioned,) = parse_api_response(body(OLD_VERSIONED)).papers
    assert (versioned.id, versioned.version) == ("quant-ph/0201082", 1)
    assert versioned.categories == ("quant-ph", "cs.PL") and versioned.comments == "32 pages"
    (plain,) = parse_api_response(body(OLD_PLAIN)).papers
    assert plain.id == "astro-ph/0601001"
    assert plain.abs_url == "https://arxiv.org/abs/astro-ph/0601001"
    (new,) = parse_api_response(body(NEW_VERSIONED)).papers
    assert (new.id, new.version, new.title) == ("2104.12255", 1, "0")


def test_era_mismatched_id_is_silently_dropped_by_the_api():
    listing = parse_api_response(body(ERA_MISMATCH))
    assert [p.id for p in listing.papers] == ["1707.08567"]
    assert listing.papers[0].authors[-2] == "Dirk Wübben"


def test_malformed_entries_are_skipped_with_reasons():
    raw = body(PAGE_0).decode()
    entries = raw.split("<entry>")
    entries[1] = re.sub(r"<title>.*?</title>", "<title>  </title>", entries[1], flags=re.S)
    entries[2] = re.sub(r"<summary>.*?</summary>", "", entries[2], flags=re.S)
    entries[3] = re.sub(r"<id>.*?</id>", "<id>http://example.org/not-arxiv</id>", entries[3])
    listing = parse_api_response("<entry>".join(entries).encode())
    assert len(listing.papers) == 7
    assert [s.reason for s in listing.skipped] == [
        "entry has no title",
        "entry has no abstract",
        "entry id 'http://example.org/not-arxiv' is not an arXiv id",
    ]


def test_not_xml_and_not_atom_are_parse_errors():
    with pytest.raises(ParseError):
        parse_api_response(b"<html><body>Rate exceeded.</body></html")
    with pytest.raises(ParseError, match="not an Atom feed"):
        parse_api_response(b"<html><body>Rate exceeded.</body></html>")
    with pytest.raises(ParseError):
        parse_api_response(body(PAGE_0)[:5000])  # truncated
    with pytest.raises(ParseError):
        parse_api_response(b'<?xml version="1.0" encoding="no-such"?><feed/>')
    with pytest.raises(ParseError, match="DOCTYPE"):
        parse_api_response(b'<!DOCTYPE f [<!ENTITY a "aaaa">]><feed>&a;</feed>')


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400) | st.text(max_size=300).map(lambda t: t.encode()))
def test_fuzz_random_bytes(raw):
    try:
        parse_api_response(raw)
    except (ParseError, ApiQueryError):
        pass


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_fuzz_cut_and_spliced_real_bodies(data):
    raw = body(CURRENT)
    start = data.draw(st.integers(0, len(raw)))
    end = data.draw(st.integers(start, min(len(raw), start + 400)))
    filler = data.draw(st.binary(max_size=20) | st.sampled_from([b"", b"<", b"&amp;", b"\xff"]))
    try:
        listing = parse_api_response(raw[:start] + filler + raw[end:])
    except (ParseError, ApiQueryError):
        return
    assert all(p.id and p.title and p.abstract for p in listing.papers)


def test_validate_arxiv_id():
    assert validate_arxiv_id("2408.01234v2") == ("2408.01234", 2)
    assert validate_arxiv_id("hep-th/9901001") == ("hep-th/9901001", None)
    assert validate_arxiv_id("math.CA/0611800v2") == ("math/0611800", 2)
    assert validate_arxiv_id("0704.0001") == ("0704.0001", None)
    for bad in ("abc", "0808.05394", "1501.0001", "2413.00001", "0000.0000", ""):
        with pytest.raises(UsageError, match="not an arXiv id"):
            validate_arxiv_id(bad)


def test_category_search_query():
    assert category_search_query("cs.AI", date(2025, 8, 1), date(2025, 8, 3)) == (
        "cat:cs.AI AND submittedDate:[202508010000 TO 202508032359]"
    )


# ---------------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def _module_server():
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    yield srv
    srv.clear()
    srv.stop()


class FakeArxiv:
    """Serves recorded bodies by query parameters, like export.arxiv.org/api/query would."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.routes: list[tuple[dict[str, str], int, bytes]] = []
        self.requests: list[dict[str, str]] = []
        self.arrivals: list[float] = []
        server.expect_request("/api/query").respond_with_handler(self.handle)

    def add(self, params: dict[str, str], raw: bytes, status: int = 200) -> None:
        self.routes.append((params, status, raw))

    def handle(self, request: Request) -> Response:
        self.arrivals.append(time.monotonic())
        args = dict(request.args)
        self.requests.append(args)
        for params, status, raw in self.routes:
            if all(args.get(k) == v for k, v in params.items()):
                return Response(raw, status=status, content_type="application/atom+xml")
        return Response(b"no route", status=500)

    @property
    def url(self) -> str:
        return self.server.url_for("/api/query")


@pytest.fixture
def arxiv(_module_server):
    _module_server.clear()
    yield FakeArxiv(_module_server)
    _module_server.clear()


@pytest.fixture
def cfg(arxiv, tmp_path) -> Config:
    return Config(
        arxiv=ArxivConfig(
            api_base_url=arxiv.url,
            request_delay_seconds=0.1,
            timeout_seconds=2.0,
            max_retries=1,
            api_page_size=10,
        ),
        base_dir=tmp_path,
    )


@pytest.fixture
def fetcher(cfg):
    with PoliteFetcher(cfg.arxiv, jitter=lambda: 0.0) as polite:
        yield polite


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "digest.db")
    yield database
    database.conn.close()


def test_query_by_ids_sends_the_id_list(arxiv, cfg, fetcher):
    arxiv.add({"id_list": "quant-ph/0201082v1,astro-ph/0601001"}, body(OLD_VERSIONED))
    listing = query_by_ids(fetcher, cfg, ["quant-ph/0201082v1", "astro-ph/0601001"])
    assert [p.id for p in listing.papers] == ["quant-ph/0201082"]
    assert [(s.ref, s.reason) for s in listing.skipped] == [
        ("astro-ph/0601001", "not found by the arXiv API")
    ]
    assert arxiv.requests == [
        {"id_list": "quant-ph/0201082v1,astro-ph/0601001", "start": "0", "max_results": "2"}
    ]


def test_query_by_ids_unknown_id(arxiv, cfg, fetcher):
    # the recorded answer for a valid-looking unknown id (0000.0000), served for another one
    arxiv.add({"id_list": "2501.99999"}, body(EMPTY))
    listing = query_by_ids(fetcher, cfg, ["2501.99999"])
    assert listing.papers == [] and listing.skipped[0].ref == "2501.99999"


def test_invalid_id_is_refused_before_any_request(arxiv, cfg, fetcher):
    with pytest.raises(UsageError, match="'0808.05394'"):
        query_by_ids(fetcher, cfg, ["1707.08567", "0808.05394"])
    with pytest.raises(UsageError, match="'abc'"):
        query_by_ids(fetcher, cfg, ["abc"])
    assert arxiv.requests == []


def test_http_400_error_entry_becomes_api_query_error(arxiv, cfg, fetcher):
    arxiv.add({"id_list": "2104.12255"}, body(ERROR_400), status=400)
    with pytest.raises(ApiQueryError, match="incorrect id format for abc"):
        query_by_ids(fetcher, cfg, ["2104.12255"])
    assert len(arxiv.requests) == 1  # a 400 is an answer, not something to retry


def test_category_paging_until_total_results(arxiv, cfg, fetcher):
    sent: list[float] = []  # when the client sent each request (the server's clock lags under load)
    send = fetcher._client.send

    def timed_send(request, **kwargs):
        sent.append(time.monotonic())
        return send(request, **kwargs)

    fetcher._client.send = timed_send
    arxiv.add({"start": "0"}, with_total(body(PAGE_0), 20))
    arxiv.add({"start": "10"}, with_total(body(PAGE_10), 20))
    pages = list(query_by_category(fetcher, cfg, "cs.SE", date(2022, 1, 1), date(2024, 12, 31)))
    assert [len(p.papers) for p in pages] == [10, 10]
    assert [r["start"] for r in arxiv.requests] == ["0", "10"]
    assert arxiv.requests[0] == {
        "search_query": "cat:cs.SE AND submittedDate:[202201010000 TO 202412312359]",
        "start": "0",
        "max_results": "10",
        "sortBy": "submittedDate",
        "sortOrder": "ascending",
    }
    assert sent[1] - sent[0] >= 0.1  # spaced by the configured delay


def test_category_paging_stops_on_an_empty_page(arxiv, cfg, fetcher):
    arxiv.add({"start": "0"}, with_total(body(PAGE_0), 500))
    arxiv.add({"start": "10"}, with_total(body(EMPTY), 500))
    pages = list(query_by_category(fetcher, cfg, "cs.SE", date(2022, 1, 1), date(2022, 1, 2)))
    assert [len(p.papers) for p in pages] == [10, 0]
    assert len(arxiv.requests) == 2


def test_category_query_over_the_api_limit_asks_for_a_shorter_range(arxiv, cfg, fetcher):
    arxiv.add({"start": "0"}, body(PAGE_0))  # totalResults 214881
    with pytest.raises(UsageError, match="at most 30000"):
        list(query_by_category(fetcher, cfg, "cs.SE", date(2000, 1, 1), date(2026, 1, 1)))


def test_bad_category_or_dates(cfg, fetcher):
    with pytest.raises(UsageError, match="not an arXiv category"):
        list(query_by_category(fetcher, cfg, "cs AI; DROP", date(2025, 1, 1), date(2025, 1, 2)))
    with pytest.raises(UsageError, match="after"):
        list(query_by_category(fetcher, cfg, "cs.AI", date(2025, 1, 3), date(2025, 1, 2)))


# ---------------------------------------------------------------- back-fill into SQLite


def test_backfill_twice_gives_no_duplicate_rows(arxiv, cfg, fetcher, db):
    arxiv.add({"start": "0"}, with_total(body(PAGE_0), 20))
    arxiv.add({"start": "10"}, with_total(body(PAGE_10), 20))
    seen: list[int] = []
    first = backfill_api(
        db,
        cfg,
        fetcher,
        category="cs.SE",
        date_from=date(2022, 1, 1),
        date_to=date(2024, 12, 31),
        progress=seen.append,
    )
    assert first.status == "ok" and first.counts.new == 20 and first.counts.fetched == 20
    assert seen == [10, 20]
    second = backfill_api(
        db, cfg, fetcher, category="cs.SE", date_from=date(2022, 1, 1), date_to=date(2024, 12, 31)
    )
    assert (second.counts.new, second.counts.unchanged) == (0, 20)
    assert count_papers(db) == 20
    assert db.execute("SELECT COUNT(*) FROM paper_versions").fetchone()[0] == 20
    runs = recent_ingest_runs(db)
    assert [r["status"] for r in runs] == ["ok", "ok"]
    assert runs[0]["category"] == "cs.SE 2022-01-01..2024-12-31" and runs[0]["source"] == "api"


def test_backfill_by_ids_stores_old_style_ids(arxiv, cfg, fetcher, db):
    arxiv.add({"id_list": "quant-ph/0201082v1"}, body(OLD_VERSIONED))
    report = backfill_api(db, cfg, fetcher, ids=["quant-ph/0201082v1"])
    assert report.counts.new == 1
    paper = get_paper(db, "quant-ph/0201082")
    assert paper is not None and paper.primary_category == "quant-ph" and paper.version == 1


def test_fetch_error_marks_the_run_failed_and_keeps_whole_pages(arxiv, cfg, fetcher, db):
    arxiv.add({"start": "0"}, with_total(body(PAGE_0), 30))
    arxiv.add({"start": "10"}, b"overloaded", status=503)
    with pytest.raises(FetchError) as caught:
        backfill_api(
            db, cfg, fetcher, category="cs.SE", date_from=date(2022, 1, 1), date_to=date(2022, 1, 2)
        )
    assert arxiv.url in str(caught.value) and "HTTP 503" in str(caught.value)
    assert count_papers(db) == 10  # the first page, whole; nothing of the failed one
    (run,) = recent_ingest_runs(db)
    assert run["status"] == "failed" and run["new"] == 10
    assert "HTTP 503" in run["error"] and arxiv.url in run["error"]
    assert run["finished_at"] is not None


def test_api_query_error_marks_the_run_failed(arxiv, cfg, fetcher, db):
    arxiv.add({"id_list": "2104.12255"}, body(ERROR_400), status=400)
    with pytest.raises(ApiQueryError):
        backfill_api(db, cfg, fetcher, ids=["2104.12255"])
    (run,) = recent_ingest_runs(db)
    assert run["status"] == "failed" and "incorrect id format for abc" in run["error"]


def test_backfill_usage_errors_start_no_run(cfg, fetcher, db):
    with pytest.raises(UsageError):
        backfill_api(db, cfg, fetcher)
    with pytest.raises(UsageError, match="start date"):
        backfill_api(db, cfg, fetcher, category="cs.AI")
    with pytest.raises(UsageError, match="'nope'"):
        backfill_api(db, cfg, fetcher, ids=["nope"])
    assert recent_ingest_runs(db) == []


def test_run_fetch_refuses_a_category_that_is_not_one_before_any_request(arxiv, cfg, db):
    """`fetch -C ''` fetched the feed server's directory listing, `-C 'cs.AI?x=1'` another URL."""
    from digest.ingest.fetching import run_fetch

    for bad in ("", "../atom", "cs.AI?x=1", "cs AI", "cs.AI#x", "cs.AI+"):
        with pytest.raises(UsageError, match="is not an arXiv category"):
            run_fetch(db, cfg, categories=[bad])
    assert arxiv.requests == [] and recent_ingest_runs(db) == []


def test_api_backfill_splits_a_feed_style_joined_category(arxiv, cfg, db):
    from dataclasses import replace

    from digest.ingest.fetching import run_fetch

    arxiv.add({"start": "0"}, with_total(body(PAGE_0), 10))
    joined = replace(cfg, arxiv=replace(cfg.arxiv, categories=("cs.SE+cs.AI", "cs.AI")))
    reports = run_fetch(
        db, joined, source="api", date_from=date(2022, 1, 1), date_to=date(2022, 1, 2)
    )
    assert [r.label for r in reports] == [
        "cs.SE 2022-01-01..2022-01-02",
        "cs.AI 2022-01-01..2022-01-02",
    ]
    assert [r.status for r in reports] == ["ok", "ok"]
    assert [q["search_query"].split()[0] for q in arxiv.requests] == ["cat:cs.SE", "cat:cs.AI"]


def test_an_id_query_stores_only_the_requested_papers(arxiv, cfg, fetcher, db):
    """A proxy answering the id query with some other listing put 10 unasked papers in."""
    arxiv.add({"id_list": "2401.00001"}, with_total(body(PAGE_0), 10))
    report = backfill_api(db, cfg, fetcher, ids=["2401.00001"])
    assert report.counts.new == 0 and count_papers(db) == 0
    reasons = [s.reason for s in report.skipped]
    assert reasons.count("not one of the requested ids") == 10
    assert "not found by the arXiv API" in reasons


def test_an_api_answer_that_is_not_atom_fails_that_category_only(arxiv, cfg, db):
    """A ParseError used to end `fetch --source api` at the first category, --json unprinted."""
    from dataclasses import replace

    from digest.ingest.fetching import run_fetch

    arxiv.add(
        {"search_query": "cat:cs.SE AND submittedDate:[202201010000 TO 202201022359]"},
        b"<html><body>Service unavailable</body></html>",
    )
    arxiv.add({"start": "0"}, with_total(body(PAGE_0), 10))
    two = replace(cfg, arxiv=replace(cfg.arxiv, categories=("cs.SE", "cs.AI")))
    reports = run_fetch(db, two, source="api", date_from=date(2022, 1, 1), date_to=date(2022, 1, 2))
    assert [r.status for r in reports] == ["failed", "ok"]
    assert "not an Atom feed" in reports[0].error and reports[1].counts.new == 10
    assert [r["status"] for r in recent_ingest_runs(db)] == ["ok", "failed"]


def test_category_paging_is_bounded_by_the_first_pages_total(arxiv, cfg, fetcher):
    """A later page claiming a far larger total kept the paging going, page after page."""
    arxiv.add({"start": "0"}, with_total(body(PAGE_0), 20))
    arxiv.add({}, with_total(body(PAGE_10), 25_000))  # every later page
    pages = list(query_by_category(fetcher, cfg, "cs.SE", date(2022, 1, 1), date(2022, 1, 2)))
    assert len(pages) == 2 and [r["start"] for r in arxiv.requests] == ["0", "10"]
