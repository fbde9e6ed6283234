"""The static archive built from the recorded samples: pages, feeds, privacy, incremental builds,
atomic swap, golden output. Real SQLite, the real model, the real pagefind binary."""

from __future__ import annotations

import gzip
import json
import os
import re
from dataclasses import replace
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest
from typer.testing import CliRunner

from digest.mail import links
from digest.models import Paper, Topic
from digest.site import trees, write
from digest.site.build import build_site
from digest.store.papers import upsert_papers

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("DIGEST_UPDATE_GOLDEN") == "1"
XSS_TITLE = "<script>alert(1)</script>"
TOPICS = [
    ("Agents", ("agent", "multi-agent")),
    ("Language models", ("language model", "LLM")),
    ("Reinforcement learning", ("reinforcement learning", "policy")),
]


def prepare_archive(db, config) -> list:
    """Curated topics + their matches, subscribers with feedback, an XSS title, a non-arXiv paper."""
    from digest.embed.encoder import embed_missing
    from digest.rank.planning import match_curated_topics
    from digest.store.papers import announcement_dates
    from digest.subscribers.manage import add_subscriber, record_feedback
    from digest.topics.catalog import add_topic

    for name, keywords in TOPICS:
        add_topic(
            db,
            Topic(
                name=name,
                kind="curated",
                description=f"Papers on {name.lower()}.",
                keywords=keywords,
            ),
        )
    upsert_papers(
        db,
        [
            Paper(
                id="2609.99999",
                title=XSS_TITLE,
                version=1,
                announce_type="new",
                abstract="We detect zebracrossings with a tiny model and report what breaks.",
                authors=("Eve Example", "Alice Smith"),
                categories=("cs.CV",),
                announced=date(2026, 9, 24),
            ),
            Paper(
                id="openreview:abc123",
                title="A paper from elsewhere",
                is_arxiv=False,
                abstract="Not on arXiv at all; it must not get arXiv links.",
                authors=("Eve Example",),
                categories=("cs.LG",),
                announced=date(2026, 9, 24),
                announce_type="new",
            ),
        ],
        source="test",
    )
    embed_missing(db, config.embedding)
    for day in announcement_dates(db):
        match_curated_topics(db, config, day)
    people = [
        add_subscriber(
            db,
            "alice.private@example.org",
            status="active",
            topics=["Agents"],
            text="alice-secret-interest in quantum widgets",
        ),
        add_subscriber(db, "bob.hidden@example.net", status="pending"),
    ]
    liked = db.execute(
        "SELECT paper_id FROM listings WHERE announce_date = '2025-08-20' "
        "ORDER BY rowid DESC LIMIT 2"
    ).fetchall()
    for (paper_id,) in liked:
        record_feedback(db, "alice.private@example.org", paper_id, "like")
    return people


HOSTILE_DAY = date(2025, 8, 19)  # before the samples' days: the home page stays the same
LONG_NAME = "Y" * 240  # one unbroken 240-character "word"
CONTROL_TITLE = "Agents under \x1b[31mcontrol\x00 characters\x07"
RTL_TITLE = "Agents \u202eunclosed override"


def add_hostile_papers(db, config) -> None:
    """Papers a careless JSON source could deliver: control characters (which XML cannot
    carry), a right-to-left override that is never closed, an unbreakable author name."""
    from digest.embed.encoder import embed_missing
    from digest.rank.planning import match_curated_topics

    def paper(number: int, title: str, authors: tuple[str, ...], abstract: str) -> Paper:
        return Paper(
            id=f"hostile-{number}",
            title=title,
            is_arxiv=False,
            version=1,
            abstract=abstract,
            authors=authors,
            categories=("cs.LG",),
            announced=HOSTILE_DAY,
            announce_type="new",
        )

    upsert_papers(
        db,
        [
            paper(
                1,
                CONTROL_TITLE,
                ("\u202eEvil First", "Good Person", "Ctrl\x1b Name"),
                "A multi-agent abstract with a \x0b vertical tab, $a<b$ & \x1b[0m escapes.",
            ),
            paper(2, "Agents with a very long author", (LONG_NAME, "Normal Name"), "An agent."),
            paper(3, RTL_TITLE, ("Rtl Author",), "An agent whose title turns right to left."),
        ],
        source="test",
    )
    embed_missing(db, config.embedding)
    match_curated_topics(db, config, HOSTILE_DAY)


def site_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def file_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # pagefind fragments and indexes are gzip-compressed
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", errors="replace")


def fresh_archive(sample_db_path: Path, folder: Path):
    """A private copy of the sample database plus a Config whose site lives in `folder`."""
    import shutil

    from digest.config import parse_config
    from digest.store import open_db

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(sample_db_path, folder / "digest.db")
    config = parse_config(
        {"database": {"path": "digest.db"}, "site": {"dir": "site"}}, source="test", base_dir=folder
    )
    db = open_db(config.db_path)
    people = prepare_archive(db, config)
    return db, config, people


@pytest.fixture(scope="module")
def built(sample_db_path, tmp_path_factory):
    """One archive + build shared by the read-only tests of this module."""
    db, config, people = fresh_archive(sample_db_path, tmp_path_factory.mktemp("built"))
    report = build_site(db, config)
    yield db, config, Path(report.dir), report, people
    db.conn.close()


@pytest.fixture
def built_private(sample_db_path, tmp_path):
    """An archive + build of its own, for tests that change the database."""
    db, config, people = fresh_archive(sample_db_path, tmp_path / "private")
    report = build_site(db, config)
    yield db, config, Path(report.dir), report, people
    db.conn.close()


def test_build_writes_every_kind_of_page(built):
    db, config, root, report, _ = built
    assert report.rendered == report.pages and report.reused == 0
    for path in (
        "index.html",
        "archive.html",
        "stats.html",
        "search.html",
        "subscribe.html",
        "days/2025-08-20.html",
        "days/2026-09-24.html",
        "weeks/2025-W34.html",
        "months/2025-08.html",
        "topics/index.html",
        "topics/agents.html",
        "topics/agents.xml",
        "feed.xml",
        "papers/2609.99999.html",
        "static/site.css",
        "static/search.js",
    ):
        assert (root / path).is_file(), path
    assert report.search_bundles >= 2 and list((root / "search").glob("*/pagefind-ui.js"))
    home = (root / "index.html").read_text()
    assert "Sep 24, 2026" in home and 'href="days/2025-08-20.html"' in home  # prev day link
    assert 'href="weeks/2026-W39.html"' in home and 'href="months/2026-09.html"' in home
    stats = (root / "stats.html").read_text()
    assert stats.count("<svg") == 2 and "<script" not in stats


def test_relative_links_all_resolve(built):
    root = built[2]
    broken = []
    for page in root.rglob("*.html"):
        if "search/" in str(page.relative_to(root)):
            continue
        for target in re.findall(r'(?:href|src)="([^"#?]+)', page.read_text()):
            if target.startswith(("http:", "https:", "mailto:", "data:", "/")):
                continue
            if not (page.parent / target).resolve().exists():
                broken.append((str(page.relative_to(root)), target))
    assert not broken, broken[:10]


def test_no_personal_data_anywhere(built):
    db, _config, root, _report, people = built
    secrets = [p.email for p in people] + [p.manage_token for p in people]
    secrets += ["alice-secret-interest"]  # a personal topic's words are private too
    secrets += (
        [r[0] for r in db.execute("SELECT token FROM tokens").fetchall()]
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'tokens'").fetchone()
        else []
    )
    assert all(secrets)
    leaks = [
        (str(f.relative_to(root)), s)
        for f in site_files(root)
        for s in secrets
        if s.lower() in file_text(f).lower()
    ]
    assert not leaks


def test_titles_are_escaped_and_non_arxiv_papers_have_no_arxiv_links(built):
    root = built[2]
    page = (root / "papers/2609.99999.html").read_text()
    assert XSS_TITLE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "https://arxiv.org/pdf/2609.99999" in page
    other = (root / "papers/openreview:abc123.html").read_text()
    assert "arxiv.org/abs" not in other and "arxiv.org/pdf" not in other
    assert XSS_TITLE not in (root / "index.html").read_text()


def test_paper_page_has_versions_topics_and_similar_papers(built):
    db, _config, root, *_ = built
    paper_id, topic_name = db.execute(
        "SELECT m.paper_id, t.name FROM topic_matches m JOIN topics t ON t.id = m.topic_id LIMIT 1"
    ).fetchone()
    page = (root / f"papers/{paper_id}.html").read_text()
    assert "first seen by this archive" in page and topic_name in page
    similar = page.split('id="similar-h"')[1]
    assert similar.count('class="row"') == 5


def test_author_page_lists_coauthors_with_counts(built):
    db, _config, root, *_ = built
    eve = db.execute("SELECT id FROM authors WHERE name = 'Eve Example'").fetchone()[0]
    alice = db.execute("SELECT id FROM authors WHERE name = 'Alice Smith'").fetchone()[0]
    page = (root / f"authors/{eve}.html").read_text()
    assert "<strong>2</strong> papers in the archive" in page
    assert (
        f'href="../authors/{alice}.html">Alice Smith</a> <span class="count" title="shared papers">1<'
        in page
    )


def test_feeds_are_valid_atom(built):
    root = built[2]
    whole = feedparser.parse((root / "feed.xml").read_bytes())
    assert not whole.bozo and whole.feed.title == "arXiv digest" and whole.entries
    topic = feedparser.parse((root / "topics/agents.xml").read_bytes())
    assert not topic.bozo and topic.entries
    assert all(e.link.startswith("https://arxiv.org/abs/") for e in topic.entries)


@pytest.fixture(scope="module")
def hostile(sample_db_path, tmp_path_factory):
    """The archive plus the hostile papers, built once."""
    db, config, _people = fresh_archive(sample_db_path, tmp_path_factory.mktemp("hostile"))
    add_hostile_papers(db, config)
    report = build_site(db, config)
    yield db, config, Path(report.dir)
    db.conn.close()


def test_control_characters_in_a_paper_leave_every_feed_well_formed(hostile):
    import xml.etree.ElementTree as ElementTree

    root = hostile[2]
    atom = "{http://www.w3.org/2005/Atom}"
    feeds = sorted(root.glob("*.xml")) + sorted(root.glob("topics/*.xml"))
    assert len(feeds) >= 4
    titles = []
    for feed in feeds:
        document = ElementTree.parse(feed)  # raises on a control character
        titles += [t.text for t in document.iter(f"{atom}title")]
    assert "Agents under [31mcontrol characters" in titles
    agents = ElementTree.parse(root / "topics/agents.xml")
    names = [n.text for n in agents.iter(f"{atom}name")]
    assert "Ctrl Name" in names and "Good Person" in names


def test_relative_links_in_feeds_resolve_from_where_the_feed_is(hostile):
    """Without a base_url, links are relative, and a reader resolves them against the feed's
    own URL: topics/agents.xml must say ../papers/x.html, not papers/x.html."""
    import xml.etree.ElementTree as ElementTree
    from urllib.parse import urljoin, urlsplit

    root = hostile[2]
    site = "https://archive.example/"
    atom = "{http://www.w3.org/2005/Atom}"
    checked = {}
    for feed in ["feed.xml", "topics/agents.xml"]:
        document = ElementTree.parse(root / feed)
        for link in document.iter(f"{atom}link"):
            url = urljoin(site + feed, link.get("href"))
            if url.startswith(site):
                path = urlsplit(url).path.lstrip("/")
                checked[(feed, link.get("rel"), link.get("href"))] = (root / path).is_file()
                if link.get("rel") == "self":
                    assert path == feed
    assert ("topics/agents.xml", None, "../papers/hostile-2.html") in checked
    assert checked == dict.fromkeys(checked, True)


def test_an_empty_archive_builds_and_does_not_call_its_search_turned_off(make_config):
    from digest.store import open_db

    config, _ = make_config()
    config.db_path.parent.mkdir(parents=True, exist_ok=True)
    db = open_db(config.db_path)
    report = build_site(db, config)
    db.conn.close()
    search = (Path(report.dir) / "search.html").read_text()
    assert report.papers == 0 and "turned off" not in search and "no papers" in search


def test_ids_that_differ_get_pages_that_differ(sample_db_path, tmp_path):
    """'x/one' and 'x_one' (plain ids may hold both characters) both mapped to papers/x_one.html:
    two writers raced on that one file and the links to one paper opened the other. Each id
    has its own page now, and a leading '.' does not make a hidden file."""
    db, config, _people = fresh_archive(sample_db_path, tmp_path)
    ids = ("x/one", "x_one", ".dotted")
    twins = [
        Paper(
            id=paper_id,
            title=f"Twin {paper_id}",
            is_arxiv=False,
            version=1,
            abstract="Two agents share a name.",
            authors=("Twin Author",),
            categories=("cs.LG",),
            announced=HOSTILE_DAY,
            announce_type="new",
        )
        for paper_id in ids
    ]
    upsert_papers(db, twins, source="test")
    report = build_site(db, config, full=True)
    root = Path(report.dir)
    pages = {paper_id: links.paper_path(paper_id) for paper_id in ids}
    assert len(set(pages.values())) == 3 and links.paper_path("hep-th/9901001").endswith(
        "hep-th_9901001.html"
    )
    for paper_id, path in pages.items():
        assert f"<h1>Twin {paper_id}</h1>" in (root / path).read_text()
        assert not Path(path).name.startswith(".")
    author_page = next(
        p for p in site_files(root) if "Twin x/one" in file_text(p) and "authors/" in str(p)
    )
    for paper_id, path in pages.items():
        assert f'{Path(path).name}">Twin {paper_id}<' in file_text(author_page)
    db.conn.close()


def test_chart_axes_are_labelled_with_the_values_their_gridlines_sit_at(built):
    """Four equal steps up to the top: a top of 50 was labelled 0, 12, 25, 37, 50 while its
    gridlines stood at 12.5 and 37.5."""
    stats = (built[2] / "stats.html").read_text()
    for svg in re.findall(r"<svg class=\"chart\".*?</svg>", stats, re.S):
        ticks = re.findall(r'y1="([\d.]+)"[^>]*/><text class="axis"[^>]*>(\d+)</text>', svg)
        labels = [int(label) for _, label in ticks]
        assert len(labels) == 5 and labels[0] == 0
        assert labels == [labels[4] * i // 4 for i in range(5)]
        assert all(labels[4] * i % 4 == 0 for i in range(5)), labels


def test_every_topic_gets_its_own_page_whatever_its_name(sample_db_path, tmp_path):
    """'Index' would slugify onto the topics list page, and 'Agents 5' onto the page a second
    'Agents' got as 'agents-<id>': each topic must keep a page (and feed) of its own."""
    from digest.topics.catalog import add_topic

    db, config, _people = fresh_archive(sample_db_path, tmp_path)
    last_id = db.execute("SELECT max(id) FROM topics").fetchone()[0]
    clash = f"Agents {last_id + 3}"  # 'agents-N', where N is the id 'Agents!' gets below
    for name in ("Index", clash, "Agents!"):
        add_topic(db, Topic(name=name, kind="curated", description=f"About {name}."))
    report = build_site(db, config)
    root = Path(report.dir)
    listing = (root / "topics/index.html").read_text()
    names = {"Agents", "Index", clash, "Agents!"}
    assert all(f">{name}</a>" in listing for name in names)
    pages = {}
    for href in re.findall(r'href="\.\./topics/([^"/]+\.html)"', listing):
        if href != "index.html":
            heading = re.search(r"<h1>(.*?)</h1>", (root / "topics" / href).read_text())
            pages[heading.group(1)] = href
    assert names <= set(pages) and len(set(pages.values())) == len(pages)
    db.conn.close()


class _Checker(HTMLParser):
    VOID = {
        "meta",
        "link",
        "input",
        "br",
        "img",
        "hr",
        "source",
        "col",
        "area",
        "base",
        "wbr",
        "line",
        "rect",
        "circle",
        "polyline",
    }

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.ids: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        ids = [v for k, v in attrs if k == "id"]
        self.ids += ids
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.ids += [v for k, v in attrs if k == "id"]

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()


@pytest.mark.parametrize(
    "page",
    [
        "index.html",
        "days/2025-08-20.html",
        "archive.html",
        "stats.html",
        "search.html",
        "subscribe.html",
        "topics/agents.html",
        "weeks/2025-W34.html",
    ],
)
def test_pages_are_well_formed(built, page):
    html = (built[2] / page).read_text()
    assert html.startswith("<!doctype html>") and '<html lang="en">' in html
    checker = _Checker()
    checker.feed(html)
    assert not checker.errors and checker.stack == []
    assert len(checker.ids) == len(set(checker.ids)), "duplicate ids"
    assert 'class="skip" href="#main"' in html and 'id="main"' in html


def test_incremental_build_rerenders_only_what_a_new_day_changed(built_private):
    db, config, root, first, _ = built_private
    untouched = root / "days/2025-08-20.html"
    before = untouched.stat().st_ino
    again = build_site(db, config)
    assert again.rendered == 0 and again.reused == again.pages
    assert again.search_bundles_built == 0
    upsert_papers(
        db,
        [
            Paper(
                id="2609.50001",
                title="Gradient noise in tiny transformers",
                abstract="We measure gradient noise.",
                authors=("Eve Example",),
                categories=("cs.LG",),
                version=1,
                announce_type="new",
                announced=date(2026, 9, 25),
            )
        ],
        source="test",
    )
    from digest.embed.encoder import embed_missing

    embed_missing(db, config.embedding)
    third = build_site(db, config)
    assert (root / "days/2026-09-25.html").is_file()
    assert 0 < third.rendered < third.pages // 3
    assert third.search_bundles_built == 1  # only the latest week's search bundle
    assert untouched.stat().st_ino == before  # an old day's page is linked, not rewritten
    assert "Sep 25, 2026" in (root / "index.html").read_text()
    assert "Sep 25, 2026" in (root / "days/2026-09-24.html").read_text()  # its "next" link
    full = build_site(db, config, full=True)
    assert full.rendered == full.pages
    leftovers = [p.name for p in root.parent.iterdir() if p.name.startswith(".site")]
    assert leftovers == []


def test_swap_keeps_a_complete_site_at_the_target(tmp_path):
    target = tmp_path / "site"
    target.mkdir()
    (target / "index.html").write_text("old")
    build = write.new_build_dir(target)
    (build / "index.html").write_text("new")
    write.swap_in(build, target)
    assert (target / "index.html").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_tree_swap_replaces_a_legacy_directory_with_a_symlink(tmp_path):
    target = tmp_path / "site"
    target.mkdir()
    (target / "index.html").write_text("old")
    place = trees.locate(target)
    assert place.live is None and place.slot == "a" and place.live_root == target
    place.root.mkdir(parents=True)
    (place.root / "index.html").write_text("new")
    trees.swap_to(place)
    assert target.is_symlink() and (target / "index.html").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site", "site.trees"]
    after = trees.locate(target)
    assert after.live == "a" and after.slot == "b"


def test_a_build_writes_the_tree_readers_are_not_on(built_private):
    """The live tree is never written: a new day goes into the other tree, then the symlink
    moves; pages shared by both trees (hard links) are replaced, not rewritten in place."""
    db, config, root, _, _ = built_private
    assert root.is_symlink()
    old_tree = root.resolve()
    old_home = (old_tree / "index.html").read_text()
    old_day = (old_tree / "days/2026-09-24.html").read_text()
    upsert_papers(
        db,
        [
            Paper(
                id="2609.50002",
                title="Tiny transformers forget",
                version=1,
                abstract="We measure forgetting.",
                authors=("Eve Example",),
                categories=("cs.LG",),
                announce_type="new",
                announced=date(2026, 9, 25),
            )
        ],
        source="test",
    )
    report = build_site(db, config)
    assert root.resolve() != old_tree and 0 < report.rendered < report.pages // 3
    assert "Sep 25, 2026" in (root / "index.html").read_text()
    assert (old_tree / "index.html").read_text() == old_home
    assert (old_tree / "days/2026-09-24.html").read_text() == old_day
    again = build_site(db, config)  # back into the first tree: brought up to date
    assert root.resolve() == old_tree and again.rendered == 0
    assert "Sep 25, 2026" in (old_tree / "index.html").read_text()


def test_a_tree_deleted_behind_the_builds_back_is_rebuilt_whole(built_private):
    import shutil

    db, config, root, _, _ = built_private
    first_tree = root.resolve()
    build_site(db, config)  # into the second tree; the first is now idle
    shutil.rmtree(first_tree)
    report = build_site(db, config)  # back into the (missing) first tree: nothing trusted
    assert root.resolve() == first_tree and report.reused == report.pages
    assert all(
        (root / p).is_file()
        for p in ("index.html", "days/2025-08-20.html", "papers/2609.99999.html", "static/site.css")
    )


def test_cli_site_build_json_and_path(sample_db, make_config):
    from digest.cli import app

    config, path = make_config()
    sample_db.conn.close()
    runner = CliRunner()
    result = runner.invoke(app, ["--config", str(path), "site", "build", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["pages"] > 100 and Path(report["index_path"]).is_file()
    result = runner.invoke(app, ["--config", str(path), "site", "path"])
    assert result.exit_code == 0 and result.stdout.strip().endswith("index.html")


def _normalise(html: str) -> str:
    return re.sub(r"seen here [A-Z][a-z]{2} \d{1,2}, \d{4}", "seen here DATE", html)


@pytest.mark.parametrize("page", ["days/2026-09-24.html", "papers/2609.26811.html"])
def test_golden_pages(sample_db, sample_config, page):
    """Day and paper pages from the recorded samples (no topics, no feedback).
    Regenerate with DIGEST_UPDATE_GOLDEN=1 after an intended change, and review the diff."""
    config = replace(sample_config, site=replace(sample_config.site, search=False))
    report = build_site(sample_db, config)
    html = _normalise((Path(report.dir) / page).read_text())
    golden = GOLDEN / ("site-" + page.replace("/", "-"))
    if UPDATE_GOLDEN:
        golden.write_text(html, encoding="utf-8")
    if not golden.exists():
        pytest.fail(f"{golden} is missing: run with DIGEST_UPDATE_GOLDEN=1 to create it")
    assert html == golden.read_text(encoding="utf-8")


def test_topic_page_lists_older_days_as_links(sample_db_path, tmp_path, monkeypatch):
    """A topic page shows its recent days in full; older days become links with counts."""
    from digest.site import pages

    db, config, _ = fresh_archive(sample_db_path, tmp_path / "topic")
    day, count = db.execute(
        "SELECT m.announce_date, COUNT(*) FROM topic_matches m JOIN topics t ON t.id = m.topic_id"
        " WHERE t.name = 'Agents' GROUP BY m.announce_date ORDER BY m.announce_date DESC"
    ).fetchone()
    root = Path(build_site(db, config).dir)
    html = (root / "topics/agents.html").read_text()
    assert 'id="earlier-h"' not in html and html.count('class="card') >= count
    monkeypatch.setattr(pages, "TOPIC_ROW_DAYS", 0)  # every day counts as "earlier" now
    root = Path(build_site(db, config, full=True).dir)
    html = (root / "topics/agents.html").read_text()
    recent, older = html.split('id="earlier-h"')
    assert 'class="card' not in recent and "Nothing has matched" not in html
    assert f'href="../days/{day}.html"' in older and f"{count} matched</span>" in older
    db.conn.close()


def test_counts_read_as_english():
    from digest.render import count_of

    assert [count_of(n, "paper") for n in (0, 1, 2, 1234)] == [
        "0 papers",
        "1 paper",
        "2 papers",
        "1,234 papers",
    ]
    assert count_of(1, "announcement day") == "1 announcement day"


def test_a_period_of_one_announcement_day_names_that_day_once(built):
    """Week 34 of the samples holds one announcement day: 'Aug 20, 2025', not a range from
    Aug 20, 2025 to Aug 20, 2025."""
    root = built[2]
    kicker = re.search(r'<p class="kicker">(.*?)</p>', (root / "weeks/2025-W34.html").read_text())
    assert kicker and kicker.group(1) == "Aug 20, 2025"


def test_a_liked_card_says_in_words_what_its_number_counts(built):
    """A trending paper's ▲ number says what it counts ("▲ 1 like"), in English; a topic count
    is never shown as a number that looks like votes ("3 topics")."""
    html = (built[2] / "days/2025-08-20.html").read_text()
    liked = re.findall(r'<span class="likes"[^>]*>([^<]*)</span>', html)
    assert "▲ 1 like" in liked
    assert not [text for text in liked if re.search(r"\b1 likes\b", text)]
    assert "topics</small>" not in html and "topic</small>" not in html


def test_a_topic_with_one_match_and_a_week_with_one_listing_read_as_english(built_private):
    """'1 matched papers.' on a topic page and '1 listings over 1 announcement day.' on a
    week page: the numbers came with a fixed plural."""
    from digest.embed.encoder import embed_missing
    from digest.rank.planning import match_curated_topics
    from digest.topics.catalog import add_topic

    db, config, _root, _report, _ = built_private
    day = date(2026, 10, 1)  # alone in ISO week 40
    lone = Paper(
        id="2610.00001",
        title="Okapis in the rain forest",
        version=1,
        announce_type="new",
        abstract="A study of okapis.",
        authors=("Ona Okapi",),
        categories=("q-bio.PE",),
        announced=day,
    )
    upsert_papers(db, [lone], source="test")
    add_topic(db, Topic(name="Okapis", kind="curated", description="okapis", keywords=("okapi",)))
    embed_missing(db, config.embedding)
    match_curated_topics(db, config, day)
    root = Path(build_site(db, config, full=True).dir)
    topic = (root / "topics/okapis.html").read_text()
    assert '<p class="counts">1 matched paper. ' in topic
    week = (root / "weeks/2026-W40.html").read_text()
    assert '<p class="counts">1 listing over 1 announcement day.</p>' in week
