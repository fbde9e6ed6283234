"""Hostile paper text on its way out: the digest email (both parts) and the one Jinja
environment, for rows stored before the sources cleaned them, and in a real browser."""

from __future__ import annotations

import pytest
from markupsafe import Markup

from digest.models import Paper, Subscriber
from digest.render import environment, visible
from tests.browser import launched_chromium
from tests.test_emails import build, make_config, make_paper, make_plan

RLO, ZWSP, ZWJ = "\u202e", "\u200b", "\u200d"


def test_text_stored_before_the_sources_cleaned_it_prints_without_invisible_controls():
    """A row stored with U+202E in an author name flipped 'Eve evE, Zed Zero · cs.AI' into
    'Eve IA.sc · oreZ deZ ,Eve' in the email; a NUL or an escape reached the text part."""
    legacy = make_paper(
        1,
        title=f"Bidi {RLO}gnp.exe title\x00 \x1b[31m",
        abstract=f"Abstract {RLO}reversed{ZWSP}. A scientist 👩{ZWJ}🔬 wrote it.",
        authors=(f"Eve {RLO}evE", "Zed Zero"),
    )
    rendered = build([legacy])
    for part in (rendered.html, rendered.text, rendered.preheader):
        assert not any(ch in part for ch in (RLO, ZWSP, "\x00", "\x1b")), part[:200]
    assert "Bidi gnp.exe title" in rendered.html and "Eve evE" in rendered.text
    assert f"👩{ZWJ}🔬" in rendered.text  # joiners are text: emoji sequences need them


def test_a_stored_name_with_a_bidi_override_reaches_no_header():
    from email import policy
    from email.parser import BytesParser

    from digest.mail.compose import build_digest_email, to_mime

    sneaky = Subscriber(
        id=8, email="eve@example.com", name=f"{RLO}evE\x00", status="active", manage_token="t" * 43
    )
    paper = make_paper(1)
    rendered = build_digest_email(make_config(), sneaky, make_plan([paper]), {paper.id: paper})
    raw = to_mime(make_config(), sneaky, rendered, "x").as_bytes()
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["To"] == "evE <eve@example.com>"


def test_finalize_keeps_markup_safe_and_leaves_other_values_alone():
    assert environment().finalize is visible
    cleaned = visible(Markup(f"<b>x{RLO}</b>"))
    assert isinstance(cleaned, Markup) and cleaned == "<b>x</b>"
    assert visible(f"a{ZWSP}b") == "ab" and visible(3) == 3 and visible(None) is None
    template = environment().from_string("{{ t }}|{{ m }}")
    assert template.render(t=f"<i>{RLO}", m=Markup("<i>ok</i>")) == "&lt;i&gt;|<i>ok</i>"


@pytest.fixture(scope="module")
def browser():
    with launched_chromium() as chromium:
        yield chromium


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("width", [375, 600])
def test_an_unbroken_900_character_title_does_not_widen_the_email(browser, tmp_path, width):
    """A title, author or URL with no space in it stretched the 600-pixel email to 47,000."""
    papers = [
        Paper(
            id="2611.00020",
            title="Unbroken " + "x" * 900,
            abstract="See https://example.org/" + "a" * 600 + " for code. Second sentence.",
            authors=("A" * 250,),
            categories=("cs.AI",),
        ),
        make_paper(2),
    ]
    rendered = build(papers, trending=papers[:1])
    path = tmp_path / "digest.html"
    path.write_text(rendered.html, encoding="utf-8")
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(path.as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.close()


def test_a_paper_page_without_authors_or_links_has_no_empty_lines_for_them(
    sample_db, sample_config
):
    """An imported paper with no authors and no arXiv id left an empty authors paragraph and
    an empty button row under its title."""
    from dataclasses import replace
    from pathlib import Path

    from digest.site.build import build_site
    from digest.store.papers import upsert_papers

    upsert_papers(
        sample_db,
        [Paper(id="bare-1", title="Bare", abstract="Only this.", is_arxiv=False)],
        source="x",
    )
    config = replace(sample_config, site=replace(sample_config.site, search=False))
    page = (Path(build_site(sample_db, config).dir) / "papers" / "bare-1.html").read_text()
    assert 'class="authors big"' not in page and 'class="actions"' not in page
    assert "<h1>Bare</h1>" in page


def test_the_archive_atom_feed_text_has_no_bidi_override_or_xml_invalid_control():
    from digest.site.feeds import _xml_text

    assert _xml_text(f"Eve {RLO}evE\x00\x1b {ZWSP}x") == "Eve evE x"
