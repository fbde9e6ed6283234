"""Helpers shared by the delivery tests: real digest messages built by digest.mail.compose from a few
small papers, subscribers and saved plans in a real SQLite file, and a recording SMTP server.
"""

from __future__ import annotations

import email
import email.policy
import secrets
import threading
from datetime import date

from digest.models import DigestPlan, Paper, Pick, Subscriber

ISSUE = date(2025, 8, 20)

PAPERS = [
    Paper(
        id="2508.00001",
        title="<script>alert(1)</script> & x<y: sparse attention",
        abstract="We study sparse attention. It is fast. It is also accurate.",
        authors=("Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"),
        categories=("cs.LG", "cs.AI"),
        primary_category="cs.LG",
        version=1,
        announce_type="new",
        announced=ISSUE,
    ),
    Paper(
        id="2508.00002",
        title="Retrieval-augmented planning for agents",
        abstract="Agents plan better with retrieval. We show it on three benchmarks.",
        authors=("Barbara Liskov",),
        categories=("cs.AI",),
        primary_category="cs.AI",
        version=1,
        announce_type="new",
        announced=ISSUE,
    ),
    Paper(
        id="2508.00003",
        title="A survey of diffusion language models",
        abstract="Diffusion language models are surveyed. Open problems are listed.",
        authors=("Donald Knuth", "Leslie Lamport"),
        categories=("cs.CL",),
        primary_category="cs.CL",
        version=1,
        announce_type="cross",
        announced=ISSUE,
    ),
]


def plan_for(subscriber_id: int, issue: date = ISSUE, n: int = 3) -> DigestPlan:
    picks = tuple(
        Pick(
            paper_id=p.id,
            score=0.9 - 0.1 * i,
            topic="Machine learning",
            why=f"matches your topic 'Machine learning' ({0.9 - 0.1 * i:.2f})",
        )
        for i, p in enumerate(PAPERS[:n])
    )
    return DigestPlan(subscriber_id=subscriber_id, issue_date=issue, picks=picks, candidates=86)


def subscriber(sid: int = 1, email_address: str = "ann@lab.test") -> Subscriber:
    return Subscriber(
        id=sid,
        email=email_address,
        name="Ann Example",
        status="active",
        manage_token=f"tok{sid}" + "x" * 20,
    )


def digest_message(config, sub: Subscriber | None = None, delivery_id: str = "d_test"):
    """A real digest EmailMessage, rendered by digest.mail.compose."""
    from digest.mail import compose as emails

    sub = sub or subscriber()
    rendered = emails.build_digest_email(config, sub, plan_for(sub.id), {p.id: p for p in PAPERS})
    return emails.to_mime(config, sub, rendered, delivery_id)


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def assert_digest_mime(message) -> None:
    """multipart/alternative, text/plain first and non-empty, then text/html; list headers."""
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content().strip() and parts[1].get_content().strip()
    for header in (
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "X-Digest-Delivery",
    ):
        assert message[header], f"missing {header}"
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"


def seed_subscribers(
    db, count: int, *, issue: date = ISSUE, save_plans: bool = True, domain: str = "lab.test"
) -> list[Subscriber]:
    """`count` active subscribers with papers in the store and (optionally) saved plans."""
    from digest.store.papers import upsert_papers
    from digest.store.subscribers import get_subscriber, insert_subscriber

    upsert_papers(db, PAPERS, source="test")
    subs = []
    for i in range(count):
        sid = insert_subscriber(
            db,
            {
                "email": f"reader{i:03d}@{domain}",
                "name": f"Reader {i}",
                "status": "active",
                "confirmed_at": "2025-08-01T00:00:00",
            },
        )
        sub = get_subscriber(db, sid)
        assert sub is not None
        subs.append(sub)
        if save_plans:
            from digest.rank import planning

            planning.save_plan(db, plan_for(sid, issue))
    return subs


class RecordingHandler:
    """aiosmtpd handler: keeps every accepted message (raw bytes) per recipient."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[bytes] = []
        self.by_recipient: dict[str, list[bytes]] = {}

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        with self.lock:
            self.messages.append(raw)
            for rcpt in envelope.rcpt_tos:
                self.by_recipient.setdefault(rcpt.lower(), []).append(raw)
        return "250 2.0.0 Ok: queued as Q" + secrets.token_hex(4)


def queue_messages(db, config, subs, issue: date = ISSUE) -> list[str]:
    """Render and queue one real digest per subscriber (what send_issue does before sending)."""
    from digest.mail.wire import to_wire
    from digest.store.deliveries import NewDelivery, queue_deliveries
    from digest.store.ledger import new_delivery_id

    ids, new = [], []
    for sub in subs:
        delivery_id = new_delivery_id()
        message = digest_message(config, sub, delivery_id)
        new.append(
            NewDelivery(delivery_id, sub.id, issue, str(message["Subject"]), to_wire(message))
        )
        ids.append(delivery_id)
    queue_deliveries(db, new)
    return ids
