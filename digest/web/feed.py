"""A subscriber's private Atom feed: their picks, newest issue first, with the why-line.

Served by the web app at `/feed/<token>.atom`, never written into the static site. The token
is derived, not stored: `<subscriber id>-<HMAC(secret key, id and salt)>`, checked in
constant time; a new salt (`new_feed_address`) gives a new address and ends the old one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime

from feedgen.feed import FeedGenerator

from digest.config import Config
from digest.mail import links
from digest.mail.text import plain_tex, reader_why
from digest.models import Subscriber
from digest.store import channels as channel_store
from digest.store.subscribers import get_subscriber
from digest.textclean import strip_invisible

FEED_ISSUES = 10  # the last ten planned issues (a daily reader's two weeks)
FEED_STATUSES = ("active",)
_TOKEN = re.compile(r"^(?P<id>[1-9][0-9]{0,11})-(?P<mac>[A-Za-z0-9_-]{32})$")
# What XML 1.0 cannot carry (C0 controls but tab/newline/return, lone surrogates, U+FFFE/F)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", strip_invisible(text))


def _mac(key: bytes, subscriber_id: int, salt: str) -> str:
    digest = hmac.new(key, f"feed\0{subscriber_id}\0{salt}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:32]


def feed_token(db, key: bytes, subscriber_id: int) -> str:
    """The subscriber's current feed token (no write: it is derived)."""
    salt = channel_store.feed_salt(db, subscriber_id) or ""
    return f"{subscriber_id}-{_mac(key, subscriber_id, salt)}"


def new_feed_address(db, key: bytes, subscriber_id: int) -> str:
    """A new token; the old feed address stops working at once."""
    channel_store.new_feed_salt(db, subscriber_id, secrets.token_hex(16))
    return feed_token(db, key, subscriber_id)


def subscriber_for_feed(db, key: bytes, token: str) -> Subscriber | None:
    """The subscriber a feed token belongs to, or None (malformed, forged, reset, inactive)."""
    match = _TOKEN.match(token)
    if not match:
        return None
    subscriber_id = int(match.group("id"))
    expected = feed_token(db, key, subscriber_id).split("-", 1)[1]
    if not hmac.compare_digest(expected, match.group("mac")):
        return None
    subscriber = get_subscriber(db, subscriber_id)
    return subscriber if subscriber is not None and subscriber.status in FEED_STATUSES else None


def feed_path(token: str) -> str:
    return f"/feed/{token}.atom"


def feed_url(config: Config, token: str) -> str:
    return links.site_url(config.service.public_url, feed_path(token).lstrip("/"))


def render_feed(config: Config, subscriber: Subscriber, token: str, picks: list[dict]) -> bytes:
    """The Atom document (pure): one entry per pick, newest issue first, each entry dated by
    its issue (midnight UTC), so an unchanged feed is byte-identical between requests."""
    generator = FeedGenerator()
    generator.id(f"urn:digest:reader-feed:{hashlib.sha256(token.encode()).hexdigest()[:24]}")
    generator.title(_xml_text(f"{config.site.title}: your picks"))
    generator.subtitle("The papers picked for you in each issue, and why")
    generator.link(href=feed_url(config, token), rel="self")
    generator.link(href=links.preferences_url(config.service.public_url, ""), rel="alternate")
    generator.language("en")
    latest = max((p["issue_date"] for p in picks), default="1970-01-01")
    generator.updated(datetime.fromisoformat(latest).replace(tzinfo=UTC))
    for pick in reversed(picks):  # feedgen prepends: the newest issue ends up first
        entry = generator.add_entry()
        entry.id(f"urn:digest:pick:{pick['issue_date']}:{pick['paper_id']}")
        entry.title(_xml_text(plain_tex(" ".join(str(pick["title"]).split())) or pick["paper_id"]))
        url = (
            links.arxiv_abs_url(pick["paper_id"])
            if pick["is_arxiv"]
            else links.site_url(config.site.base_url or "", links.paper_path(pick["paper_id"]))
        )
        entry.link(href=url)
        why = reader_why(str(pick["why"]), str(pick["topic"]))
        heading = f"{pick['topic']}: " if pick["topic"] else ""
        summary = f"{heading}{why[:1].upper()}{why[1:]}\n\n{plain_tex(str(pick['abstract']))}"
        entry.summary(_xml_text(summary))
        for name in [n for n in map(_xml_text, pick["authors"][:20]) if n.strip()]:
            entry.author(name=name)
        if pick["topic"]:
            entry.category(term=_xml_text(str(pick["topic"])))
        stamp = datetime.fromisoformat(pick["issue_date"]).replace(tzinfo=UTC)
        entry.updated(stamp)
        entry.published(stamp)
    return generator.atom_str(pretty=True)


def subscriber_feed(db, config: Config, key: bytes, token: str) -> bytes | None:
    """The feed behind a token, or None when the token opens none."""
    subscriber = subscriber_for_feed(db, key, token)
    if subscriber is None:
        return None
    picks = channel_store.recent_picks(db, subscriber.id, FEED_ISSUES)
    return render_feed(config, subscriber, token, picks)
