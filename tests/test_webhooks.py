"""The signed SendGrid Event Webhook, over real uvicorn, signed with a locally generated P-256 key."""

from __future__ import annotations

import base64
import json
import time
from datetime import date

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from digest.store import open_db
from digest.subscribers.manage import add_subscriber
from digest.web.server import ServerThread
from digest.web.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, load_public_key, verify_request

PATH = "/webhooks/sendgrid"


@pytest.fixture(scope="module")
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_key_text(key: ec.EllipticCurvePrivateKey) -> str:
    """The key as SendGrid's settings page shows it: base64 DER SubjectPublicKeyInfo."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def signed_headers(key, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        SIGNATURE_HEADER: base64.b64encode(signature).decode(),
        TIMESTAMP_HEADER: stamp,
        "content-type": "application/json",
    }


@pytest.fixture
def hook(make_config, signing_key, monkeypatch):
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", public_key_text(signing_key))
    config, _ = make_config()
    db = open_db(config.db_path)
    people = {
        name: add_subscriber(db, f"{name}@example.org", status="active")
        for name in ("bounce", "blocked", "spam", "unsub", "reader", "dropped")
    }
    with ServerThread(config) as base_url:
        yield base_url, db, people
    db.conn.close()


def status(db, subscriber) -> str:
    return db.execute("SELECT status FROM subscribers WHERE id = ?", [subscriber.id]).fetchone()[0]


def unknown_delivery(db, subscriber) -> str:
    """A ledger row left `unknown` (the provider may have it)."""
    from digest.store import deliveries

    delivery_id = "d_" + "ab" * 16
    deliveries.queue_deliveries(
        db,
        [
            deliveries.NewDelivery(
                delivery_id, subscriber.id, date(2025, 8, 20), "subject", b"message"
            )
        ],
    )
    assert deliveries.claim(db, delivery_id, "sendgrid") == "claimed"
    assert deliveries.mark_unknown(db, delivery_id, "timeout after sending")
    return delivery_id


def events_for(people, delivery_id: str) -> list[dict]:
    now = int(time.time())
    return [
        {
            "email": "bounce@example.org",
            "event": "bounce",
            "type": "bounce",
            "sg_event_id": "ev-1",
            "sg_message_id": "m1",
            "timestamp": now,
        },
        {
            "email": "blocked@example.org",
            "event": "bounce",
            "type": "blocked",
            "sg_event_id": "ev-2",
            "sg_message_id": "m2",
            "timestamp": now,
        },
        {
            "email": "spam@example.org",
            "event": "spamreport",
            "sg_event_id": "ev-3",
            "sg_message_id": "m3",
            "timestamp": now,
        },
        {
            "email": "unsub@example.org",
            "event": "group_unsubscribe",
            "sg_event_id": "ev-4",
            "sg_message_id": "m4",
            "timestamp": now,
        },
        {
            "email": "reader@example.org",
            "event": "delivered",
            "delivery_id": delivery_id,
            "sg_event_id": "ev-5",
            "sg_message_id": "m5.filter",
            "timestamp": now,
        },
        {
            "email": "dropped@example.org",
            "event": "dropped",
            "reason": "Unsubscribed Address",
            "sg_event_id": "ev-6",
            "sg_message_id": "m6",
            "timestamp": now,
        },
    ]


def test_valid_batch_applies_once_even_when_replayed(hook, signing_key):
    base_url, db, people = hook
    delivery_id = unknown_delivery(db, people["reader"])
    body = json.dumps(events_for(people, delivery_id)).encode()
    answers = [
        httpx.post(base_url + PATH, content=body, headers=signed_headers(signing_key, body))
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].json() == {"received": 6, "applied": 6, "duplicates": 0}
    assert answers[1].json() == answers[2].json() == {"received": 6, "applied": 0, "duplicates": 6}
    assert status(db, people["bounce"]) == "bounced"
    assert status(db, people["blocked"]) == "active"  # a soft bounce keeps the address
    assert status(db, people["spam"]) == "complained"
    assert status(db, people["unsub"]) == "unsubscribed"
    assert status(db, people["dropped"]) == "unsubscribed"  # suppressed per the drop reason
    state, provider_id = db.execute(
        "SELECT state, provider_message_id FROM deliveries WHERE id = ?", [delivery_id]
    ).fetchone()
    assert (state, provider_id) == ("sent", "m5.filter")
    assert db.execute("SELECT COUNT(*) FROM webhook_events").fetchone()[0] == 6
    consent_rows = db.execute("SELECT COUNT(*) FROM consents WHERE source = 'webhook'").fetchone()
    assert consent_rows[0] == 4  # bounce, spamreport, unsubscribe, dropped: once each


def test_one_byte_tamper_is_rejected(hook, signing_key):
    base_url, db, people = hook
    body = json.dumps(events_for(people, "d_none")).encode()
    headers = signed_headers(signing_key, body)
    tampered = body.replace(b"bounce@example.org", b"bounce@example.orh", 1)
    assert len(tampered) == len(body) and tampered != body
    answer = httpx.post(base_url + PATH, content=tampered, headers=headers)
    assert answer.status_code == 403
    assert status(db, people["bounce"]) == "active"
    assert db.execute("SELECT COUNT(*) FROM webhook_events").fetchone()[0] == 0


def test_stale_or_missing_signature_is_rejected(hook, signing_key):
    base_url, db, people = hook
    body = json.dumps(events_for(people, "d_none")).encode()
    stale = signed_headers(signing_key, body, timestamp=int(time.time()) - 11 * 60)
    assert httpx.post(base_url + PATH, content=body, headers=stale).status_code == 403
    assert (
        httpx.post(
            base_url + PATH, content=body, headers={"content-type": "application/json"}
        ).status_code
        == 403
    )
    other_key = ec.generate_private_key(ec.SECP256R1())
    forged = signed_headers(other_key, body)
    assert httpx.post(base_url + PATH, content=body, headers=forged).status_code == 403
    assert status(db, people["spam"]) == "active"


def test_verify_request_accepts_pem_and_checks_raw_bytes(signing_key):
    pem = (
        signing_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    key = load_public_key(pem)
    body = b'[{"event":"processed"}]\r\n'  # byte-exact: trailing CRLF is signed too
    headers = signed_headers(signing_key, body, timestamp=1_700_000_000)
    now = 1_700_000_000 + 30
    assert (
        verify_request(key, headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER], body, now=now)
        is None
    )
    assert (
        verify_request(
            key, headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER], body.rstrip(), now=now
        )
        == "bad signature"
    )
    assert (
        verify_request(key, "not base64!", headers[TIMESTAMP_HEADER], body, now=now)
        == "bad signature"
    )
    assert (
        verify_request(
            key, headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER], body, now=now + 601
        )
        == "stale timestamp"
    )


def test_odd_values_in_one_event_never_cost_the_rest_of_the_batch(hook, signing_key):
    """A timestamp out of range, NaN/Infinity, non-string fields: the event is recorded as
    best it can be, the batch answers 200 and the valid events in it are applied (a 500 would
    make SendGrid retry the same poison batch, and the events after it would never land)."""
    base_url, db, people = hook
    now = int(time.time())
    odd = [
        {"event": "bounce", "email": "nobody@example.org", "timestamp": 1e308},
        {"event": "bounce", "email": "nobody@example.org", "timestamp": -1e20},
        {"event": "bounce", "email": ["x"], "timestamp": True, "type": ["bounce"]},
        {"event": "dropped", "sg_message_id": {"a": 1}, "reason": {"x": 1}},
        {"event": "delivered", "delivery_id": 5, "sg_event_id": 7},
    ]
    good = {"event": "spamreport", "email": "spam@example.org", "sg_event_id": "ok-1"}
    body = (
        json.dumps([*odd, {**good, "timestamp": now}])[:-1] + ', {"event": "bounce",'
        ' "timestamp": NaN}, {"event": "bounce", "timestamp": Infinity}]'
    ).encode()
    answer = httpx.post(base_url + PATH, content=body, headers=signed_headers(signing_key, body))
    assert answer.status_code == 200, answer.text
    assert answer.json()["received"] == 8
    assert status(db, people["spam"]) == "complained"


def test_unparseable_or_oversized_bodies_get_a_4xx(hook, signing_key):
    base_url, db, people = hook
    nested = b"[" * 100_000 + b"]" * 100_000
    for body, expected in ((nested, 400), (b"\xff\xfe", 400), (b'{"event": "x"}', 400)):
        answer = httpx.post(
            base_url + PATH, content=body, headers=signed_headers(signing_key, body)
        )
        assert answer.status_code == expected, (body[:20], answer.text)
    huge = b"[" + b" " * (6 * 1024 * 1024) + b"]"
    answer = httpx.post(base_url + PATH, content=huge, headers=signed_headers(signing_key, huge))
    assert answer.status_code == 413


def test_an_event_for_an_idn_address_finds_its_subscriber(hook, signing_key):
    """Mail to x@bücher.example goes out as x@xn--bcher-kva.example, so that is the address
    SendGrid reports back; without a delivery id the subscriber is still found."""
    base_url, db, people = hook
    idn = add_subscriber(db, "x@bücher.example", status="active")
    event = {"event": "spamreport", "email": "x@xn--bcher-kva.example", "sg_event_id": "idn-1"}
    body = json.dumps([{**event, "timestamp": int(time.time())}]).encode()
    answer = httpx.post(base_url + PATH, content=body, headers=signed_headers(signing_key, body))
    assert answer.status_code == 200
    assert status(db, idn) == "complained"


def test_absurd_timestamp_headers_are_refused_not_crashed(hook, signing_key):
    base_url, db, people = hook
    body = b"[]"
    for stamp in ("9" * 5000, "١٧٠٠٠٠٠٠٠٠", "-5", ""):
        headers = {**signed_headers(signing_key, body), TIMESTAMP_HEADER: stamp.encode()}
        answer = httpx.post(base_url + PATH, content=body, headers=headers)
        assert answer.status_code == 403, (stamp[:10], answer.text[:80])
    key = load_public_key(public_key_text(signing_key))
    arabic = "١٧٠٠٠٠٠٠٠٠"  # int() reads it as 1700000000
    signature = base64.b64encode(
        signing_key.sign(arabic.encode() + body, ec.ECDSA(hashes.SHA256()))
    ).decode()
    assert verify_request(key, signature, arabic, body, now=1_700_000_000) == "bad timestamp"


def test_dropped_suppresses_only_for_reasons_about_the_address(hook, signing_key):
    """SendGrid also drops for reasons about our message or account ('Spam Content', 'Invalid
    SMTPAPI header', 'Recipient List over Package Quota'): those must not suppress a good
    subscriber for ever. 'Spam Content' is not a spam report."""
    base_url, db, people = hook
    reasons = {
        "Spam Content (if spam checker app enabled)": "active",
        "Invalid SMTPAPI header": "active",
        "Recipient List over Package Quota": "active",
        "Bounced Address": "bounced",
        "Invalid": "bounced",
        "Spam Reporting Address": "complained",
        "Unsubscribed Address": "unsubscribed",
    }
    subscribers = {
        reason: add_subscriber(db, f"drop{n}@example.org", status="active")
        for n, reason in enumerate(reasons)
    }
    now = int(time.time())
    events = [
        {
            "event": "dropped",
            "email": s.email,
            "reason": reason,
            "sg_event_id": f"dr-{s.id}",
            "timestamp": now,
        }
        for reason, s in subscribers.items()
    ]
    body = json.dumps(events).encode()
    answer = httpx.post(base_url + PATH, content=body, headers=signed_headers(signing_key, body))
    assert answer.status_code == 200
    assert {reason: status(db, s) for reason, s in subscribers.items()} == reasons


@pytest.mark.parametrize("bad_key", ["garbage", "Z2FyYmFnZQ==", "-----BEGIN PUBLIC KEY-----\nx"])
def test_a_bad_webhook_key_stops_serve_with_one_clear_line(make_config, bad_key):
    """A mistyped SENDGRID_WEBHOOK_PUBLIC_KEY is a configuration error (exit 2, one line
    naming the variable), not a traceback."""
    import os
    import subprocess
    import sys

    _, config_path = make_config()
    env = {**os.environ, "SENDGRID_WEBHOOK_PUBLIC_KEY": bad_key}
    done = subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(config_path), "serve", "--port", "9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr[-500:]
    assert "SENDGRID_WEBHOOK_PUBLIC_KEY" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 2
