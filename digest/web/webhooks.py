"""SendGrid's signed Event Webhook: verify the signature, then apply each event exactly once.

Signature: ECDSA P-256 over SHA-256 of (timestamp header + raw body bytes), base64 DER in
X-Twilio-Email-Event-Webhook-Signature; the public key (base64 DER SubjectPublicKeyInfo, as
SendGrid shows it) comes from SENDGRID_WEBHOOK_PUBLIC_KEY. Events are deduplicated by
sg_event_id and by (sg_message_id, event, timestamp).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from digest.store import service as service_store
from digest.store.service import eager_transaction

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_AGE_SECONDS = 600

# event -> subscriber status it leads to ("dropped" goes by its reason: _dropped_target)
STATUS_FOR_EVENT = {
    "spamreport": "complained",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
}


def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """Accept SendGrid's base64 DER key, or a PEM block; ConfigError (exit 2) otherwise."""
    from digest.config import ConfigError

    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_public_key(text.encode())
        else:
            key = load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except Exception as exc:  # binascii, ASN.1 and unsupported-algorithm errors alike
        raise ConfigError(
            "SENDGRID_WEBHOOK_PUBLIC_KEY is not a public key (paste the verification key "
            f"from SendGrid's Signed Event Webhook settings): {_first_line(exc)}"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError("SENDGRID_WEBHOOK_PUBLIC_KEY is not an elliptic-curve (P-256) key")
    return key


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def verify_request(
    key: ec.EllipticCurvePublicKey,
    signature: str | None,
    timestamp: str | None,
    raw_body: bytes,
    now: float | None = None,
) -> str | None:
    """None when the request is genuine and fresh, else the reason it is refused."""
    if not signature or not timestamp:
        return "missing signature headers"
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return "bad timestamp"  # int() of 5,000 digits raises; Unicode digits are not Unix time
    age = (now if now is not None else time.time()) - int(timestamp)
    if abs(age) > MAX_AGE_SECONDS:
        return "stale timestamp"
    try:
        decoded = base64.b64decode(signature, validate=True)
        key.verify(decoded, timestamp.encode() + raw_body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        return "bad signature"
    return None


@dataclass
class WebhookReport:
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


def _text(event: dict, name: str) -> str | None:
    """A field that must be a string; anything else (a list, a number, null) counts as absent."""
    value = event.get(name)
    return value if isinstance(value, str) and value else None


def _event_time(stamp: object) -> str | None:
    """ISO time of a Unix timestamp; None for anything that is not a finite, plausible one."""
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        return None
    if not math.isfinite(stamp) or not 0 <= stamp < 253_402_300_800:  # before year 10000
        return None
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")


def _dedupe_key(event: dict) -> str:
    """(sg_message_id, event, timestamp), plus the recipient (hashed) when there is no message id."""
    message_id = _text(event, "sg_message_id") or ""
    who = ""
    if not message_id:
        who = hashlib.sha256(str(event.get("email", "")).lower().encode()).hexdigest()[:16]
    return f"{message_id}|{event['event']}|{event.get('timestamp', '')}|{who}"


def _subscriber_id(db, event: dict, delivery) -> int | None:
    if delivery is not None:
        return int(delivery.subscriber_id)
    email = _text(event, "email")
    if email:
        from digest.store import subscribers as subscriber_store

        found = subscriber_store.get_subscriber_by_email(db, email)
        unicode_form = _unicode_domain(email)
        if found is None and unicode_form != email:  # we sent to the IDNA form
            found = subscriber_store.get_subscriber_by_email(db, unicode_form)
        return found.id if found else None
    return None


def _unicode_domain(email: str) -> str:
    """x@xn--bcher-kva.de -> x@bücher.de (the form sign-up stores); else unchanged."""
    local, _, domain = email.rpartition("@")
    if "xn--" not in domain.lower():
        return email
    try:
        return f"{local}@{domain.lower().encode('ascii').decode('idna')}"
    except UnicodeError:
        return email


def apply_events(db, events: list, consent_text_version: str = "v1") -> WebhookReport:
    """Apply a batch; each event in its own transaction, a replay changes nothing."""
    report = WebhookReport(received=len(events))
    for event in events:
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            report.outcomes["malformed"] = report.outcomes.get("malformed", 0) + 1
            continue
        with eager_transaction(db):
            outcome = _apply_one(db, event, consent_text_version)
        if outcome == "duplicate":
            report.duplicates += 1
        else:
            report.applied += 1
        report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
    return report


def _dropped_target(reason: str) -> str | None:
    """The status a drop leads to, by SendGrid's reason; None when the reason is about the
    message or the account ('Spam Content', 'Invalid SMTPAPI header', 'Recipient List over
    Package Quota'), which must not suppress the address."""
    reason = reason.strip().lower()
    if "unsubscribed address" in reason:
        return "unsubscribed"
    if "spam reporting address" in reason:
        return "complained"
    if "bounced address" in reason or reason in ("invalid", "invalid address"):
        return "bounced"
    return None


def _apply_one(db, event: dict, consent_text_version: str) -> str:
    from digest.store import deliveries as delivery_store
    from digest.store import subscribers as subscriber_store

    name = event["event"]
    delivery_id = _text(event, "delivery_id")
    delivery = delivery_store.get_delivery(db, delivery_id) if delivery_id else None
    subscriber_id = _subscriber_id(db, event, delivery)
    event_at = _event_time(event.get("timestamp"))
    sg_event_id = _text(event, "sg_event_id")
    key = _dedupe_key(event)
    if not service_store.record_webhook_event(
        db, sg_event_id, key, name, delivery_id, subscriber_id, event_at
    ):
        return "duplicate"
    outcome = "ignored"
    if name in ("delivered", "processed"):
        provider_id = _text(event, "sg_message_id") or "webhook"
        if delivery is not None and delivery_store.mark_accepted_by_provider(
            db, delivery.id, provider_id
        ):
            outcome = "reconciled"
        else:
            outcome = "noted"
    elif name == "bounce" and event.get("type", "bounce") != "bounce":
        outcome = "soft-bounce"  # type=blocked: counted, the address stays
    else:
        target = "bounced" if name == "bounce" else STATUS_FOR_EVENT.get(name)
        if name == "dropped":
            target = _dropped_target(str(event.get("reason", "")))
            if target is None:  # dropped for our message or account, not the address
                service_store.set_webhook_outcome(db, key, "dropped-noted")
                return "dropped-noted"
        if target and subscriber_id is not None:
            current = subscriber_store.get_subscriber(db, subscriber_id)
            if current is not None and (
                current.status in ("active", "paused", "pending") or target == "complained"
            ):
                subscriber_store.set_status(db, subscriber_id, target)
                service_store.add_consent(
                    db,
                    subscriber_id,
                    name,
                    "webhook",
                    consent_text_version,
                    detail=f"sendgrid {name}",
                )
                outcome = target
            else:
                outcome = "already-suppressed"
    service_store.set_webhook_outcome(db, key, outcome)
    return outcome


MAX_WEBHOOK_BYTES = 5 * 1024 * 1024
log = logging.getLogger("digest.web")  # the web app's log, where refusals always went


def sendgrid_endpoint(dbs, config, webhook_key):
    """The Starlette handler of `POST /webhooks/sendgrid` (403 without a configured key)."""
    import json

    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response

    from digest.web.plumbing import read_capped

    async def sendgrid_webhook(request: Request) -> Response:
        if webhook_key is None:
            return Response("webhook key not configured\n", status_code=403)
        raw = await read_capped(request, MAX_WEBHOOK_BYTES)
        if raw is None:
            return Response("too large\n", status_code=413)
        refusal = verify_request(
            webhook_key,
            request.headers.get(SIGNATURE_HEADER),
            request.headers.get(TIMESTAMP_HEADER),
            raw,
        )
        if refusal:
            log.warning("webhook refused: %s", refusal)
            return Response(refusal + "\n", status_code=403)
        try:
            events = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            return Response("not JSON\n", status_code=400)
        if not isinstance(events, list):
            return Response("expected a JSON array of events\n", status_code=400)
        report = await run_in_threadpool(
            lambda: apply_events(dbs.get(), events, config.service.consent_text_version)
        )
        answer = {"received": report.received, "applied": report.applied}
        answer["duplicates"] = report.duplicates
        return Response(json.dumps(answer), media_type="application/json")

    return sendgrid_webhook
