"""The preferences page's library and feed block over real uvicorn: uploading a library
(BibTeX, UTF-16 RIS), refusals that change nothing (not a library, 50 MB, no CSRF), the
private Atom feed (newest issue first, with the why-line; a new address ends the old one),
and the page in headless Chromium."""

from __future__ import annotations

from datetime import date

import feedparser
import httpx
import pytest

from digest.paths import SAMPLES_DIR
from digest.rank.planning import plan_all
from digest.store import library as library_store
from digest.store.subscribers import get_subscriber
from digest.subscribers.manage import add_subscriber
from digest.web.server import ServerThread

ISSUES = (date(2025, 8, 20), date(2026, 9, 24))


@pytest.fixture
def site(sample_db, sample_config):
    """(config, base_url, db, subscriber, csrf) with two planned issues and a server."""
    from digest.web.plumbing import csrf_token, load_secret_key

    reader = add_subscriber(
        sample_db, "lin@example.org", status="active", text="reinforcement learning"
    )
    for day in ISSUES:
        plan_all(sample_db, sample_config, day)
    with ServerThread(sample_config) as base_url:
        csrf = csrf_token(load_secret_key(sample_config), reader.manage_token or "")
        yield sample_config, base_url, sample_db, reader, csrf


def upload(base_url: str, token: str, csrf: str, name: str, raw: bytes) -> httpx.Response:
    return httpx.post(
        f"{base_url}/p/{token}/library",
        data={"csrf": csrf, "action": "upload"},
        files={"library": (name, raw, "application/octet-stream")},
        timeout=60,
    )


def feed_url_on_page(html: str) -> str:
    return html.split('id="feed-url" value="', 1)[1].split('"', 1)[0]


def test_upload_then_the_page_shows_what_matched(site):
    config, base_url, db, reader, csrf = site
    token = reader.manage_token or ""
    answer = upload(
        base_url, token, csrf, "library.bib", (SAMPLES_DIR / "library.bib").read_bytes()
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/p/{token}#library"
    page = httpx.get(f"{base_url}/p/{token}").text
    assert "library.bib</bdi></strong> (bibtex, 10 entries" in page
    assert "5 papers in your library topic" in page
    assert "4 to fetch from arXiv with the next daily run" in page
    assert "Artificial Intelligence: A Modern Approach" in page  # the unmatched title
    assert library_store.library_paper_ids(db, reader.id)[0] == "2508.13678"
    # a re-import replaces it (UTF-16 RIS with its BOM, as Mendeley on Windows writes it)
    ris = "TY  - JOUR\r\nTI  - Search-Time Data Contamination\r\nER  - \r\n"
    answer = upload(base_url, token, csrf, "mendeley.ris", ris.encode("utf-16"))
    assert answer.status_code == 303
    assert library_store.library_paper_ids(db, reader.id) == ["2508.13180"]
    assert "mendeley.ris</bdi></strong> (ris, 1 entries" in httpx.get(f"{base_url}/p/{token}").text


@pytest.mark.parametrize(
    ("raw", "status", "says"),
    [
        (b"Dear diary, nothing to see.", 400, "not a BibTeX (.bib), RIS (.ris) or CSL-JSON"),
        (b"@misc{k, author={Nobody}}", 400, "no usable entry in this bibtex file"),
        (b"@misc{k, title={x}}\n" + b" " * (50 * 2**20), 413, "can be at most 20 MB"),
    ],
    ids=["not-a-library", "no-title", "50MB"],
)
def test_refused_uploads_change_nothing(site, raw, status, says):
    config, base_url, db, reader, csrf = site
    token = reader.manage_token or ""
    good = (SAMPLES_DIR / "library.bib").read_bytes()
    assert upload(base_url, token, csrf, "library.bib", good).status_code == 303
    before = (get_subscriber(db, reader.id), library_store.library_summary(db, reader.id))
    answer = upload(base_url, token, csrf, "bad.bib", raw)
    assert answer.status_code == status and says in answer.text
    assert "Nothing was changed." in answer.text
    assert (get_subscriber(db, reader.id), library_store.library_summary(db, reader.id)) == before


def test_upload_needs_the_forms_csrf_and_a_real_token(site):
    config, base_url, db, reader, csrf = site
    raw = (SAMPLES_DIR / "library.bib").read_bytes()
    assert upload(base_url, reader.manage_token or "", "forged", "a.bib", raw).status_code == 403
    assert upload(base_url, "x" * 32, csrf, "a.bib", raw).status_code == 404
    assert library_store.library_summary(db, reader.id) is None


def test_private_feed_lists_picks_newest_issue_first_with_the_why(site):
    config, base_url, db, reader, csrf = site
    token = reader.manage_token or ""
    url = feed_url_on_page(httpx.get(f"{base_url}/p/{token}").text)
    assert url.startswith(config.service.public_url.rstrip("/") + "/feed/")
    answer = httpx.get(base_url + "/" + url.split("/", 3)[3])
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    assert answer.headers["x-robots-tag"] == "noindex"
    parsed = feedparser.parse(answer.content)
    assert not parsed.bozo and parsed.entries
    picks = db.execute(
        "SELECT issue_date, paper_id FROM picks WHERE subscriber_id = ?"
        " ORDER BY issue_date DESC, rank",
        [reader.id],
    ).fetchall()
    assert [e.id for e in parsed.entries] == [f"urn:digest:pick:{d}:{p}" for d, p in picks]
    first = parsed.entries[0]
    assert first.published.startswith(picks[0][0])  # the newest issue first
    assert first.link.startswith("https://arxiv.org/abs/")
    assert "reinforcement learning:" in first.summary  # the topic and why it was picked
    # a new address ends the old one
    old = answer.url
    answer = httpx.post(
        f"{base_url}/p/{token}/library", data={"csrf": csrf, "action": "new_feed"}, files={}
    )
    assert answer.status_code == 303
    assert httpx.get(old).status_code == 404
    new = feed_url_on_page(httpx.get(f"{base_url}/p/{token}").text)
    assert new != url and httpx.get(base_url + "/" + new.split("/", 3)[3]).status_code == 200


def test_forged_and_malformed_feed_tokens_are_404(site):
    config, base_url, db, reader, csrf = site
    for token in (
        f"{reader.id}-" + "A" * 32,
        "1-short",
        "../../etc",
        f"{reader.id + 1}-" + "B" * 32,
    ):
        assert httpx.get(f"{base_url}/feed/{token}.atom").status_code == 404


def test_the_block_in_a_real_browser(site, tmp_path):
    from tests.browser import launched_chromium

    config, base_url, db, reader, csrf = site
    token = reader.manage_token or ""
    library = tmp_path / "my library.bib"
    library.write_bytes((SAMPLES_DIR / "library.bib").read_bytes())
    with launched_chromium() as browser:
        page = browser.new_page(viewport={"width": 900, "height": 1400})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(f"{base_url}/p/{token}")
        page.set_input_files("#library-file", str(library))
        page.click("text=Import my library")
        page.wait_for_url(f"{base_url}/p/{token}#library")
        assert "5 papers in your library topic" in page.inner_text("#library")
        page.locator("#library").screenshot(path=str(tmp_path / "library-block.png"))
        assert page.input_value("#feed-url").endswith(".atom")
    assert problems == []
