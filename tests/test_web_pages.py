"""The web app's own pages as part of the archive: its stylesheet, its header links back, and
errors shown next to the field that is wrong. Real uvicorn on loopback; Chromium for the look."""

from __future__ import annotations

import html.parser
from pathlib import Path

import httpx
import pytest

from digest.models import Paper, Topic
from digest.paths import TEMPLATES_DIR
from digest.store import open_db
from digest.web.server import ServerThread


class _Elements(html.parser.HTMLParser):
    """Every element with an id (its tag, attributes and text), and every href, in order."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.by_id: dict[str, dict] = {}
        self.hrefs: list[str] = []
        self.stylesheets: list[str] = []
        self.invalid: list[str] = []
        self.unlabelled: list[str] = []  # form controls no <label> names
        self._labels: set[str] = set()
        self._controls: list[tuple[str, bool]] = []
        self._open: list[dict] = []
        self.feed(text)
        self.unlabelled = [
            c for c, inside in self._controls if not inside and c not in self._labels
        ]

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        element = {"tag": tag, **{k: v or "" for k, v in found.items()}, "text": ""}
        if "id" in found:
            self.by_id[found["id"] or ""] = element
        if tag == "a" and found.get("href"):
            self.hrefs.append(found["href"] or "")
        if tag == "link" and found.get("rel") == "stylesheet":
            self.stylesheets.append(found.get("href") or "")
        if tag == "label" and found.get("for"):
            self._labels.add(found["for"] or "")
        if tag in ("input", "select", "textarea") and found.get("type") not in ("hidden", "submit"):
            inside = any(e["tag"] == "label" for e in self._open)
            self._controls.append((found.get("id") or found.get("name") or tag, inside))
        if found.get("aria-invalid") == "true":
            self.invalid.append(found.get("id") or found.get("name") or tag)
        if tag not in ("input", "link", "meta", "br"):
            self._open.append(element)

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for element in self._open:
            element["text"] += data


@pytest.fixture
def app(make_config):
    """A served app with one curated topic, one paper and one active subscriber; `build` in
    the answer writes an archive home into the site folder (the archive 'is built')."""
    yield from _serve(make_config, {})


def _serve(make_config, site: dict):
    config, _ = make_config({"service": {"subscribe_per_ip_per_minute": 100}, "site": site})
    db = open_db(config.db_path)
    from digest.store.papers import upsert_papers
    from digest.subscribers.manage import add_subscriber
    from digest.topics.catalog import add_topic

    upsert_papers(db, [Paper(id="2508.01234", title="A paper", abstract="Graphs.")], source="t")
    add_topic(db, Topic(name="Graphs", kind="curated", description="graph learning"))
    token = add_subscriber(db, "reader@example.org", status="active").manage_token
    site_dir = config.path(config.site.dir)

    def build() -> None:
        site_dir.mkdir(parents=True, exist_ok=True)
        (site_dir / "index.html").write_text("<h1>Archive home</h1>")

    with ServerThread(config) as base_url:
        yield {"url": base_url, "db": db, "token": token, "build": build}
    db.conn.close()


@pytest.fixture
def app_elsewhere(make_config):
    """The archive is published at its base_url, not built next to the app."""
    yield from _serve(make_config, {"base_url": "https://papers.example.org/digest"})


def _pages(app) -> dict[str, httpx.Response]:
    base, token = app["url"], app["token"]
    return {
        "subscribe": httpx.get(f"{base}/subscribe"),
        "refused": httpx.post(f"{base}/subscribe", data={"email": "ann@example"}),
        "preferences": httpx.get(f"{base}/p/{token}"),
        "unsubscribe": httpx.get(f"{base}/u/{token}"),
        "feedback": httpx.get(f"{base}/f/{token}?paper=2508.01234&kind=like"),
        "message": httpx.get(f"{base}/confirm/{'A' * 40}"),
        "missing": httpx.get(f"{base}/no/such/page"),
    }


def test_every_page_wears_the_archive_stylesheet_and_links_back_to_it(app):
    app["build"]()
    for name, answer in _pages(app).items():
        page = _Elements(answer.text)
        assert page.stylesheets == ["/app/site.css", "/app/web.css"], name
        assert "/archive.html" in page.hrefs and "/stats.html" in page.hrefs, name
        assert "/" in page.hrefs, name  # the brand and 'Back to the archive'
        assert page.unlabelled == [], name
    shared = httpx.get(app["url"] + "/app/site.css")
    assert shared.status_code == 200 and shared.headers["content-type"].startswith("text/css")
    assert shared.content == (TEMPLATES_DIR / "site" / "static" / "site.css").read_bytes()
    again = httpx.get(
        app["url"] + "/app/site.css", headers={"if-none-match": shared.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""  # a page view re-sends no CSS
    extra = httpx.get(app["url"] + "/app/web.css")
    assert extra.status_code == 200 and ".field-error" in extra.text
    assert "url(" not in extra.text and "@import" not in extra.text  # nothing from the network


def test_without_a_built_archive_no_link_leads_to_a_missing_page(app):
    """Not built, no base_url: the pages keep their look and link nowhere that would 404."""
    for name, answer in _pages(app).items():
        page = _Elements(answer.text)
        assert answer.headers["content-type"].startswith("text/html"), name
        assert page.stylesheets == ["/app/site.css", "/app/web.css"], name
        here = {h for h in page.hrefs if h.startswith("/")}
        assert here and not [h for h in here if httpx.get(app["url"] + h).status_code == 404]
    assert httpx.get(app["url"] + "/app/site.css").status_code == 200
    assert httpx.get(app["url"] + "/archive.html").status_code == 404


def test_an_archive_published_elsewhere_is_linked_where_it_lives(app_elsewhere):
    for name, answer in _pages(app_elsewhere).items():
        hrefs = _Elements(answer.text).hrefs
        assert "https://papers.example.org/digest/archive.html" in hrefs, name
        assert "/archive.html" not in hrefs, name


def test_a_bad_address_comes_back_typed_with_its_error_under_the_field(app):
    form = {
        "email": "ann@example",
        "topics": "Graphs",
        "own_topic": "sheaf neural networks",
        "frequency": "weekly",
    }
    answer = httpx.post(app["url"] + "/subscribe", data=form)
    assert answer.status_code == 400
    page = _Elements(answer.text)
    email = page.by_id["email"]
    assert email["value"] == "ann@example" and email["aria-describedby"] == "email-error"
    assert page.invalid == ["email"]
    assert "not a valid email address" in page.by_id["email-error"]["text"].lower()
    assert page.by_id["own_topic"]["text"] == "sheaf neural networks"
    assert 'value="Graphs" checked' in answer.text and 'value="weekly" selected' in answer.text
    assert app["db"].execute("SELECT COUNT(*) FROM subscribers").fetchone()[0] == 1


def _csrf(app) -> str:
    import re

    page = httpx.get(f"{app['url']}/p/{app['token']}")
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)


def test_a_refused_preference_is_flagged_at_its_own_field(app):
    base, token = app["url"], app["token"]
    form = {"action": "save", "csrf": _csrf(app), "frequency": "daily", "timezone": "UTC"}
    cases = {
        "timezone": {"timezone": "Europe/Pariss"},
        "max_papers": {"max_papers": "lots"},
        "own_topics": {"own_topics": "\n".join(f"topic {i}" for i in range(12))},
        "weekday": {"frequency": "weekly", "weekday": "funday"},
    }
    for field, bad in cases.items():
        answer = httpx.post(f"{base}/p/{token}", data={**form, **bad})
        assert answer.status_code == 400, field
        page = _Elements(answer.text)
        assert page.invalid == [field], (field, page.invalid)
        said = page.by_id[f"{field}-error"]["text"]
        notice = page.by_id["notice"]["text"].lower()
        assert notice == f"not saved: {said.lower()} go to the field", field
        assert f'<a href="#{field}">Go to the field</a>' in answer.text and field in page.by_id
    delete = httpx.post(f"{base}/p/{token}", data={"action": "delete", "csrf": form["csrf"]})
    assert delete.status_code == 400
    assert _Elements(delete.text).invalid == ["confirm_delete"]
    fine = httpx.post(f"{base}/p/{token}", data={**form, "timezone": "Europe/Paris"})
    assert fine.status_code == 200 and _Elements(fine.text).invalid == []


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 1280])
def test_pages_fit_the_screen_and_show_errors_in_the_archive_look(app, width):
    """Headless Chromium, offline: no page scrolls sideways, nothing is fetched from
    elsewhere, the archive's stylesheet applies and an error is drawn in the error colour."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS
    from tests.conftest import skip_or_fail_without

    if not Path(CHROMIUM).exists():
        skip_or_fail_without("Debian chromium")
    app["build"]()
    base, token = app["url"], app["token"]
    elsewhere: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": width, "height": 800})
        tab.on("request", lambda r: None if r.url.startswith(base) else elsewhere.append(r.url))
        wide = {}
        for path in ("/subscribe", f"/p/{token}", f"/u/{token}", "/nowhere"):
            tab.goto(base + path)
            wide[path] = tab.evaluate("document.documentElement.scrollWidth - innerWidth")
        tab.goto(base + f"/p/{token}")
        tab.fill("#timezone", "Europe/Pariss")
        with tab.expect_navigation():  # to the refused page, its stylesheets loaded
            tab.click("text=Save")
        shown = tab.evaluate(
            """() => { const e = document.getElementById('timezone-error'),
                             box = e.getBoundingClientRect(), field = document.getElementById('timezone');
                       return {below: box.top >= field.getBoundingClientRect().bottom,
                               gap: box.top - field.getBoundingClientRect().bottom,
                               error: getComputedStyle(e).color,
                               text: getComputedStyle(document.body).color,
                               brand: getComputedStyle(document.querySelector('.brand')).fontWeight,
                               wide: document.documentElement.scrollWidth - innerWidth}; }"""
        )
        browser.close()
    assert wide == {path: 0 for path in wide}
    assert shown["below"] and shown["gap"] < 24 and shown["wide"] == 0
    assert shown["error"] != shown["text"] and shown["brand"] == "700"
    assert elsewhere == []


def test_a_refused_topic_own_topic_or_author_is_named_at_its_field(app):
    """The sign-up's own checks (run on a throwaway subscriber) say which choice they refuse."""
    cases = {
        "topics": {"topics": "No such topic"},
        "own_topic": {"own_topic": "\x00"},
        "author": {"author": "Nobody Known"},
    }
    for field, bad in cases.items():
        form = {"email": "new@example.org", "frequency": "daily", "topics": "Graphs", **bad}
        answer = httpx.post(app["url"] + "/subscribe", data=form)
        assert answer.status_code == 400, field
        page = _Elements(answer.text)
        assert page.by_id[f"{field}-error"]["text"], (field, answer.text)
        shown = [k for k in page.by_id if k.endswith("-error") and k != "form-error"]
        assert shown == [f"{field}-error"], field
        assert f'<a href="#{field}">Go to the field</a>' in answer.text and field in page.by_id
    assert app["db"].execute("SELECT COUNT(*) FROM subscribers").fetchone()[0] == 1


def test_an_unbuilt_archives_pages_say_so_and_offer_the_sign_up(app):
    """`digest serve` before `digest site build`: an archive page is a 404 that names the
    missing build and links to the sign-up ('/' is the sign-up), not a bare 'Nothing here';
    once built, a missing page links back to the archive."""
    answer = httpx.get(app["url"] + "/archive.html")
    assert answer.status_code == 404 and "`digest site build`" in answer.text
    assert "/subscribe" in _Elements(answer.text).hrefs
    missing = _Elements(httpx.get(app["url"] + "/no/such/page").text)
    assert "/subscribe" in missing.hrefs
    app["build"]()
    assert "Archive home" in httpx.get(app["url"] + "/").text
    assert "/" in _Elements(httpx.get(app["url"] + "/no/such/page").text).hrefs
