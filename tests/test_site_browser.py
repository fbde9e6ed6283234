"""The built archive in headless Chromium, served by a tiny http.server on 127.0.0.1:
navigation, search, author pages, escaping, keyboard access."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest
from test_site_build import LONG_NAME, RTL_TITLE, XSS_TITLE, add_hostile_papers, fresh_archive

from digest.site.build import build_site
from tests.browser import launched_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site(sample_db_path, tmp_path_factory):
    db, config, _people = fresh_archive(sample_db_path, tmp_path_factory.mktemp("browser"))
    add_hostile_papers(db, config)
    report = build_site(db, config)
    root = Path(report.dir)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}/", "root": root, "db": db}
    server.shutdown()
    server.server_close()
    db.conn.close()


@pytest.fixture(scope="module")
def browser():
    with launched_chromium() as chromium:
        yield chromium


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15000)
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    dialogs: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.problems = problems  # type: ignore[attr-defined]
    tab.dialogs = dialogs  # type: ignore[attr-defined]
    yield tab
    context.close()


def test_home_loads_cleanly_and_a_click_reaches_a_paper(site, page, tmp_path):
    page.goto(site["url"])
    assert page.locator("h1").first.inner_text() == "arXiv digest"
    assert page.locator("li.paper").count() >= 3
    first = page.locator("li.paper .card-title a").first
    title = first.inner_text()
    first.click()
    page.wait_for_url("**/papers/*.html")
    assert page.locator("h1").inner_text() == title
    assert page.locator("#abstract-h").is_visible()
    page.screenshot(path=str(tmp_path / "paper.png"))
    assert page.problems == [] and page.dialogs == []


def test_search_finds_a_paper_by_a_word_from_its_abstract(site, page):
    page.goto(site["url"] + "search.html")
    box = page.locator("#site-q")  # the header's box drives the search page
    box.fill("deepfake")
    result = page.locator(
        "#search-list .card-title a", has_text="Toward an African Agenda for AI Safety"
    )
    result.wait_for()
    result.click()
    page.wait_for_url("**/papers/2508.13179.html")
    assert page.problems == []


def test_header_search_form_carries_the_query(site, page):
    page.goto(site["url"] + "archive.html")
    page.fill("#site-q", "zebracrossings")
    page.press("#site-q", "Enter")
    page.wait_for_url("**/search.html?q=zebracrossings")
    result = page.locator("#search-list .card-title a", has_text=XSS_TITLE)
    result.wait_for()
    assert result.inner_text() == XSS_TITLE  # shown as text, not run
    assert page.dialogs == []


def test_author_page_lists_coauthors(site, page):
    eve = site["db"].execute("SELECT id FROM authors WHERE name = 'Eve Example'").fetchone()[0]
    page.goto(site["url"] + f"authors/{eve}.html")
    collaborators = page.locator("ol.collabs li")
    assert collaborators.count() == 1
    assert "Alice Smith" in collaborators.first.inner_text()
    assert page.locator(".work").count() == 2
    collaborators.first.locator("a").click()
    page.wait_for_url("**/authors/*.html")
    assert page.locator("h1").inner_text() == "Alice Smith"


def test_script_title_renders_as_text_and_runs_nothing(site, page):
    page.goto(site["url"] + "papers/2609.99999.html")
    assert page.locator("h1").inner_text() == XSS_TITLE
    page.goto(site["url"])
    assert page.get_by_text(XSS_TITLE).count() >= 1
    assert page.dialogs == [] and page.problems == []


def test_keyboard_skip_link_and_focus_style(site, page):
    page.goto(site["url"] + "days/2025-08-20.html")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert focused == "skip"
    assert page.evaluate("getComputedStyle(document.activeElement).top") != "-48px"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"


def test_dark_mode_and_small_screens(site, browser, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    tab = context.new_page()
    tab.goto(site["url"])
    background = tab.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(11, 16, 32)"
    overflow = tab.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert not overflow
    tab.screenshot(path=str(tmp_path / "home-dark-mobile.png"))
    context.close()


def test_opened_from_disk_pages_work_and_forms_explain_themselves(site, page):
    page.goto((site["root"] / "index.html").as_uri())
    page.locator("a", has_text="Archive").first.click()
    assert page.url.endswith("archive.html")
    page.goto((site["root"] / "subscribe.html").as_uri())
    assert page.locator(".file-note").is_visible()
    assert page.locator("form.subscribe").get_attribute("action") == "/subscribe"


def _phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    return context, context.new_page()


def test_an_unbreakable_author_name_keeps_every_page_within_a_phone_screen(site, browser):
    long_id = site["db"].execute("SELECT id FROM authors WHERE name = ?", (LONG_NAME,)).fetchone()
    context, tab = _phone(browser)
    wide = {}
    for path in (
        "days/2025-08-19.html",
        "topics/agents.html",
        "papers/hostile-2.html",
        "papers/hostile-1.html",  # lists hostile-2 among its similar papers
        f"authors/{long_id[0]}.html",
    ):
        tab.goto(site["url"] + path)
        wide[path] = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    context.close()
    assert wide == dict.fromkeys(wide, 0)


def test_an_unclosed_right_to_left_override_stays_inside_its_author_name(site, page):
    """'\u202eEvil First' must not run on and reverse 'Good Person' next to it."""
    page.goto(site["url"] + "papers/hostile-1.html")
    link = page.locator("p.authors a", has_text="Good Person")
    first_left, last_left = link.evaluate(
        """a => { const text = a.firstChild, range = document.createRange();
            const left = i => { range.setStart(text, i); range.setEnd(text, i + 1);
                                return range.getBoundingClientRect().left; };
            return [left(0), left(text.length - 1)]; }"""
    )
    assert first_left < last_left  # 'G' is drawn left of 'n': read left to right


def test_chart_labels_stay_legible_on_a_phone(site, browser):
    """The 720-unit-wide charts shrink to ~40% on a phone; their axis labels must not."""
    context, tab = _phone(browser)
    tab.goto(site["url"] + "stats.html")
    sizes = tab.evaluate(
        "[...document.querySelectorAll('.chart .axis')].map(t => t.getBoundingClientRect().height)"
    )
    overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    context.close()
    assert sizes and min(sizes) >= 9 and overflow == 0


def test_buttons_keep_their_words_whole_on_a_phone(site, browser):
    """Long names may wrap anywhere; a 'Follow' button squeezed by its row must not."""
    eve = site["db"].execute("SELECT id FROM authors WHERE name = 'Eve Example'").fetchone()[0]
    context, tab = _phone(browser)
    lines = {}
    for path in (f"authors/{eve}.html", "papers/2609.99999.html", "subscribe.html"):
        tab.goto(site["url"] + path)
        lines[path] = tab.evaluate(
            """[...document.querySelectorAll('main .button, main button')]
                 .filter(b => b.offsetWidth && b.textContent.trim())
                 .map(b => { const r = document.createRange(); r.selectNodeContents(b);
                             const tops = new Set([...r.getClientRects()].map(x => x.top));
                             return [b.textContent.trim(), tops.size]; })"""
        )
    context.close()
    assert any(name == "Follow" for found in lines.values() for name, _ in found)
    assert [item for found in lines.values() for item in found if item[1] != 1] == []


def test_an_unclosed_override_in_a_title_ends_before_the_site_name_in_the_tab(site, page):
    """The tab title is one line of plain text: ' · arXiv digest' after an unclosed RLO
    would show reversed, so no printed value keeps a bidi control (render.visible)."""
    page.goto(site["url"] + "papers/hostile-3.html")
    assert page.title() == f"{RTL_TITLE.replace(chr(0x202E), '')} · arXiv digest"
    page.goto(site["url"] + "papers/hostile-2.html")
    assert page.title() == "Agents with a very long author · arXiv digest"


def test_the_served_subscribe_page_hides_its_opened_from_a_file_note(site, page):
    """The note that the form cannot work from a file on disk was shown on the served page
    too (only the search page ran the script that hides it), telling readers it may not work."""
    page.goto(site["url"] + "subscribe.html")
    note = page.locator(".file-note")
    assert note.count() == 1
    page.wait_for_load_state("load")
    assert not note.is_visible()
    assert page.problems == []


def test_get_it_by_email_on_a_topic_page_comes_with_that_topic_ticked(site, page):
    """The topic page's 'Get it by email' opened the sign-up form with nothing ticked."""
    page.goto(site["url"] + "topics/agents.html")
    page.locator("a", has_text="Get it by email").first.click()
    page.wait_for_url("**/subscribe.html?topic=*")
    page.wait_for_load_state("load")
    boxes = page.locator("form.subscribe input[name=topics]")
    ticked = [
        boxes.nth(i).evaluate("b => b.parentElement.textContent.trim()")
        for i in range(boxes.count())
        if boxes.nth(i).is_checked()
    ]
    assert ticked == ["Agents"]
    assert page.problems == []


def test_a_topic_pages_keywords_and_its_count_line_do_not_touch(site, page):
    """The keyword chips sat flush on the '… matched papers.' line under them (no margin)."""
    page.goto(site["url"] + "topics/agents.html")
    chips = page.locator(".intro .meta").bounding_box()
    counts = page.locator(".intro .counts").bounding_box()
    assert chips and counts
    assert counts["y"] - (chips["y"] + chips["height"]) >= 8
