"""SendGrid v3 Mail Send through the official `sendgrid` package.

The request JSON is built from the finished EmailMessage (`mail_send_payload`, pure), checked
against SendGrid's documented limits before it leaves, and posted with a timeout. Answers map to
the ledger's error classes: 202 sent (X-Message-Id kept); 400/413 PermanentError with SendGrid's
errors[] text; 401/403 AuthError; 429 TransientError honouring X-RateLimit-Reset (or
Retry-After); 5xx and connection failures TransientError; a timeout after the request went out
AmbiguousError. Before an issue, `start_issue` checks the key with GET /v3/scopes.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
from datetime import date
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from digest.config import MailConfig, secret
from digest.mail.base import (
    AmbiguousError,
    AuthError,
    PermanentError,
    SendResult,
    TransientError,
)
from digest.mail.pacing import RateLimitedError

MAX_PERSONALIZATIONS = 1000
MAX_REQUEST_BYTES = 30 * 1024 * 1024  # "The total size of your email ... must be less than 30MB"
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_CATEGORIES = 10
# Headers SendGrid sets itself (or refuses in `headers`): they travel in their own JSON fields.
_RESERVED_HEADERS = {
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "reply-to",
    "content-type",
    "content-transfer-encoding",
    "mime-version",
    "date",
    "received",
    "dkim-signature",
    "x-sg-id",
    "x-sg-eid",
}


def _address(value: str) -> dict[str, str]:
    name, addr = parseaddr(value)
    return {"email": addr, "name": name} if name else {"email": addr}


def _parts(message: EmailMessage) -> list[dict[str, str]]:
    """text/plain first, then text/html (SendGrid requires this order)."""
    found: dict[str, str] = {}
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype in ("text/plain", "text/html") and ctype not in found and not part.is_attachment():
            found[ctype] = part.get_content()  # type: ignore[union-attr]
    content = [
        {"type": ctype, "value": found[ctype]}
        for ctype in ("text/plain", "text/html")
        if found.get(ctype)
    ]
    if not content:
        raise PermanentError("message has neither a text/plain nor a text/html part")
    return content


def mail_send_payload(message: EmailMessage, delivery_id: str, mail: MailConfig) -> dict:
    """The v3 /mail/send body for one message. Only the opaque delivery id goes in custom_args."""
    recipients = [  # (name, address) as parsed: never re-parsed from "name <address>", which
        # sent the digest to "boss@victim.org" for a subscriber who typed that as their name
        {"email": addr, "name": name} if name else {"email": addr}
        for name, addr in getaddresses([str(v) for v in message.get_all("To", [])])
        if addr
    ]
    if not recipients:
        raise PermanentError("message has no recipient")
    headers = {}
    for key, value in message.items():
        if key.lower() not in _RESERVED_HEADERS:
            headers[key] = " ".join(str(value).split())  # unfolded, one line
    headers.setdefault("X-Digest-Delivery", delivery_id)
    payload: dict = {
        "personalizations": [{"to": recipients}],
        "from": _address(str(message["From"] or mail.from_address)),
        "subject": str(message["Subject"] or ""),
        "content": _parts(message),
        "headers": headers,
        "custom_args": {"delivery_id": delivery_id},
        "tracking_settings": {
            "click_tracking": {"enable": mail.tracking, "enable_text": mail.tracking},
            "open_tracking": {"enable": mail.tracking},
            "subscription_tracking": {"enable": False},  # we carry our own unsubscribe links
        },
        "mail_settings": {"sandbox_mode": {"enable": mail.sendgrid_sandbox}},
    }
    if message["Reply-To"]:
        payload["reply_to"] = _address(str(message["Reply-To"]))
    check_limits(payload)
    return payload


def check_limits(payload: dict) -> None:
    """SendGrid's documented request limits, enforced before sending (PermanentError)."""
    personalizations = payload.get("personalizations", [])
    if not 1 <= len(personalizations) <= MAX_PERSONALIZATIONS:
        raise PermanentError(f"{len(personalizations)} personalizations (1..1000 allowed)")
    recipients = sum(
        len(p.get("to", [])) + len(p.get("cc", [])) + len(p.get("bcc", []))
        for p in personalizations
    )
    if recipients > MAX_PERSONALIZATIONS:
        raise PermanentError(f"{recipients} recipients in one request (at most 1000)")
    custom_args = json.dumps(payload.get("custom_args", {})).encode()
    if len(custom_args) >= MAX_CUSTOM_ARGS_BYTES:
        raise PermanentError(f"custom_args is {len(custom_args)} bytes (must be < 10000)")
    if len(payload.get("categories", [])) > MAX_CATEGORIES:
        raise PermanentError(f"{len(payload['categories'])} categories (at most 10)")
    size = len(json.dumps(payload).encode())
    if size >= MAX_REQUEST_BYTES:
        raise PermanentError(f"request is {size} bytes (must be < 30 MB)")


def _errors_text(body: bytes | str | None) -> str:
    """SendGrid explains a refusal in {"errors": [{"message", "field"}]}."""
    try:
        parsed = json.loads(body or b"{}")
        messages = [
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in parsed.get("errors", [])
        ]
        if messages:
            return "; ".join(messages)
    except (ValueError, AttributeError, TypeError):
        pass
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    return " ".join(text.split())[:300]  # a proxy's HTML error page: one line in logs and CLI


def _rate_limit_wait(headers, now: float) -> float | None:
    """Seconds to wait after a 429 (None if the answer does not say): SendGrid's
    X-RateLimit-Reset (a Unix time), else a standard Retry-After (seconds or an HTTP date,
    as proxies in front of the API send it)."""
    if headers is None:
        return None
    reset = headers.get("X-RateLimit-Reset")
    if reset is not None:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            pass
    retry_after = headers.get("Retry-After")
    if retry_after is None:
        return None
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(retry_after).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


class SendGridBackend:
    name = "sendgrid"

    def __init__(self, mail: MailConfig, api_key: str | None = None):
        from sendgrid import SendGridAPIClient  # imported here: only this backend needs it

        key = api_key or secret("SENDGRID_API_KEY")
        if not key:
            raise AuthError("SENDGRID_API_KEY is not set in the environment")
        self.mail = mail
        self.timeout = mail.sendgrid_timeout_seconds
        self.client = SendGridAPIClient(api_key=key, host=mail.sendgrid_base_url.rstrip("/"))
        # python_http_client defaults to timeout=None (wait forever): set it on the client
        # (inherited by every sub-client) and pass it on each call as well.
        self.client.client.timeout = self.timeout

    def start_issue(self, issue_date: date) -> None:
        """Check the key before any delivery is claimed (GET /v3/scopes sends nothing): a wrong
        or revoked key, a key without Mail Send, or SendGrid being down stops the run with
        every row still queued, instead of failing the first subscriber's digest."""
        from python_http_client import exceptions as http_errors

        try:
            response = self.client.client.scopes.get(timeout=self.timeout)
            status, body = response.status_code, response.body
        except http_errors.HTTPError as exc:
            status, body = exc.status_code, exc.body
        except (urllib.error.URLError, TimeoutError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise TransientError(
                f"cannot reach SendGrid at {self.mail.sendgrid_base_url}: {reason}"
            ) from exc
        if status == 401:
            raise self._classify(status, body, None)
        if status >= 500 and status != 501:  # 501: something that cannot answer GET here
            raise TransientError(f"SendGrid server error ({status}): {_errors_text(body)}")
        if status == 200:
            try:
                scopes = json.loads(body or b"{}").get("scopes")
            except (ValueError, AttributeError):
                scopes = None
            if isinstance(scopes, list) and scopes and "mail.send" not in scopes:
                raise AuthError(
                    "the SENDGRID_API_KEY has no Mail Send permission (its scopes lack "
                    "mail.send); give the key Mail Send access"
                )
        # Anything else (403, 404, 429, 501 on this endpoint) judges nothing: sending goes on.

    def send(self, message: EmailMessage, delivery_id: str) -> SendResult:
        from python_http_client import exceptions as http_errors

        payload = mail_send_payload(message, delivery_id, self.mail)
        try:
            response = self.client.client.mail.send.post(request_body=payload, timeout=self.timeout)
        except http_errors.HTTPError as exc:
            raise self._classify(exc.status_code, exc.body, exc.headers) from exc
        except urllib.error.URLError as exc:
            # Raised while connecting or writing the request: SendGrid has not accepted it.
            raise TransientError(
                f"cannot reach SendGrid at {self.mail.sendgrid_base_url}: {exc.reason}"
            ) from exc
        except (TimeoutError, http.client.HTTPException, ConnectionError, OSError) as exc:
            # The request went out; the answer did not come back. It may have been accepted.
            raise AmbiguousError(
                f"no answer from SendGrid within {self.timeout:g}s after "
                f"sending ({type(exc).__name__}: {exc})"
            ) from exc
        status = response.status_code
        if status not in (200, 202):
            raise self._classify(status, response.body, response.headers)
        message_id = response.headers.get("X-Message-Id") if response.headers else None
        return SendResult(provider_message_id=message_id or "")

    def _classify(self, status: int, body, headers) -> Exception:
        detail = _errors_text(body)
        if status in (400, 413):
            return PermanentError(f"SendGrid refused the message ({status}): {detail}")
        if status in (401, 403):
            return AuthError(
                f"SendGrid refused the API key ({status}): {detail}; "
                "check SENDGRID_API_KEY and its Mail Send permission"
            )
        if status == 404:
            return AuthError(
                f"SendGrid answered 404 at {self.mail.sendgrid_base_url}: "
                "check [mail].sendgrid_base_url"
            )
        if status == 429:
            return RateLimitedError(
                f"SendGrid rate limit (429): {detail}",
                retry_after=_rate_limit_wait(headers, time.time()),
            )
        if status >= 500:
            return TransientError(f"SendGrid server error ({status}): {detail}")
        return PermanentError(f"SendGrid answered {status}: {detail}")

    def close(self) -> None:
        """Each call opens its own connection; nothing to release."""
