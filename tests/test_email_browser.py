"""The digest in a real browser (headless Chromium): no script runs, no console errors, and
light + dark screenshots to look at (copies go to docs/img/ when DIGEST_SAVE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import pytest

from digest.config import Config, MailConfig, ServiceConfig, SiteConfig
from digest.mail.compose import build_digest_email
from digest.mail.notices import confirmation_email
from digest.models import DigestPlan, Paper, Pick, Subscriber
from tests.browser import launched_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"

PAPERS = [
    Paper(
        id="2609.18231",
        title="Scaling Laws for Sparse Mixture-of-Experts Language Models "
        "Under a Fixed Compute Budget",
        abstract="We revisit scaling laws for sparse mixture-of-experts (MoE) language models "
        "when the total training compute is held fixed. Across 120 training runs from 50M to "
        "8B active parameters, we find that the optimal number of experts grows sub-linearly "
        "with compute. A simple routing regulariser recovers most of the gap to dense models "
        "on downstream tasks. We release checkpoints and the training code.",
        authors=("Mina Park", "João Silva", "Wei Zhang", "Amara Okafor", "Lukas Weber"),
        categories=("cs.CL", "cs.LG"),
        primary_category="cs.LG",
    ),
    Paper(
        id="2609.18302",
        title="<script>alert(1)</script> & x<y: Robust Evaluation of "
        "Retrieval-Augmented Generation",
        abstract="Retrieval-augmented generation (RAG) systems are usually evaluated on "
        "clean benchmarks. We build a stress test with noisy, adversarial and outdated "
        "documents. Most systems lose over 20 points of accuracy, while a calibrated "
        "abstention step halves the loss.",
        authors=("Sofia Rossi", "Daniel Kim"),
        categories=("cs.CL", "cs.IR"),
        primary_category="cs.CL",
    ),
    Paper(
        id="2609.17954",
        title="Diffusion Policies for Dexterous Manipulation with Tactile Feedback",
        abstract="We train diffusion policies that take tactile images as input for in-hand "
        "manipulation. On a 16-DoF hand the policy reorients unseen objects with a 78% "
        "success rate, up from 41% without touch. Ablations show that tactile tokens matter "
        "most during contact transitions.",
        authors=("Ravi Patel", "Emma Laurent", "Kenji Sato", "Olga Ivanova"),
        categories=("cs.RO", "cs.LG"),
        primary_category="cs.RO",
    ),
    Paper(
        id="2609.18011",
        title="Graph Neural Networks Generalise Across Graph Sizes When Readouts Are Size-Aware",
        abstract="We study how graph neural networks generalise when test graphs are larger "
        "than training graphs. Message passing with degree normalisation keeps the error "
        "bounded on random geometric graphs. A size-aware readout closes most of the gap on "
        "six benchmarks.",
        authors=("Hannah Müller",),
        categories=("cs.LG", "stat.ML"),
        primary_category="cs.LG",
    ),
]
TRENDING = [
    Paper(
        id="2609.16000",
        title="A Survey of Test-Time Compute for Reasoning Models",
        abstract="",
        authors=("Li Na", "Tom Becker", "Ana Costa", "Sam Lee"),
        categories=("cs.AI",),
        primary_category="cs.AI",
    ),
    Paper(
        id="2609.16111",
        title="Open Weights, Open Data: A 7B Model Trained End to End in Public",
        abstract="",
        authors=("The OpenLab Team",),
        categories=("cs.CL",),
        primary_category="cs.CL",
    ),
]


def render_sample(tmp_path: Path) -> Path:
    config = Config(
        mail=MailConfig(postal_address="arXiv digest, 1 Example Street, 12345 Springfield"),
        site=SiteConfig(title="arXiv digest", base_url="https://archive.example.org"),
        service=ServiceConfig(public_url="https://digest.example.org"),
    )
    subscriber = Subscriber(
        id=1,
        email="ada@example.com",
        name="Ada",
        status="active",
        manage_token="Zq3xV8mN1pL0rT5yW7uK2cH9gF4dS6aJ_b-EoIiUuYt",
    )
    topics = ["Language models", "Language models", "Robotics", "Graph learning"]
    whys = [
        'Matches "mixture-of-experts" and "scaling laws" in Language models',
        "Close to “Self-RAG: Learning to Retrieve, Generate and Critique”, which you liked",
        "By Kenji Sato, an author you follow",
        'Matches "graph neural network" in Graph learning',
    ]
    picks = tuple(
        Pick(paper_id=p.id, score=0.8 - i / 10, topic=topics[i], why=whys[i])
        for i, p in enumerate(PAPERS)
    )
    plan = DigestPlan(subscriber_id=1, issue_date=date(2026, 9, 24), picks=picks, candidates=412)
    rendered = build_digest_email(config, subscriber, plan, {p.id: p for p in PAPERS}, TRENDING)
    path = tmp_path / "digest.html"
    path.write_text(rendered.html, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser():
    with launched_chromium() as chromium:
        yield chromium


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_digest_renders_cleanly_in_chromium(browser, tmp_path, scheme):
    html_path = render_sample(tmp_path)
    page = browser.new_page(viewport={"width": 680, "height": 900})
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.emulate_media(color_scheme=scheme)
    page.goto(html_path.as_uri())
    page.wait_for_load_state("load")

    assert console_errors == []
    assert dialogs == []  # the <script> title never ran
    assert page.evaluate("document.scripts.length") == 0
    assert requests == [html_path.as_uri()]  # nothing remote is loaded
    title = page.locator("a.t").nth(1).inner_text()
    assert title.startswith("<script>alert(1)</script> & x<y")
    # The preheader is in the DOM but not visible.
    assert page.get_by_text("4 new papers in", exact=False).first.is_hidden()
    # The content column is 600 px wide; cards stay inside it.
    width = page.evaluate("document.querySelector('table.container').getBoundingClientRect().width")
    assert width == 600
    card_bg = page.evaluate("getComputedStyle(document.querySelector('.card')).backgroundColor")
    body_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    if scheme == "dark":
        assert card_bg == "rgb(22, 27, 34)" and body_bg == "rgb(13, 17, 23)"
    else:
        assert card_bg == "rgb(255, 255, 255)" and body_bg == "rgb(244, 245, 247)"

    shot = tmp_path / f"email-{scheme}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("DIGEST_SAVE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, DOCS_IMG / shot.name)
    page.close()


def confirmation_html(tmp_path: Path) -> Path:
    config = Config(
        mail=MailConfig(postal_address="arXiv digest, 1 Example Street, 12345 Springfield"),
        service=ServiceConfig(public_url="https://digest.example.org"),
    )
    message = confirmation_email(config, "ada@example.com", "x" * 43)
    body = message.get_body(("html",))
    assert body is not None
    path = tmp_path / "confirm.html"
    path.write_text(body.get_content(), encoding="utf-8")
    return path


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 600])
def test_no_email_scrolls_sideways_on_a_phone_or_in_a_600px_pane(browser, tmp_path, width, scheme):
    """A reader never scrolls sideways: the confirmation mail's bare link used to push a 375 px
    screen to 513 px. Both the digest and the confirmation mail fit the width."""
    for path in (render_sample(tmp_path), confirmation_html(tmp_path)):
        page = browser.new_page(viewport={"width": width, "height": 800}, color_scheme=scheme)
        page.goto(path.as_uri())
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path.name
        page.close()
