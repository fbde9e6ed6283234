"""The digest as a subscriber reads it: the why-line in the reader's words and a plain-text
part that reads on its own (wrapped lines, no TeX quotes), checked on the sent bytes."""

from __future__ import annotations

import quopri
import re
import socket
from dataclasses import replace
from email import policy
from email.parser import BytesParser

import pytest

from digest.mail.compose import (
    HTML_BUDGET_BYTES,
    build_digest_email,
    message_bytes,
    reader_why,
    to_mime,
)
from digest.mail.smtp import SmtpBackend
from digest.models import DigestPlan, Pick
from tests.test_emails import DAY, SUBSCRIBER, TOKEN, make_config, make_paper

LONG_TITLE = (
    "Diff-MSM: Differentiable MusculoSkeletal Model for Simultaneous Identification of "
    "Human Muscle and Bone Parameters"
)


def sent(picks_and_papers, trending=()):
    """The text and HTML parts as a mail client decodes them from the wire bytes."""
    picks = tuple(pick for pick, _ in picks_and_papers)
    papers = {paper.id: paper for _, paper in picks_and_papers}
    plan = DigestPlan(subscriber_id=7, issue_date=DAY, picks=picks, candidates=86)
    rendered = build_digest_email(make_config(), SUBSCRIBER, plan, papers, trending)
    raw = message_bytes(to_mime(make_config(), SUBSCRIBER, rendered, "d_1"))
    message = BytesParser(policy=policy.default).parsebytes(raw)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return text.replace("\r\n", "\n"), html.replace("\r\n", "\n")


def ranked(i: int, topic: str, why: str, **fields):
    paper = make_paper(i, **fields)
    return Pick(paper_id=paper.id, score=0.5, topic=topic, why=why), paper


def test_why_line_leaves_out_the_topic_heading_and_the_ranking_score():
    """Under the 'Robotics' heading the card said 'Robotics: mentions “robot” (score 0.53)':
    the topic twice and a number no reader can use."""
    text, html = sent(
        [
            ranked(1, "Robotics", "Robotics: mentions “robot”, “navigation” (score 0.53)"),
            ranked(2, "", "Picked for you: close to a paper you liked, “GPAI evals” (score 0.40)"),
        ]
    )
    assert "(score" not in text and "(score" not in html
    assert "Why: mentions “robot”, “navigation”\n" in text
    assert ">Mentions “robot”, “navigation”</p>" in html
    assert "Why: close to a paper you liked, “GPAI evals”" in text
    assert ">Close to a paper you liked, “GPAI evals”</p>" in html


def test_reader_why_keeps_a_line_it_does_not_recognise():
    assert reader_why('Matches "graph neural"', "Graph learning") == 'Matches "graph neural"'
    assert reader_why("Robotics: ", "Robotics") == "Robotics:"  # nothing after the head
    assert reader_why("LLM agents: by Ann Lee (score 1.00)", "Robotics") == "LLM agents: by Ann Lee"


def test_plain_text_lines_fit_78_columns_except_a_lone_link():
    """Long titles, author lines, why-lines, the lede and the footer wrap with a hanging
    indent; only a line ending in a URL may run longer (a URL cannot be broken)."""
    long_why = "Robotics: mentions " + ", ".join(f"“keyword number {i}”" for i in range(8))
    authors = tuple(f"Firstname{i} Very-Long-Surname{i}" for i in range(3))
    text, _ = sent(
        [
            ranked(1, "Robotics", long_why + " (score 0.44)", title=LONG_TITLE, authors=authors),
            ranked(2, "Robotics and a very long named topic about manipulation", "x: y"),
        ],
        trending=[make_paper(9, title=LONG_TITLE + " (trending)")],
    )
    too_long = [
        line for line in text.splitlines() if len(line) > 78 and "://" not in line.split()[-1]
    ]
    assert too_long == []
    assert "1. Diff-MSM: Differentiable MusculoSkeletal Model for Simultaneous\n" in text
    assert "\n   Identification of Human Muscle and Bone Parameters\n" in text
    assert "\n   Why: mentions “keyword number 0”" in text
    assert "\n- Diff-MSM: Differentiable" in text and "\n  Identification of Human" in text
    flat = " ".join(text.split())
    assert LONG_TITLE in flat and "Firstname2 Very-Long-Surname2 · cs.LG stat.ML" in flat


def test_tex_quotes_read_as_curly_quotes_in_both_parts():
    """arXiv abstracts write ``quoted'' in TeX; readers saw the backticks."""
    abstract = "In this case study, the ``simulation tool'' considered is PyChrono. It is f''(x)."
    text, html = sent([ranked(1, "Robotics", "Robotics: x", abstract=abstract)])
    assert "the “simulation tool” considered" in " ".join(text.split())
    assert "the “simulation tool” considered" in html
    assert "``" not in text and "f''(x)" in " ".join(text.split())  # a derivative stays


def plan_email(candidates: int, papers=(), frequency: str = "daily"):
    picks = tuple(Pick(paper_id=p.id, score=0.5, topic="Robotics", why="x") for p in papers)
    plan = DigestPlan(subscriber_id=7, issue_date=DAY, picks=picks, candidates=candidates)
    reader = replace(SUBSCRIBER, frequency=frequency)
    return build_digest_email(make_config(), reader, plan, {p.id: p for p in papers})


def test_counts_in_the_lede_are_in_the_right_number():
    """'Picked from 1 new listings' and 'None of today's 0 new listings matched' read wrong."""
    assert "Picked from 1 new listing across Robotics." in plan_email(1, [make_paper(1)]).text
    assert "Picked from 1,204 new listings across" in plan_email(1204, [make_paper(1)]).text
    assert "The one new listing did not match your topics" in plan_email(1).text
    assert "arXiv listed no new papers today." in plan_email(0).text
    assert "None of today's 86 new listings matched" in plan_email(86).text


def test_an_empty_weekly_issue_speaks_of_the_week():
    weekly = plan_email(40, frequency="weekly")
    assert weekly.subject.startswith("Nothing matched this week · ")
    assert "None of this week's 40 new listings matched" in weekly.text
    assert "or browse everything listed this week in <a" in weekly.html
    assert "today" not in weekly.text.lower().split("\n--\n")[0]


def html_part_on_the_wire(raw: bytes) -> bytes:
    """The HTML part's encoded body exactly as sent (between its headers and the boundary)."""
    boundary = re.search(rb'boundary="([^"]+)"', raw).group(1)  # type: ignore[union-attr]
    part = next(p for p in raw.split(b"--" + boundary) if b"Content-Type: text/html" in p)
    return part.split(b"\r\n\r\n", 1)[1]


def test_html_part_stays_under_gmails_clip_size_as_sent_with_accented_abstracts():
    """The budget counted UTF-8 bytes; quoted-printable makes each accented letter 6 bytes,
    so 120 such papers went out at ~133 KB, past Gmail's ~102 KB clip: the footer with the
    unsubscribe link and postal address sat behind '[Message clipped]'."""
    abstract = "Ünïcödé résumé naïve façade — “quoted” α β γ δ ε. " * 30
    papers = [
        make_paper(i, abstract=abstract, title=f"Élan vital über Gödel {i}") for i in range(120)
    ]
    plan = DigestPlan(
        subscriber_id=7,
        issue_date=DAY,
        picks=tuple(Pick(paper_id=p.id, score=0.5, topic="Robotics", why="x") for p in papers),
        candidates=400,
    )
    rendered = build_digest_email(make_config(), SUBSCRIBER, plan, {p.id: p for p in papers})
    raw = message_bytes(to_mime(make_config(), SUBSCRIBER, rendered, "d_1"))
    on_the_wire = html_part_on_the_wire(raw)
    assert 90_000 < len(on_the_wire) < HTML_BUDGET_BYTES
    assert rendered.truncated > 0
    html = quopri.decodestring(on_the_wire).decode("utf-8")
    assert f"/u/{TOKEN}" in html and "Digest Ltd, 1 Example Street" in html


class RawDataHandler:
    """An aiosmtpd handler that keeps each DATA payload byte for byte, as the server read it."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.payloads.append(envelope.original_content)
        return "250 OK"


def test_smtp_data_has_crlf_only_short_lines_and_the_one_line_rfc8058_headers():
    """On the SMTP wire itself (a real aiosmtpd on 127.0.0.1): no bare LF or CR, no line past
    998, List-Unsubscribe on one line with the https URL, the one-click header, List-Id."""
    controller_module = pytest.importorskip("aiosmtpd.controller")
    handler = RawDataHandler()
    with socket.socket() as probe:  # a free port (the Controller's ready check needs one)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = controller_module.Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mail = replace(
            make_config().mail,
            backend="smtp",
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_security="none",
            smtp_timeout_seconds=5.0,
        )
        papers = [make_paper(i, title=LONG_TITLE, abstract="Ünïcödé " * 200) for i in range(12)]
        picks = [ranked(i, "Robotics", "Robotics: x (score 0.5)")[0] for i in range(12)]
        plan = DigestPlan(subscriber_id=7, issue_date=DAY, picks=tuple(picks), candidates=40)
        rendered = build_digest_email(make_config(), SUBSCRIBER, plan, {p.id: p for p in papers})
        backend = SmtpBackend(mail)
        backend.send(to_mime(make_config(), SUBSCRIBER, rendered, "d_1"), "d_1")
        backend.close()
    finally:
        controller.stop()
    (raw,) = handler.payloads
    assert raw.count(b"\n") == raw.count(b"\r\n") and raw.count(b"\r") == raw.count(b"\r\n")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert f"\r\nList-Unsubscribe: <https://digest.example.org/u/{TOKEN}>\r\n" in head
    assert "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in head
    assert "\r\nList-Id: <daily.digest.example.org>\r\n" in head
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert [p.get_content_type() for p in message.walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    assert str(message["Message-ID"]).endswith("@digest.example.org>")


def test_why_you_get_this_without_topic_names_names_the_list_once():
    """It read 'subscribed to the daily digest on arXiv digest' when no topic was known."""
    footer = " ".join(plan_email(86).text.split("\n--\n")[1].split())
    assert "You get this because you subscribed to arXiv digest (archive.digest.example.org)." in (
        footer
    )
