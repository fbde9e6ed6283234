"""The digest email: content, escaping, size budget, MIME structure and headers."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime
from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.config import Config, MailConfig, ServiceConfig, SiteConfig
from digest.mail import compose as emails
from digest.mail import notices
from digest.mail.compose import (
    abstract_snippet,
    build_digest_email,
    build_transactional_email,
    shorten_authors,
    to_mime,
)
from digest.mail.mime import encoded_size
from digest.models import DigestPlan, Paper, Pick, Subscriber
from digest.render import environment, render

DAY = date(2026, 9, 24)  # a Thursday
TOKEN = "Zq3xV8mN1pL0rT5yW7uK2cH9gF4dS6aJ_b-EoIiUuYt"  # 43 chars, like token_urlsafe(32)
EMAIL = "ada.lovelace+digest@example.com"
EVIL_TITLE = "<script>alert(1)</script> & x<y"
ABSTRACT = (
    "We study how graph neural networks generalise when test graphs are larger than training "
    "graphs. Our analysis shows that message passing with degree normalisation keeps the error "
    "bounded, e.g. on random geometric graphs. We then propose a size-aware readout that closes "
    "most of the gap on six benchmarks. Code and data are released."
)


def make_config(**mail) -> Config:
    return Config(
        mail=MailConfig(
            from_address="papers@digest.example.org",
            from_name="arXiv digest",
            reply_to="editor@digest.example.org",
            postal_address="Digest Ltd, 1 Example Street, 12345 Springfield",
            list_id="daily.digest.example.org",
            **mail,
        ),
        site=SiteConfig(title="arXiv digest", base_url="https://archive.digest.example.org"),
        service=ServiceConfig(public_url="https://digest.example.org"),
    )


def make_paper(i: int, **fields) -> Paper:
    values = dict(
        id=f"2609.{10000 + i}",
        title=f"Size generalisation in graph neural networks, study {i}",
        abstract=ABSTRACT,
        authors=tuple(f"Author{j} Surname{j}" for j in range(1 + i % 6)),
        categories=("stat.ML", "cs.LG"),
        primary_category="cs.LG",
    )
    values.update(fields)
    return Paper(**values)  # type: ignore[arg-type]


def make_plan(papers: list[Paper], topics=("Graph learning", "Robotics")) -> DigestPlan:
    picks = tuple(
        Pick(
            paper_id=p.id,
            score=0.9 - i / 100,
            topic=topics[i % len(topics)],
            why=f'Matches "graph neural" · close to paper {i} you liked',
        )
        for i, p in enumerate(papers)
    )
    return DigestPlan(subscriber_id=7, issue_date=DAY, picks=picks, candidates=342)


SUBSCRIBER = Subscriber(id=7, email=EMAIL, name="Ada Lovelace", status="active", manage_token=TOKEN)


def build(papers: list[Paper], trending: list[Paper] = (), **kwargs):
    plan = make_plan(papers)
    return build_digest_email(
        make_config(), SUBSCRIBER, plan, {p.id: p for p in papers}, trending, **kwargs
    )


# ------------------------------------------------------------------------- content
def test_subject_preheader_sections_and_cards():
    papers = [make_paper(i) for i in range(7)]
    rendered = build(papers)
    assert rendered.subject == "7 new papers for you · Thu 24 Sep"
    assert rendered.preheader.startswith("7 new papers in Graph learning and Robotics: ")
    assert papers[0].title in rendered.preheader
    assert rendered.paper_ids == tuple(p.id for p in papers[0::2] + papers[1::2])
    html, text = rendered.html, rendered.text
    # Preheader is the first body text and is hidden.
    body = html[html.index("<body") :]
    assert re.search(r'<div style="display:none[^"]*">7 new papers in', body)
    # Sections in rank order, each card under its topic.
    assert html.index("Graph learning") < html.index("Robotics")
    assert text.index("== Graph learning (4) ==") < text.index("== Robotics (3) ==")
    for paper in papers:
        assert f'href="https://arxiv.org/abs/{paper.id}"' in html
        assert f'href="https://arxiv.org/pdf/{paper.id}"' in html
        assert f"https://archive.digest.example.org/papers/{paper.id}.html" in html
        assert f"/f/{TOKEN}?paper={paper.id}&amp;kind=like" in html
        assert f"/f/{TOKEN}?paper={paper.id}&kind=dislike" in text
        assert paper.title in " ".join(text.split())
    assert 'Matches "graph neural" · close to paper 3 you liked' in text
    assert 'Matches "graph neural" · close to paper 3 you liked' in html  # re-serialised
    # Authors shortened; categories with the primary first.
    assert "Author0 Surname0, Author1 Surname1, Author2 Surname2 et al." in html
    assert "cs.LG · stat.ML" in html
    # Footer: preferences, visible unsubscribe, why, postal address.
    for part in (html, " ".join(text.split())):  # the text part is word-wrapped
        assert f"https://digest.example.org/p/{TOKEN}" in part
        assert f"https://digest.example.org/u/{TOKEN}" in part
        assert (
            "You get this because you subscribed to Graph learning and Robotics on arXiv "
            "digest (archive.digest.example.org)." in part
        )
        assert "Digest Ltd, 1 Example Street, 12345 Springfield" in part
    assert ">Unsubscribe</a>" in html


def test_picks_without_a_topic_get_their_own_section_but_no_name_in_the_summary():
    papers = [make_paper(i) for i in range(4)]
    plan = make_plan(papers, topics=("Graph learning", ""))
    rendered = build_digest_email(make_config(), SUBSCRIBER, plan, {p.id: p for p in papers})
    assert "== More for you (2) ==" in rendered.text
    assert rendered.preheader.startswith("4 new papers in Graph learning: ")
    assert "across Graph learning." in rendered.text


def test_one_paper_subject_and_topic_names_in_footer():
    rendered = build([make_paper(1)], topic_names=["Graph learning", "Robotics", "LLM agents"])
    assert rendered.subject == "1 new paper for you · Thu 24 Sep"
    assert "subscribed to Graph learning, Robotics and LLM agents on" in " ".join(
        rendered.text.split()
    )


def test_snippet_is_two_or_three_sentences_and_why_line_present():
    rendered = build([make_paper(1)])
    assert abstract_snippet(ABSTRACT) in rendered.html
    flat_text = " ".join(rendered.text.split())  # the text part is word-wrapped
    assert "Code and data are released." not in flat_text  # 4th sentence left out
    assert abstract_snippet(ABSTRACT) in flat_text


def test_trending_block_is_short_and_skips_picked_papers():
    papers = [make_paper(i) for i in range(3)]
    trending = [papers[0]] + [make_paper(i, title=f"Trending paper {i}") for i in range(10, 16)]
    rendered = build(papers, trending)
    assert "Trending today" in rendered.html
    assert [
        t
        for t in ("Trending paper 10", "Trending paper 11", "Trending paper 12")
        if t in rendered.html
    ] == ["Trending paper 10", "Trending paper 11", "Trending paper 12"]
    assert "Trending paper 13" not in rendered.html
    assert rendered.html.count(papers[0].title + "<") == 1  # not repeated as trending


def test_non_arxiv_paper_gets_no_arxiv_links():
    paper = make_paper(1, id="hf-2609-0001", is_arxiv=False)
    rendered = build([paper])
    assert "arxiv.org/abs/hf-2609-0001" not in rendered.html
    assert "arxiv.org/pdf/hf-2609-0001" not in rendered.text
    assert "https://archive.digest.example.org/papers/hf-2609-0001.html" in rendered.html
    assert "Abstract:" not in rendered.text


def test_empty_plan_renders_a_short_nothing_matched_email():
    rendered = build([])
    assert rendered.subject == "Nothing matched today · Thu 24 Sep"
    for part in (rendered.html, rendered.text):  # said once, in the lede, not twice
        assert part.count("None of today's 342 new listings matched your topics") == 1
    assert rendered.html.count("No new papers matched") == 1  # the hidden preheader only
    assert "No new papers matched" not in rendered.text
    assert "or browse everything listed today in <a href=" in rendered.html
    assert "Everything listed today: https://archive.digest.example.org/days/" in rendered.text
    assert rendered.paper_ids == ()
    assert f"/u/{TOKEN}" in rendered.html
    assert "https://archive.digest.example.org/days/2026-09-24.html" in rendered.text


def test_weekly_subscriber_subject():
    weekly = Subscriber(id=7, email=EMAIL, status="active", frequency="weekly", manage_token=TOKEN)
    papers = [make_paper(i) for i in range(3)]
    rendered = build_digest_email(
        make_config(), weekly, make_plan(papers), {p.id: p for p in papers}
    )
    assert rendered.subject == "3 new papers this week · Thu 24 Sep"


def test_empty_postal_address_shows_nothing_with_outbox():
    config = Config()  # outbox backend, no postal address: allowed for local use
    papers = [make_paper(1)]
    rendered = build_digest_email(config, SUBSCRIBER, make_plan(papers), {papers[0].id: papers[0]})
    assert "None" not in rendered.text.split("--")[-1]
    assert rendered.text.rstrip().endswith("/index.html")


# ------------------------------------------------------------------------- safety
def test_evil_title_is_escaped_in_html_and_literal_in_text():
    evil = make_paper(
        1,
        title=EVIL_TITLE,
        abstract="Uses <b>bold</b> & <i>tags</i>. Fine.",
        authors=("Robert'); DROP TABLE--", "<img src=x onerror=alert(2)>"),
    )
    rendered = build([evil])
    assert "<script>" not in rendered.html
    assert "<img src=x" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; x&lt;y" in rendered.html
    assert "Uses &lt;b&gt;bold&lt;/b&gt; &amp; &lt;i&gt;tags&lt;/i&gt;." in rendered.html
    assert EVIL_TITLE in rendered.text
    assert "Uses <b>bold</b> & <i>tags</i>." in rendered.text
    assert EVIL_TITLE in rendered.subject or EVIL_TITLE in rendered.preheader


def test_autoescape_and_strict_undefined_are_on_for_email_templates():
    env = environment()
    assert env.autoescape("email/digest.html.j2") is True  # type: ignore[operator]
    assert env.autoescape("email/digest.txt.j2") is False  # type: ignore[operator]
    context = emails.digest_context(
        make_config(), SUBSCRIBER, make_plan([make_paper(1)]), {make_paper(1).id: make_paper(1)}
    )
    # the text part shows the wrapped copy of the footer's why-line
    for template, key in (("html", "why_you_get_this"), ("txt", "why_you_get_this_text")):
        missing = {name: value for name, value in context.items() if name != key}
        with pytest.raises(jinja2.UndefinedError):
            render(f"email/digest.{template}.j2", **missing)


def test_subscriber_without_token_is_refused():
    from digest.errors import DigestError

    tokenless = Subscriber(id=3, email=EMAIL, status="active", manage_token=None)
    with pytest.raises(DigestError, match="no manage token"):
        build_digest_email(make_config(), tokenless, make_plan([]), {})


def _all_urls(*parts: str) -> list[str]:
    found = []
    for part in parts:
        found += re.findall(r'href="([^"]+)"', part)
        found += re.findall(r"(?:https?|mailto):[^\s<>\"',]+", part)
    return found


def test_no_email_address_in_any_url():
    rendered = build([make_paper(i) for i in range(4)], [make_paper(20)])
    message = to_mime(make_config(), SUBSCRIBER, rendered, delivery_id="d-01HZX")
    header_urls = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    urls = _all_urls(rendered.html, rendered.text) + header_urls
    assert len(urls) > 30
    for url in urls:
        decoded = unquote(url)
        assert EMAIL not in decoded and "lovelace" not in decoded.lower()
        if url.startswith("mailto:"):
            assert url.startswith("mailto:papers@digest.example.org?")  # our address only
        else:
            assert "@" not in decoded, url


# ------------------------------------------------------------------------- size, styles
def test_html_under_100kb_as_sent_at_50_papers_with_long_abstracts():
    """The budget counts the HTML part as sent (quoted-printable): 50 cards this long take
    ~106 KB there, so the last few go to the archive link rather than past Gmail's clip."""
    papers = [
        make_paper(
            i,
            abstract=ABSTRACT * 8,
            title="A rather long title " * 6,
            authors=tuple(f"Firstname{j} Lastname{j}" for j in range(40)),
        )
        for i in range(50)
    ]
    rendered = build(papers, [make_paper(60 + i) for i in range(3)])
    size = encoded_size(rendered.html)
    assert 90_000 < size < 100_000, size
    assert 0 < rendered.truncated <= 8  # most of the 50 (the cap) still fit
    assert f"{rendered.truncated} more in the archive" in rendered.html
    assert f"/u/{TOKEN}" in rendered.html  # the unsubscribe link survives the budget


def test_over_budget_html_is_truncated_with_an_archive_link():
    papers = [make_paper(i, abstract=ABSTRACT * 8) for i in range(120)]
    rendered = build(papers)
    assert encoded_size(rendered.html) < 100_000
    assert 0 < rendered.truncated < 120
    assert f"{rendered.truncated} more in the archive" in rendered.html
    assert 'href="https://archive.digest.example.org/days/2026-09-24.html"' in rendered.html
    assert f"/u/{TOKEN}" in rendered.html
    assert papers[-1].title in rendered.text  # the text part is never cut
    small = build(papers[:5], html_budget=12_000)
    assert small.truncated > 0 and encoded_size(small.html) < 12_000


def test_styles_are_inlined_and_dark_mode_rules_kept():
    html = build([make_paper(1)]).html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert "@media (prefers-color-scheme:dark)" in html
    assert re.search(r'<div class="card" style="[^"]*border-radius:12px', html)
    assert 'width="600"' in html and "max-width:600px" in html
    assert "<link" not in html and "@import" not in html
    assert "<script" not in html


@given(st.text(alphabet=st.sampled_from(list("abc xyz.!?ABC")), max_size=900))
def test_snippet_never_cuts_inside_a_word(abstract):
    snippet = abstract_snippet(abstract)
    normal = " ".join(abstract.split())
    assert len(snippet) <= 350
    body = snippet.removesuffix("…")
    assert normal.startswith(body)
    rest = normal[len(body) :]
    assert (
        not rest or rest[0] == " " or body == "" or not body[-1].isalnum() or not rest[0].isalnum()
    )


def test_snippet_long_first_sentence_is_cut_at_a_word():
    snippet = abstract_snippet("word " * 200)
    assert snippet.endswith("word…") and len(snippet) <= 350


def test_snippet_adds_a_clipped_second_sentence_when_only_one_fits():
    first = "Large models do many things well in practice and in theory, as shown before. "
    second = "However, " + "they also fail in ways that are hard to predict " * 10 + "today."
    snippet = abstract_snippet(first + second)
    assert snippet.startswith(first + "However, they also fail")
    assert snippet.endswith("…") and len(snippet) <= 350
    assert (first + second).startswith(snippet.removesuffix("…"))
    assert (first + second)[len(snippet) - 1] == " "  # the cut is at a word boundary


def test_shorten_authors():
    assert shorten_authors(["A", "B", "C"]) == "A, B, C"
    assert shorten_authors(["A", "B", "C", "D"]) == "A, B, C et al."
    assert shorten_authors([]) == "Unknown authors"


# ------------------------------------------------------------------------- MIME
def _parse(message) -> object:
    return BytesParser(policy=policy.default).parsebytes(message.as_bytes())


def test_mime_structure_and_every_header():
    config = make_config()
    rendered = build([make_paper(i) for i in range(3)])
    now = datetime(2026, 9, 24, 6, 30, tzinfo=UTC)
    parsed = _parse(to_mime(config, SUBSCRIBER, rendered, delivery_id="dlv_8f3a2c", now=now))
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content().strip() == rendered.text.strip()
    assert parts[1].get_content().strip() == rendered.html.strip()
    assert parsed["From"] == "arXiv digest <papers@digest.example.org>"
    assert parsed["Reply-To"] == "editor@digest.example.org"
    assert parsed["To"] == f"Ada Lovelace <{EMAIL}>"
    assert parsed["Subject"] == "3 new papers for you · Thu 24 Sep"
    assert parsedate_to_datetime(parsed["Date"]) == now
    assert re.fullmatch(r"<[^@\s]+@digest\.example\.org>", parsed["Message-ID"])
    assert parsed["List-Id"] == "<daily.digest.example.org>"
    # Only the https URL: nothing reads the From mailbox, so a mailto: unsubscribe (Apple
    # Mail and Outlook prefer it) would never be honoured.
    assert parsed["List-Unsubscribe"] == f"<https://digest.example.org/u/{TOKEN}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["X-Digest-Delivery"] == "dlv_8f3a2c"
    assert parsed["MIME-Version"] == "1.0"
    raw = to_mime(config, SUBSCRIBER, rendered, "dlv_8f3a2c").as_bytes()
    headers = raw.split(b"\n\n", 1)[0].decode()
    # List-Unsubscribe on one line (RFC 8058 wants the https URL intact), no duplicates.
    assert re.search(r"^List-Unsubscribe: <https://[^\r\n]+>\r?$", headers, re.M)
    for name in ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "MIME-Version"):
        assert len(re.findall(rf"^{name}:", headers, re.M)) == 1, name
    assert max(len(line) for line in raw.splitlines()) <= 998


def test_message_bytes_keeps_list_unsubscribe_on_one_crlf_line():
    rendered = build([make_paper(1)])
    raw = emails.message_bytes(to_mime(make_config(), SUBSCRIBER, rendered, "d-1"))
    lines = raw.split(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    (unsubscribe,) = [line for line in lines if line.startswith(b"List-Unsubscribe:")]
    assert unsubscribe.endswith(b"/u/" + TOKEN.encode() + b">")
    assert max(len(line) for line in lines) <= 998
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["X-Digest-Delivery"] == "d-1"


def test_message_bytes_fast_path_matches_the_stdlib_generator():
    rendered = build([make_paper(i, title=f"Ünïcödé title {i} · 👍") for i in range(3)])
    message = to_mime(make_config(), SUBSCRIBER, rendered, "d-2")
    fast = emails.message_bytes(message)
    assert fast == message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    message["X-Extra"] = "ünïcode needs the generator"  # not raw ASCII: falls back
    slow = emails.message_bytes(message)
    assert b"X-Extra: =?utf-8?" in slow
    assert (
        BytesParser(policy=policy.default).parsebytes(slow)["X-Extra"]
        == "ünïcode needs the generator"
    )


def test_message_id_domain_override_and_unique_ids():
    rendered = build([make_paper(1)])
    first = to_mime(make_config(), SUBSCRIBER, rendered, "a", message_id_domain="mx.example.net")
    second = to_mime(make_config(), SUBSCRIBER, rendered, "b")
    assert first["Message-ID"].endswith("@mx.example.net>")
    assert first["Message-ID"] != second["Message-ID"]


def test_no_reply_to_when_not_configured_and_names_cannot_inject_headers():
    config = Config(mail=MailConfig(from_address="digest@example.org", reply_to=""))
    sneaky = Subscriber(
        id=9,
        email="bob@example.com",
        name="Bob\r\nBcc: eve@example.com",
        status="active",
        manage_token=TOKEN,
    )
    rendered = build_digest_email(config, sneaky, make_plan([]), {})
    parsed = _parse(to_mime(config, sneaky, rendered, "x"))
    assert parsed["Reply-To"] is None
    assert parsed["Bcc"] is None
    assert "bob@example.com" in parsed["To"]


def test_transactional_email_has_no_list_headers():
    message = build_transactional_email(
        make_config(),
        "new@example.com",
        "Confirm your subscription",
        "Hello!\n\nConfirm here: https://digest.example.org/confirm/abc\n\nThanks <3",
    )
    parsed = _parse(message)
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["List-Unsubscribe"] is None and parsed["List-Id"] is None
    assert parsed["To"] == "new@example.com"
    html = parsed.get_body(("html",)).get_content()
    assert "Thanks &lt;3" in html
    assert 'href="https://digest.example.org/confirm/abc"' in html


# ------------------------------------------------------------------------- digest preview
@pytest.mark.slow
def test_digest_preview_writes_html_text_and_eml(sample_db, sample_config, tmp_path):
    from typer.testing import CliRunner

    from digest.cli import app
    from digest.subscribers.manage import add_subscriber

    add_subscriber(
        sample_db,
        "Reader@Example.com",
        name="Reader",
        status="active",
        text="language model agents that use tools and plan",
    )
    out = tmp_path / "preview"
    result = CliRunner().invoke(
        app,
        [
            "--config",
            str(tmp_path / "config.toml"),
            "preview",
            "reader@example.com",
            "--date",
            "2026-09-24",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output

    report = json.loads(result.stdout)
    assert report["subject"].endswith("· Thu 24 Sep")
    html = Path(report["html"]).read_text(encoding="utf-8")
    text = Path(report["text"]).read_text(encoding="utf-8")
    parsed = BytesParser(policy=policy.default).parsebytes(Path(report["eml"]).read_bytes())
    assert Path(report["html"]).parent == out
    assert parsed["Subject"] == report["subject"]
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert "/u/" in html and "Unsubscribe:" in text
    if report["papers"]:
        assert "https://arxiv.org/abs/" in html
    else:
        assert "Nothing matched today" in report["subject"]

    unknown = CliRunner().invoke(
        app,
        [
            "--config",
            str(tmp_path / "config.toml"),
            "preview",
            "nobody@example.com",
            "--out",
            str(out),
        ],
    )
    assert unknown.exit_code != 0
    assert "no subscriber with address" in str(unknown.exception)
    bad_date = CliRunner().invoke(
        app,
        [
            "--config",
            str(tmp_path / "config.toml"),
            "preview",
            "reader@example.com",
            "--date",
            "24/09/2026",
        ],
    )
    assert bad_date.exit_code != 0
    assert "is not a date" in str(bad_date.exception)


@given(st.text(min_size=1, max_size=300).map(lambda t: " ".join(t.split())).filter(bool))
def test_encoded_subject_round_trips_and_folds_under_78(text):
    from digest.mail.mime import encoded_words

    header = encoded_words("·" + text)  # force non-ASCII
    raw = ("Subject: " + header.replace("\n", "\r\n") + "\r\n\r\n").encode("ascii")
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert str(parsed["Subject"]) == "·" + text
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


def test_a_long_non_ascii_name_keeps_every_header_line_short():
    """A 200-emoji name (the longest a subscriber may have) as one encoded-word made a To:
    line of ~1,100 characters, over RFC 5322's 998 limit; it is folded, and still parses."""
    from dataclasses import replace
    from email.utils import getaddresses

    person = replace(SUBSCRIBER, name="😀" * 200)
    message = to_mime(make_config(), person, build([make_paper(1)]), "d-long")
    raw = emails.message_bytes(message)
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    # RFC 2047: space between adjacent encoded-words is not part of the text (the stdlib's
    # address parser keeps it, even for its own folded output)
    assert parsed["To"].addresses[0].display_name.replace(" ", "") == "😀" * 200
    assert parsed["To"].addresses[0].addr_spec == EMAIL
    assert getaddresses([str(v) for v in message.get_all("To", [])])[0][1] == EMAIL


def test_tex_text_styling_reads_as_plain_words_in_both_parts():
    """arXiv abstracts carry LaTeX styling ('we term \\textbf{involuntary jailbreak}'); the
    email shows the words, not the macros. Maths ($x^2$) is left as written."""
    paper = make_paper(
        1,
        title=r"On \emph{sheaves} and \textit{topoi}",
        abstract=r"We term \textbf{involuntary jailbreak} a \texttt{new} risk for $x^2$ models.",
    )
    rendered = build([paper])
    for part in (rendered.html, rendered.text):
        assert "On sheaves and topoi" in part
        assert "We term involuntary jailbreak a new risk for $x^2$ models." in part
        assert "\\text" not in part and "\\emph" not in part


@pytest.mark.parametrize(("days", "said"), [(1, "works for 1 day."), (7, "works for 7 days.")])
def test_confirmation_mail_says_how_long_its_link_works_in_english(days, said):
    """confirm_token_days = 1 made both parts say 'The link works for 1 days.'"""
    from dataclasses import replace

    base = make_config()
    config = replace(base, service=replace(base.service, confirm_token_days=days))
    message = notices.confirmation_email(config, EMAIL, TOKEN)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert said in " ".join(text.split()) and said in html


def test_feedback_links_say_what_they_do_and_meta_lines_share_one_separator():
    """👍/👎 alone gave no words in the HTML part (only a title attribute, which a phone never
    shows), and "More like this" named the link to the archive page while 👍 meant "more like
    this" too. Now each says one thing, in both parts: the archive page is "Similar papers",
    and the thumbs carry their words. The trending block joined categories with ', ' where
    cards use ' · '."""
    papers = [make_paper(0, categories=("cs.LG", "stat.ML"))]
    trending = [make_paper(10, title="Trending paper", categories=("cs.AI", "cs.CL"))]
    rendered = build(papers, trending)
    anchors = {  # each link's words as a reader sees them (kept on one line by &nbsp;)
        html.unescape(text).replace("\xa0", " "): href
        for href, text in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', rendered.html)
    }
    assert "kind=like" in anchors["👍 More like this"]
    assert "kind=dislike" in anchors["👎 Less like this"]
    assert "/papers/" in anchors["Similar papers"] and "/f/" not in anchors["Similar papers"]
    assert [text for text in anchors if "More like this" in text] == ["👍 More like this"]
    assert re.search(r"👍 More like this: \S*kind=like", rendered.text)
    assert re.search(r"👎 Less like this: \S*kind=dislike", rendered.text)
    assert re.search(r"Similar papers: \S*/papers/", rendered.text)
    assert "cs.LG · stat.ML" in rendered.html and "cs.AI · cs.CL" in rendered.html
    assert "cs.AI, cs.CL" not in rendered.html
