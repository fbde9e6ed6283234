"""Bring your library: matching to stored papers (arXiv id, DOI, title), fetching missing ids
through the polite arXiv API client (a loopback server answering with recorded responses), a
re-import that replaces, bad files that change nothing, and the library topic in ranking."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from datetime import date

import pytest
from conftest import ARXIV_FIXTURES, run_cli_in_process
from werkzeug import Request, Response

from digest.paths import SAMPLES_DIR
from digest.rank.planning import plan_digest
from digest.store import library as library_store
from digest.store.papers import get_paper
from digest.subscribers.library import fetch_pending, import_library
from digest.subscribers.manage import add_subscriber

API = ARXIV_FIXTURES / "api"
ATOM = "{http://www.w3.org/2005/Atom}"
ISSUE = date(2025, 8, 20)


def recorded_feed(*names: str) -> bytes:
    """One API answer holding the entries of several recorded answers (as arXiv answers an
    id list): the first file's feed with the other files' entries appended."""
    ET.register_namespace("", "http://www.w3.org/2005/Atom")
    ET.register_namespace("arxiv", "http://arxiv.org/schemas/atom")
    ET.register_namespace("opensearch", "http://a9.com/-/spec/opensearch/1.1/")
    files = [next(API.glob(f"{name}*")) for name in names]
    root = ET.parse(files[0]).getroot()
    for extra in files[1:]:
        for entry in ET.parse(extra).getroot().iter(f"{ATOM}entry"):
            root.append(entry)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


class ArxivLoopback:
    """export.arxiv.org/api/query on loopback: records each id_list and when it came."""

    def __init__(self, server, answer: bytes) -> None:
        self.requests: list[dict[str, str]] = []
        self.arrivals: list[float] = []
        self.answer = answer
        server.expect_request("/api/query").respond_with_handler(self.handle)
        self.url = server.url_for("/api/query")

    def handle(self, request: Request) -> Response:
        self.arrivals.append(time.monotonic())
        self.requests.append(dict(request.args))
        return Response(self.answer, content_type="application/atom+xml")


@pytest.fixture
def reader(sample_db):
    return add_subscriber(sample_db, "lin@example.org", status="active", text="neuro-symbolic")


def test_sample_library_matches_by_id_doi_url_and_title(sample_db, sample_config, reader):
    raw = (SAMPLES_DIR / "library.bib").read_bytes()
    report = import_library(sample_db, sample_config, reader, raw, "library.bib", fetch=False)
    # the sample day holds 5 of its 10 entries; the week's 3 and Vaswani et al. are not stored
    assert (report.format, report.entries) == ("bibtex", 10)
    assert (report.by_arxiv_id, report.by_doi, report.by_title) == (4, 0, 1)
    assert (report.matched, report.pending, report.unmatched) == (5, 4, 1)
    assert report.unmatched_titles == ["Artificial Intelligence: A Modern Approach"]
    assert library_store.library_paper_ids(sample_db, reader.id) == [
        "2508.13678",
        "2508.13697",
        "2508.13371",
        "2508.13876",
        "2508.13811",
    ]


def test_doi_matches_a_stored_papers_doi(sample_db, sample_config, reader):
    stored = [r for r in sample_db.query("SELECT id, doi FROM papers WHERE doi IS NOT NULL")]
    assert stored, "the RSS sample has a paper with a DOI"
    bib = f"@article{{k, title={{Whatever the exporter wrote}}, doi={{https://doi.org/{stored[0]['doi'].upper()}}}}}"
    report = import_library(sample_db, sample_config, reader, bib.encode(), "x.bib", fetch=False)
    assert report.by_doi == 1
    assert library_store.library_paper_ids(sample_db, reader.id) == [stored[0]["id"]]


def test_missing_ids_are_fetched_in_one_batched_request(sample_db, make_config, reader, httpserver):
    api = ArxivLoopback(
        httpserver,
        recorded_feed("arxivpy-2026__id_0808.05394_1707.08567", "arxivpy-2026__id_2104.12255v1"),
    )
    config, _ = make_config({"arxiv": {"api_base_url": api.url, "request_delay_seconds": 0.2}})
    bib = (
        "@article{a, title={Fetched one}, eprint={1707.08567}, archivePrefix={arXiv}}\n"
        "@article{b, title={Fetched two}, journal={arXiv preprint arXiv:2104.12255}}\n"
        "@article{c, title={Unknown to arXiv}, eprint={2501.99999}, archivePrefix={arXiv}}\n"
        "@article{d, title={Stored already}, eprint={2508.13678}, archivePrefix={arXiv}}\n"
    )
    report = import_library(sample_db, config, reader, bib.encode(), "x.bib")
    assert api.requests == [
        {"id_list": "1707.08567,2104.12255,2501.99999", "start": "0", "max_results": "3"}
    ]
    assert (report.matched, report.fetched, report.unmatched, report.pending) == (1, 2, 1, 0)
    assert report.unmatched_titles == ["Unknown to arXiv"]
    assert get_paper(sample_db, "2104.12255") is not None
    assert report.match_rate == 0.75 and report.api_requests == 1


def test_api_requests_are_spaced_and_batched_by_page_size(
    sample_db, make_config, reader, httpserver
):
    api = ArxivLoopback(httpserver, recorded_feed("arxivpy-2026__id_0000.0000"))
    config, _ = make_config(
        {"arxiv": {"api_base_url": api.url, "request_delay_seconds": 0.3, "api_page_size": 2}}
    )
    ids = ["2501.00001", "2501.00002", "2501.00003", "2501.00004", "2501.00005"]
    bib = "\n".join(f"@misc{{k{n}, title={{T{n}}}, eprint={{{i}}}}}" for n, i in enumerate(ids))
    report = import_library(sample_db, config, reader, bib.encode(), "x.bib")
    assert [r["id_list"] for r in api.requests] == [
        "2501.00001,2501.00002",
        "2501.00003,2501.00004",
        "2501.00005",
    ]
    gaps = [b - a for a, b in zip(api.arrivals, api.arrivals[1:], strict=False)]
    assert min(gaps) >= 0.29  # one request per request_delay_seconds, never faster
    assert report.unmatched == 5


def test_api_down_leaves_ids_pending_for_the_daily_run(sample_db, make_config, reader, httpserver):
    httpserver.expect_request("/api/query").respond_with_data("down", status=503)
    config, _ = make_config(
        {"arxiv": {"api_base_url": httpserver.url_for("/api/query"), "max_retries": 0}}
    )
    bib = "@article{a, title={Fetched later}, eprint={2104.12255}, archivePrefix={arXiv}}\n"
    report = import_library(sample_db, config, reader, bib.encode(), "x.bib")
    assert report.pending == 1 and "HTTP 503" in (report.fetch_error or "")
    assert library_store.pending_arxiv_ids(sample_db) == ["2104.12255"]
    # the daily run's fetch stage: the API is back
    httpserver.clear()
    api = ArxivLoopback(httpserver, recorded_feed("arxivpy-2026__id_2104.12255v1"))
    counts = fetch_pending(sample_db, config)
    assert counts["library_fetched"] == 1 and api.requests[0]["id_list"] == "2104.12255"
    assert library_store.library_paper_ids(sample_db, reader.id) == ["2104.12255"]
    assert library_store.pending_arxiv_ids(sample_db) == []


def test_reimport_replaces_and_nothing_doubles(sample_db, sample_config, reader):
    raw = (SAMPLES_DIR / "library.bib").read_bytes()
    for _ in range(2):
        import_library(sample_db, sample_config, reader, raw, "library.bib", fetch=False)
    assert sample_db.execute("SELECT COUNT(*) FROM library_entries").fetchone()[0] == 10
    # two entries of one paper make one paper of the topic
    twice = "@misc{a, title={x}, eprint={2508.13678}}\n@misc{b, title={y}, eprint={2508.13678v2}}"
    report = import_library(sample_db, sample_config, reader, twice.encode(), "b.bib")
    assert (report.entries, report.papers) == (2, 1)
    assert library_store.library_paper_ids(sample_db, reader.id) == ["2508.13678"]
    summary = library_store.library_summary(sample_db, reader.id)
    assert summary is not None and summary["file_name"] == "b.bib" and summary["entries"] == 2


@pytest.mark.parametrize(
    "raw",
    [
        b"not a library at all",
        "@article{x, author={Nobody}}".encode("utf-16"),
        b"@misc{k, title={x}}\n" + b"%" * (50 * 2**20),
    ],
    ids=["none-of-the-formats", "no-title-utf16", "50MB"],
)
def test_a_bad_file_changes_nothing_of_the_subscriber(sample_db, sample_config, reader, raw):
    from digest.errors import UsageError
    from digest.store.subscribers import get_subscriber
    from digest.store.topics import topics_for_subscriber

    good = (SAMPLES_DIR / "library.bib").read_bytes()
    import_library(sample_db, sample_config, reader, good, "library.bib", fetch=False)
    before = (
        get_subscriber(sample_db, reader.id),
        topics_for_subscriber(sample_db, reader.id),
        list(sample_db.query("SELECT * FROM library_entries ORDER BY position")),
        library_store.library_summary(sample_db, reader.id),
    )
    with pytest.raises(UsageError):
        import_library(sample_db, sample_config, reader, raw, "bad.bib", fetch=False)
    after = (
        get_subscriber(sample_db, reader.id),
        topics_for_subscriber(sample_db, reader.id),
        list(sample_db.query("SELECT * FROM library_entries ORDER BY position")),
        library_store.library_summary(sample_db, reader.id),
    )
    assert after == before


def test_library_topic_ranks_with_a_why_line_naming_the_library_paper(
    sample_db, sample_config, reader
):
    from digest.store.topics import list_topics, topics_for_subscriber

    for topic in topics_for_subscriber(sample_db, reader.id):  # only the library remains
        sample_db.execute("DELETE FROM subscriber_topics WHERE topic_id = ?", [topic.id])
    assert not [t for t in list_topics(sample_db, kind="personal") if t.owner_id is None]
    raw = (SAMPLES_DIR / "library.bib").read_bytes()
    import_library(sample_db, sample_config, reader, raw, "library.bib", fetch=False)
    plan = plan_digest(sample_db, sample_config, reader, ISSUE)
    library_titles = {
        get_paper(sample_db, pid).title  # type: ignore[union-attr]
        for pid in library_store.library_paper_ids(sample_db, reader.id)
    }
    assert plan.picks, "the library alone finds papers"
    for pick in plan.picks:
        assert pick.topic == "From your library"
        assert pick.paper_id not in library_store.library_paper_ids(sample_db, reader.id)
        assert pick.similar_to in library_store.library_paper_ids(sample_db, reader.id)
        quoted = pick.why.split("close to “", 1)[1].split("” in your library", 1)[0]
        assert any(t.startswith(quoted.rstrip("…")) for t in library_titles), pick.why


def test_cli_library_import_show_and_remove(sample_db, sample_config, reader, capsys):
    from pathlib import Path

    config_path = Path(sample_config.base_dir) / "config.toml"

    def run(*args: str) -> tuple[int, str, str]:
        return run_cli_in_process(config_path, capsys, *args)

    bib = SAMPLES_DIR / "library.bib"
    code, out, err = run("subscribers", "library", "lin@example.org", str(bib), "--no-fetch")
    assert code == 0, err
    assert "10 entries from library.bib (bibtex): 5 matched (4 by arXiv id" in out
    assert "not found: Artificial Intelligence: A Modern Approach" in out
    code, out, _ = run("subscribers", "library", "lin@example.org")
    assert code == 0 and "library.bib (bibtex, 10 entries" in out and "5 papers" in out
    code, out, _ = run(
        "subscribers", "library", "lin@example.org", str(bib), "--no-fetch", "--json"
    )
    assert code == 0 and '"match_rate": 0.5' in out
    code, _, err = run("subscribers", "library", "lin@example.org", str(config_path))
    assert code == 2 and "not a BibTeX (.bib), RIS (.ris) or CSL-JSON" in err
    code, _, err = run("subscribers", "library", "nobody@example.org", str(bib))
    assert code == 2 and "no subscriber with address" in err
    code, out, _ = run("subscribers", "library", "lin@example.org", "--remove")
    assert code == 0 and "removed lin@example.org" in out
    assert library_store.library_summary(sample_db, reader.id) is None


def test_the_daily_run_fetches_what_an_upload_left_pending(make_config, httpserver, sample_db_path):
    """An upload never waits on arXiv: the next daily run's fetch stage asks the API (after
    the feeds, spaced), the embed stage embeds the paper and the library topic uses it."""
    import shutil

    from conftest import ATOM_SAMPLE

    from digest.pipeline import run_daily
    from digest.store import open_db
    from digest.store.papers import load_vectors

    api = ArxivLoopback(httpserver, recorded_feed("arxivpy-2026__id_2104.12255v1"))
    httpserver.expect_request("/atom/cs.AI").respond_with_data(ATOM_SAMPLE.read_bytes())
    config, _ = make_config(
        {
            "arxiv": {
                "feed_base_url": httpserver.url_for("/").rstrip("/"),
                "api_base_url": api.url,
                "categories": ["cs.AI"],
                "max_retries": 0,
            },
            "mail": {"max_lateness_hours": 1e9},
        }
    )
    config.db_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(sample_db_path, config.db_path)
    db = open_db(config.db_path)
    reader = add_subscriber(db, "lin@example.org", status="active", topics=())
    bib = b"@article{a, title={From the API}, eprint={2104.12255}, archivePrefix={arXiv}}"
    report = import_library(db, config, reader, bib, "x.bib", source="web", fetch=False)
    assert report.pending == 1 and api.requests == []
    day = run_daily(db, config, ISSUE)
    fetch = day.stages[0]
    assert fetch.counts["library_fetched"] == 1 and api.requests[0]["id_list"] == "2104.12255"
    assert library_store.library_paper_ids(db, reader.id) == ["2104.12255"]
    found, _ = load_vectors(db, config.embedding.model, ["2104.12255"])
    assert found == ["2104.12255"]  # embedded by the same run
    db.conn.close()


def test_a_fetch_that_fails_half_way_keeps_what_it_got(sample_db, make_config, reader, httpserver):
    answers = [recorded_feed("arxivpy-2026__id_2104.12255v1")]

    def handle(request: Request) -> Response:
        if answers:
            return Response(answers.pop(), content_type="application/atom+xml")
        return Response("busy", status=503)

    httpserver.expect_request("/api/query").respond_with_handler(handle)
    config, _ = make_config(
        {
            "arxiv": {
                "api_base_url": httpserver.url_for("/api/query"),
                "api_page_size": 1,
                "max_retries": 0,
            }
        }
    )
    bib = (
        "@article{a, title={First page}, eprint={2104.12255}, archivePrefix={arXiv}}\n"
        "@article{b, title={Second page}, eprint={1707.08567}, archivePrefix={arXiv}}\n"
    )
    report = import_library(sample_db, config, reader, bib.encode(), "x.bib")
    assert (report.fetched, report.pending) == (1, 1) and "HTTP 503" in (report.fetch_error or "")
    assert library_store.pending_arxiv_ids(sample_db) == ["1707.08567"]
