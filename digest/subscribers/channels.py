"""A subscriber's chat channel: a Slack or Discord incoming webhook that gets their digest
instead of an email (a lab points its channel at a topic by following that topic)."""

from __future__ import annotations

from urllib.parse import urlsplit

from digest.errors import UsageError
from digest.store import channels as channel_store
from digest.subscribers.manage import require_subscriber

_SLACK_HOSTS = ("hooks.slack.com", "hooks.slack-gov.com")
_DISCORD_HOSTS = ("discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com")


def webhook_service(url: str, allow_http: bool = False) -> str:
    """slack | discord for an incoming-webhook URL; UsageError naming what is wrong.

    Only the services' own webhook hosts are accepted (a digest must not be posted to any
    address a form was given); `allow_http` lets tests use loopback servers."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if allow_http and parts.scheme in ("http", "https") and host in ("127.0.0.1", "localhost"):
        return "discord" if "/api/webhooks/" in parts.path else "slack"
    if parts.scheme != "https":
        raise UsageError(f"a webhook URL starts with https://, got {url[:60]!r}")
    if host in _SLACK_HOSTS and parts.path.startswith("/services/"):
        return "slack"
    if host in _DISCORD_HOSTS and parts.path.startswith("/api/webhooks/"):
        return "discord"
    raise UsageError(
        "not a Slack or Discord incoming-webhook URL (expected https://hooks.slack.com/"
        "services/… or https://discord.com/api/webhooks/…)"
    )


def set_channel(db, email: str, webhook_url: str, *, allow_loopback: bool = False) -> dict:
    """Send this subscriber's digests to a webhook; UsageError for anything but a Slack or
    Discord incoming-webhook URL (`allow_loopback`: a local test server too)."""
    subscriber = require_subscriber(db, email)
    url = webhook_url.strip()
    service = webhook_service(url, allow_http=allow_loopback)
    channel_store.set_chat_channel(db, subscriber.id, service, url)
    return channel_of(db, email)


def remove_channel(db, email: str) -> bool:
    """Back to email; False when there was no channel."""
    return channel_store.remove_chat_channel(db, require_subscriber(db, email).id)


def channel_of(db, email: str) -> dict:
    """{email, service, webhook} with the webhook's secret part hidden (for printing)."""
    subscriber = require_subscriber(db, email)
    found = channel_store.chat_channels_for(db, [subscriber.id]).get(subscriber.id)
    if found is None:
        return {"email": subscriber.email, "service": None, "webhook": None}
    service, url = found
    return {"email": subscriber.email, "service": service, "webhook": hide_secret(url)}


def hide_secret(url: str) -> str:
    """The webhook URL without its last path segment (the token that lets anyone post)."""
    head, _, last = url.rstrip("/").rpartition("/")
    return f"{head}/{last[:4]}…" if head and len(last) > 4 else url
