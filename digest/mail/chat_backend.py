"""Chat delivery through the same ledger as email: a Slack or Discord incoming webhook.

A chat digest is queued like an email: a stored message whose `X-Digest-Chat` header names the
service, `X-Digest-Webhook` the channel's URL and whose body is the JSON of the webhook posts
(`digest.mail.chat`). `ChatRouter` sits in front of the mail backend and hands such messages
to `WebhookBackend`; everything else goes to the mail backend as before. With the outbox
backend nothing is posted: chat messages are written to the outbox like emails.

Answers map to the ledger's error classes (digest/mail/base.py), always for this message
alone, so one broken channel never stops the email run: 2xx sent; 429 waited out honouring
Retry-After (Discord's JSON `retry_after` first); 5xx and refused connections retried; a
timeout after the request went out `unknown`; 400/401/403/404/413 failed (a bad payload, a
revoked or deleted webhook). A split issue remembers which parts were posted: a retry goes on
with the next part, never posts one twice, and one that gives up half-way is `unknown`.
"""

from __future__ import annotations

import json
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import httpx

from digest.config import Config
from digest.mail.base import (
    AmbiguousError,
    MailBackend,
    PermanentError,
    SendResult,
    TransientError,
)
from digest.mail.chat import chat_payloads
from digest.mail.pacing import RateLimitedError
from digest.models import Subscriber

CHAT_HEADER = "X-Digest-Chat"
WEBHOOK_HEADER = "X-Digest-Webhook"
DELIVERY_HEADER = "X-Digest-Delivery"
CHAT_TIMEOUT_SECONDS = 20.0
MAX_ERROR_CHARS = 200


def chat_message(
    config: Config,
    subscriber: Subscriber,
    context: dict[str, Any],
    service: str,
    webhook_url: str,
    delivery_id: str,
) -> EmailMessage:
    """The ledger's stored form of a chat digest: headers to route and list it, JSON body."""
    payloads = chat_payloads(service, context)
    message = EmailMessage()
    message["From"] = config.mail.from_address
    message["To"] = subscriber.email
    message["Subject"] = str(context["subject"])
    message["Date"] = formatdate(usegmt=True)
    message[DELIVERY_HEADER] = delivery_id
    message[CHAT_HEADER] = service
    message[WEBHOOK_HEADER] = webhook_url
    body = json.dumps(payloads, ensure_ascii=False).encode("utf-8")
    message.set_content(body, maintype="application", subtype="json", filename="chat.json")
    return message


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait: Discord's JSON `retry_after` (float), else the Retry-After header."""
    try:
        value = response.json().get("retry_after")
        if isinstance(value, int | float) and value >= 0:
            return float(value)
    except (ValueError, AttributeError):
        pass
    header = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None


class WebhookBackend:
    """Posts chat digests to incoming webhooks (one httpx client, a timeout on every post)."""

    name = "chat"

    def __init__(self, timeout: float = CHAT_TIMEOUT_SECONDS, transport=None):
        self.timeout = timeout
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)
        self._posted: dict[str, int] = {}  # delivery id -> parts accepted so far
        self._parts: dict[str, int] = {}

    def send(self, message: EmailMessage, delivery_id: str) -> SendResult:
        service = str(message[CHAT_HEADER] or "")
        url = str(message[WEBHOOK_HEADER] or "")
        try:
            payloads = json.loads(message.get_content())
        except (ValueError, TypeError, KeyError) as exc:
            raise PermanentError(f"the stored chat message is not JSON: {exc}") from exc
        if not url or service not in ("slack", "discord") or not isinstance(payloads, list):
            raise PermanentError("the stored chat message names no service or webhook URL")
        self._parts[delivery_id] = len(payloads)
        ids = []
        for part in range(self._posted.get(delivery_id, 0), len(payloads)):
            ids.append(self._post(service, url, payloads[part], part, len(payloads)))
            self._posted[delivery_id] = part + 1
        shown = ",".join(i for i in ids if i)
        return SendResult(f"{service}:{len(payloads)} message(s)" + (f":{shown}" if shown else ""))

    def partly_sent(self, delivery_id: str) -> bool:
        """Some but not all parts of this issue were posted: it must never be sent again."""
        done = self._posted.get(delivery_id, 0)
        return 0 < done < self._parts.get(delivery_id, 0)

    def _post(self, service: str, url: str, payload: dict, part: int, parts: int) -> str:
        target = url + ("&" if "?" in url else "?") + "wait=true" if service == "discord" else url
        where = f"{service} webhook" + (f" (part {part + 1} of {parts})" if parts > 1 else "")
        try:
            response = self._client.post(target, json=payload)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise TransientError(f"{where}: cannot connect ({exc})", per_message=True) from exc
        except httpx.TimeoutException as exc:  # it may have been posted
            raise AmbiguousError(f"{where}: no answer within {self.timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"{where}: {type(exc).__name__}: {exc}", per_message=True) from exc
        status = response.status_code
        if 200 <= status < 300:
            try:
                return str(response.json().get("id", "")) if service == "discord" else ""
            except (ValueError, AttributeError):
                return ""
        said = " ".join(response.text.split())[:MAX_ERROR_CHARS]
        if status == 429:
            wait = _retry_after(response)
            raise RateLimitedError(
                f"{where}: rate limited (429{', Retry-After ' + format(wait, 'g') + 's' if wait is not None else ''})",
                retry_after=wait,
                per_message=True,
            )
        if status >= 500:
            raise TransientError(f"{where}: HTTP {status} {said}".rstrip(), per_message=True)
        if status in (401, 403, 404, 410):
            raise PermanentError(
                f"{where}: HTTP {status} {said}: the webhook was revoked or deleted; "
                "give the subscriber a new one (`digest subscribers channel`)"
            )
        raise PermanentError(f"{where}: HTTP {status} {said}".rstrip())

    def close(self) -> None:
        self._client.close()


class ChatRouter:
    """The mail backend, with chat messages handed to a `WebhookBackend`. Anything else the
    sender asks of a backend (`start_issue`, `outbox_dir`) is the mail backend's."""

    def __init__(self, mail: MailBackend, chat: WebhookBackend):
        self.mail = mail
        self.chat = chat
        self.name = mail.name

    def send(self, message: EmailMessage, delivery_id: str) -> SendResult:
        if message[CHAT_HEADER] is not None:
            return self.chat.send(message, delivery_id)
        return self.mail.send(message, delivery_id)

    def partly_sent(self, delivery_id: str) -> bool:
        return self.chat.partly_sent(delivery_id)

    def start_issue(self, issue_date: date) -> None:
        start = getattr(self.mail, "start_issue", None)
        if start is not None:
            start(issue_date)

    def close(self) -> None:
        try:
            self.mail.close()
        finally:
            self.chat.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.mail, name)


def with_chat(backend: MailBackend) -> MailBackend:
    """`backend` able to post chat digests; the outbox keeps them as files instead."""
    if isinstance(backend, ChatRouter) or backend.name == "outbox":
        return backend
    return ChatRouter(backend, WebhookBackend())
