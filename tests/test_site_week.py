"""The archive of a real recorded week (data/samples: the cs.AI Atom feed of 2025-08-20 and
the listings of 2025-10-06 … 10, 1,288 papers): no raw TeX on any page, each paper once on
its day's page, small day pages, the home page on the latest day, honest trending, paper-page
meta, and search in Chromium that finds what people type."""

from __future__ import annotations

import functools
import http.server
import re
import threading
from datetime import date
from pathlib import Path

import pytest

from digest.config import Config
from digest.ingest.daily import ingest_feed_file
from digest.ingest.listing_file import ingest_listing_file, parse_listing_file
from digest.ops.demo import sample_feeds, sample_listings
from digest.site.build import build_site
from digest.store import open_db
from digest.store.days import latest_announcement_day
from digest.store.papers import get_paper
from tests.browser import launched_chromium

# what must never reach a page: TeX commands the email already cleans, and $…$ maths
RAW_TEX = re.compile(r"\\(?:mathcal|mathbf|mathrm|textbf|textit|emph|mkern|frac)\b|\$[^$<>\n]+\$")
BIG_DAY = date(2025, 10, 7)  # 311 papers
DAY_PAGE_BUDGET = 350_000  # bytes of HTML for the 311-paper day


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def week(make_config_module):
    config = make_config_module
    db = open_db(config.db_path)
    for path in sample_feeds():
        ingest_feed_file(db, config, path, label="cs.AI")
    for path in sample_listings():
        ingest_listing_file(db, config, path)
    report = build_site(db, config)
    root = Path(report.dir)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"db": db, "root": root, "url": f"http://127.0.0.1:{server.server_address[1]}/"}
    server.shutdown()
    server.server_close()
    db.conn.close()


@pytest.fixture(scope="module")
def make_config_module(tmp_path_factory):
    import tomllib

    from digest.config import parse_config

    folder = tmp_path_factory.mktemp("week")
    text = (
        '[database]\npath = "data/digest.db"\n[site]\ndir = "data/site"\n'
        'base_url = "https://papers.example.org/digest"\n'
    )
    (folder / "config.toml").write_text(text, encoding="utf-8")
    config: Config = parse_config(tomllib.loads(text), source="config.toml", base_dir=folder)
    config.db_path.parent.mkdir(parents=True, exist_ok=True)
    return config


def test_the_recorded_listings_are_read_as_days():
    listing = parse_listing_file(sample_listings()[0])
    assert listing.channel_date == date(2025, 10, 6) and len(listing.papers) == 164
    assert all(
        p.announce_type == "new" and p.announced == listing.channel_date for p in listing.papers
    )
    # ACM classes (I.2.7) are not arXiv categories: dropped, the paper kept
    categories = {c for p in listing.papers for c in p.categories}
    assert not any(re.fullmatch(r"[A-Z]\.\d.*", c) for c in categories)


def test_no_raw_tex_reaches_a_page_of_the_recorded_papers(week):
    pages = [p for p in week["root"].rglob("*.html") if "search/" not in p.as_posix()]
    assert len(pages) > 1288
    offenders = {}
    for path in pages:
        found = RAW_TEX.search(path.read_text(encoding="utf-8"))
        if found:
            offenders[path.relative_to(week["root"]).as_posix()] = found.group(0)
    assert offenders == {}
    # the papers that had TeX show MathML and typography instead
    page = (week["root"] / "papers" / "2510.06870.html").read_text(encoding="utf-8")
    assert "<math" in page


def test_a_days_page_lists_each_paper_once_and_stays_small(week):
    page = (week["root"] / "days" / f"{BIG_DAY}.html").read_text(encoding="utf-8")
    items = re.findall(r'<li class="paper[^"]*">\s*<h3 class="card-title"><a href="([^"]+)"', page)
    assert len(items) == 311 and len(set(items)) == 311
    assert page.count("../papers/") == 311  # no second list repeats a paper
    assert len(page.encode()) < DAY_PAGE_BUDGET
    assert "Nothing is trending yet" in page  # no reader signal in this archive


def test_the_home_page_is_the_latest_day(week):
    latest = latest_announcement_day(week["db"])
    assert latest == date(2025, 10, 10)
    home = (week["root"] / "index.html").read_text(encoding="utf-8")
    assert "Daily papers · Oct 10, 2025" in home
    assert home.count('<li class="paper') == 278


def test_a_paper_page_tells_search_engines_and_scholar_what_it_is(week):
    page = (week["root"] / "papers" / "2510.03315.html").read_text(encoding="utf-8")
    assert '<meta name="description" content="We study transformer language models' in page
    assert '<meta property="og:title" content="Decomposing Attention To Find' in page
    canonical = "https://papers.example.org/digest/papers/2510.03315.html"
    assert f'<link rel="canonical" href="{canonical}">' in page
    assert '<meta name="citation_title" content="Decomposing Attention' in page
    assert '<meta name="citation_author" content="Alex Gibson">' in page
    assert '<meta name="citation_pdf_url" content="https://arxiv.org/pdf/2510.03315">' in page
    assert 'rel="icon" href="../static/favicon.svg"' in page
    assert (week["root"] / "static" / "favicon.svg").is_file()
    recorded = (week["root"] / "papers" / "2508.00875.html").read_text(encoding="utf-8")
    assert "first seen by this archive" in recorded  # our date, labelled ours, not arXiv's
    assert re.search(r"Licence</dt><dd><a href=\"http[^\"]+\">CC [A-Z-]+ \d\.\d</a>", recorded)


def test_an_author_is_never_hidden_in_more_on_their_own_page(week):
    db = week["db"]
    paper_id, author_id = db.execute(
        "SELECT paper_id, author_id FROM paper_authors WHERE position = 11 ORDER BY paper_id"
    ).fetchone()  # the twelfth author of a paper with at least twelve
    paper = get_paper(db, paper_id)
    assert paper is not None
    name = db.execute("SELECT name FROM authors WHERE id = ?", [author_id]).fetchone()[0]
    page = (week["root"] / "authors" / f"{author_id}.html").read_text(encoding="utf-8")
    work = page[page.index(f"papers/{paper_id}.html") :][:4000]
    work = work[: work.index("</li>")]
    assert f">{name}</a>" in work and "more</span>" in work


@pytest.fixture(scope="module")
def browser():
    with launched_chromium() as chromium:
        yield chromium


def _search(browser, url: str, query: str):
    from urllib.parse import quote

    page = browser.new_page()
    page.set_default_timeout(20000)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{url}search.html?q={quote(query)}")
    page.wait_for_function(
        "location.pathname.includes('/papers/') || "
        "/paper|No paper|not in this/.test(document.getElementById('search-status').textContent)"
    )
    assert problems == []
    return page


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize(
    "query", ["2510.03315", "2510.03315v1", "arXiv:2510.03315", "arxiv:2510.03315v2"]
)
def test_an_arxiv_id_goes_straight_to_its_paper(week, browser, query):
    page = _search(browser, week["url"], query)
    assert page.url.endswith("/papers/2510.03315.html")
    assert page.locator("h1").inner_text().startswith("Decomposing Attention")
    page.close()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Decomposing Attention To Find Context-Sensitive Neurons", "Decomposing Attention"),
        ("softmax denominators", "Decomposing Attention"),  # two words from the abstract
        ("Ge Chang", "Graph-S3"),  # an author ("Chang" also stems to "change")
    ],
)
def test_search_finds_what_people_type(week, browser, query, expected):
    page = _search(browser, week["url"], query)
    first = page.locator("#search-list li").first
    assert first.locator("h3").inner_text().startswith(expected)
    excerpt = first.locator(".snippet").inner_text()
    assert "Ge Chang," not in excerpt  # the excerpt is abstract text, not the author list
    assert len(excerpt) > 80
    assert page.locator("input[type=search]").count() == 1  # one search box, the header's
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_an_id_not_in_the_archive_says_so_and_links_arxiv(week, browser):
    page = _search(browser, week["url"], "2599.99999")
    assert "not in this archive" in page.inner_text("#search-status")
    assert page.get_attribute("#search-status a", "href") == "https://arxiv.org/abs/2599.99999"
    page.close()
