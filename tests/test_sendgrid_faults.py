"""SendGrid backend against a loopback stand-in that checks requests the way SendGrid does
(Bearer key, personalizations, content order, sizes) and answers from a script:
202 / 429 / 500 / timeout / 401 / 400 / 413 -> the exact ledger states and request counts.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from digest.errors import DigestError
from digest.mail.base import AmbiguousError, AuthError, PermanentError, TransientError
from digest.mail.delivery import deliver_queued
from digest.mail.pacing import RateLimitedError
from digest.mail.registry import get_backend
from digest.mail.report import SendReport
from digest.mail.sendgrid import check_limits, mail_send_payload
from digest.mail.wire import from_wire
from digest.store import open_db
from digest.store.deliveries import get_delivery, list_deliveries
from tests.delivery_support import ISSUE, digest_message, queue_messages, seed_subscribers

API_KEY = "SG.test-key.not-real"
RESERVED = {
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "reply-to",
    "content-type",
    "content-transfer-encoding",
    "x-sg-id",
    "x-sg-eid",
    "received",
    "dkim-signature",
}


def sendgrid_problems(request: Request, api_key: str) -> tuple[int, list[dict]]:
    """What SendGrid would refuse in this request: (status, errors[])."""
    if request.headers.get("Authorization") != f"Bearer {api_key}":
        return 401, [
            {
                "message": "The provided authorization grant is invalid, expired, or revoked",
                "field": None,
            }
        ]
    if len(request.get_data()) >= 30 * 1024 * 1024:
        return 413, [{"message": "request too large", "field": None}]
    if not request.headers.get("Content-Type", "").startswith("application/json"):
        return 415, [{"message": "Content-Type should be application/json.", "field": None}]
    try:
        body = json.loads(request.get_data())
    except ValueError:
        return 400, [{"message": "Bad Request", "field": None}]
    errors = []
    pers = body.get("personalizations")
    if not isinstance(pers, list) or not 1 <= len(pers) <= 1000:
        errors.append(
            {"message": "personalizations must have 1..1000 items", "field": "personalizations"}
        )
    else:
        for p in pers:
            if not p.get("to") or not all("@" in (t.get("email") or "") for t in p["to"]):
                errors.append(
                    {
                        "message": "Does not contain a valid address.",
                        "field": "personalizations.0.to",
                    }
                )
    if "@" not in (body.get("from") or {}).get("email", ""):
        errors.append(
            {"message": "The from email does not contain a valid address.", "field": "from.email"}
        )
    if not body.get("subject"):
        errors.append({"message": "The subject is required.", "field": "subject"})
    content = body.get("content") or []
    types = [c.get("type") for c in content]
    if not content or any(not c.get("value") for c in content):
        errors.append({"message": "content values must be non-empty", "field": "content"})
    if "text/plain" in types and types[0] != "text/plain":
        errors.append({"message": "The text/plain content type must be first.", "field": "content"})
    for key, value in (body.get("headers") or {}).items():
        if key.lower() in RESERVED or not isinstance(value, str):
            errors.append({"message": f"header {key} not allowed", "field": "headers"})
    custom = body.get("custom_args") or {}
    if len(json.dumps(custom)) >= 10_000 or not all(isinstance(v, str) for v in custom.values()):
        errors.append({"message": "custom_args too large or not strings", "field": "custom_args"})
    if len(body.get("categories") or []) > 10:
        errors.append({"message": "too many categories", "field": "categories"})
    return (400, errors) if errors else (202, [])


class SendGridStandIn:
    """Answers /v3/mail/send from a script of actions; 202 once the script runs out."""

    def __init__(self, server: HTTPServer, stall_seconds: float = 1.0) -> None:
        self.server = server
        self.stall_seconds = stall_seconds
        self.script: list[object] = []
        self.bodies: list[dict] = []
        self.scopes = ["mail.send", "user.profile.read"]
        self.scopes_status = 200  # e.g. 503 while SendGrid is down
        self.scope_checks = 0
        self.on_request = None  # called with the request number before answering
        self.lock = threading.Lock()
        server.expect_request("/v3/mail/send", method="POST").respond_with_handler(self.handle)
        server.expect_request("/v3/scopes", method="GET").respond_with_handler(self.scopes_answer)

    def scopes_answer(self, request: Request) -> Response:
        """GET /v3/scopes: the key's own scopes, 401 for a key SendGrid does not know."""
        with self.lock:
            self.scope_checks += 1
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            status, errors = sendgrid_problems(request, API_KEY)
            return Response(json.dumps({"errors": errors}), status, content_type="application/json")
        if self.scopes_status != 200:
            body = {"errors": [{"message": "service unavailable", "field": None}]}
            return Response(json.dumps(body), self.scopes_status, content_type="application/json")
        return Response(json.dumps({"scopes": self.scopes}), 200, content_type="application/json")

    @property
    def requests(self) -> int:
        return len(self.bodies)

    def handle(self, request: Request) -> Response:
        status, errors = sendgrid_problems(request, API_KEY)
        with self.lock:
            self.bodies.append(json.loads(request.get_data() or b"{}"))
            number = len(self.bodies)
            action = self.script.pop(0) if self.script else 202
        if self.on_request is not None:
            self.on_request(number)
        if status != 202:
            return Response(json.dumps({"errors": errors}), status, content_type="application/json")
        if action == "timeout":
            time.sleep(self.stall_seconds)  # longer than the client's timeout
            action = 202
        if action == 202:
            return Response("", 202, headers={"X-Message-Id": f"sg-msg-{number}"})
        if action in (429, "429-hour", "429-slow", "429-skewed", "429-retry-after"):
            headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0"}
            if action == "429-retry-after":  # a proxy's standard header instead of SendGrid's
                headers = {"Retry-After": "1"}
            else:
                wait = {"429-hour": 3600, "429-slow": 30, "429-skewed": -5}.get(str(action), 1)
                headers["X-RateLimit-Reset"] = str(int(time.time()) + wait)
            return Response(
                json.dumps({"errors": [{"message": "too many requests"}]}),
                429,
                content_type="application/json",
                headers=headers,
            )
        if action in (400, 413):
            message = (
                "The content value must be a string at least one character in length."
                if action == 400
                else "Payload too large"
            )
            return Response(
                json.dumps({"errors": [{"message": message, "field": "content.0"}]}),
                action,
                content_type="application/json",
            )
        if action in (401, 403):
            return Response(
                json.dumps({"errors": [{"message": "access forbidden"}]}),
                action,
                content_type="application/json",
            )
        return Response(
            json.dumps({"errors": [{"message": "internal error"}]}),
            int(action),
            content_type="application/json",
        )


@pytest.fixture(scope="module")
def loopback_server():
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stand_in(loopback_server):
    loopback_server.clear()
    yield SendGridStandIn(loopback_server)
    loopback_server.clear()


@pytest.fixture
def sg_config(make_config, stand_in, monkeypatch):
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)

    def build(**mail):
        config, path = make_config(
            {
                "mail": {
                    "backend": "sendgrid",
                    "from_address": "digest@lab.test",
                    "postal_address": "1 Main St, Springfield",
                    "sendgrid_base_url": stand_in.server.url_for("").rstrip("/"),
                    "sendgrid_timeout_seconds": 0.4,
                    "retry_base_seconds": 0.01,
                    "rate_per_second": 1000.0,
                    **mail,
                }
            }
        )
        return config

    return build


# ---------------------------------------------------------------- the request itself
def test_request_json_is_what_sendgrid_expects(sg_config, stand_in):
    config = sg_config(sendgrid_sandbox=True)
    message = digest_message(config, delivery_id="d_abc")
    result = get_backend(config).send(message, "d_abc")
    assert result.provider_message_id == "sg-msg-1"
    [body] = stand_in.bodies
    assert body["personalizations"] == [{"to": [{"email": "ann@lab.test", "name": "Ann Example"}]}]
    assert body["from"] == {"email": "digest@lab.test", "name": "arXiv digest"}
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["content"][0]["value"].strip() and "<html" in body["content"][1]["value"]
    assert body["custom_args"] == {"delivery_id": "d_abc"}  # opaque id only, no PII
    assert "categories" not in body
    assert body["tracking_settings"] == {
        "click_tracking": {"enable": False, "enable_text": False},
        "open_tracking": {"enable": False},
        "subscription_tracking": {"enable": False},
    }
    assert body["mail_settings"] == {"sandbox_mode": {"enable": True}}
    headers = body["headers"]
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"] == str(message["List-Unsubscribe"])
    assert headers["List-Id"] and headers["X-Digest-Delivery"] == "d_abc"
    assert not {k.lower() for k in headers} & RESERVED
    assert body["subject"] == str(message["Subject"])


def test_tracking_only_when_the_operator_opts_in(sg_config, stand_in):
    config = sg_config(tracking=True)
    payload = mail_send_payload(digest_message(config), "d_1", config.mail)
    assert payload["tracking_settings"]["open_tracking"] == {"enable": True}
    assert payload["tracking_settings"]["subscription_tracking"] == {"enable": False}


def test_client_side_limits_refuse_before_any_request(sg_config, stand_in):
    config = sg_config()
    good = mail_send_payload(digest_message(config), "d_1", config.mail)
    too_many = {
        **good,
        "personalizations": [{"to": [{"email": f"a{i}@x.test"}]} for i in range(1001)],
    }
    big_args = {**good, "custom_args": {"delivery_id": "x" * 10_000}}
    categories = {**good, "categories": [f"c{i}" for i in range(11)]}
    huge = {**good, "content": [{"type": "text/plain", "value": "x" * (30 * 1024 * 1024)}]}
    for payload, match in (
        (too_many, "personalizations"),
        (big_args, "custom_args"),
        (categories, "categories"),
        (huge, "30 MB"),
    ):
        with pytest.raises(PermanentError, match=match):
            check_limits(payload)
    message = digest_message(config)
    message.get_body(("plain",)).set_content("y" * (31 * 1024 * 1024))
    with pytest.raises(PermanentError, match="30 MB"):
        get_backend(config).send(message, "d_big")
    assert stand_in.requests == 0


# ---------------------------------------------------------------- one answer -> one error class
@pytest.mark.parametrize(
    ("action", "error", "match"),
    [
        (400, PermanentError, "content value must be a string"),
        (413, PermanentError, "Payload too large"),
        (401, AuthError, "401"),
        (403, AuthError, "403"),
        (429, RateLimitedError, "429"),
        (500, TransientError, "500"),
        (503, TransientError, "503"),
        ("timeout", AmbiguousError, "no answer"),
    ],
)
def test_answers_map_to_error_classes(sg_config, stand_in, action, error, match):
    stand_in.script = [action]
    config = sg_config()
    started = time.monotonic()
    with pytest.raises(error, match=match) as caught:
        get_backend(config).send(digest_message(config), "d_1")
    assert time.monotonic() - started < 2.0  # the 0.4 s timeout holds
    if action == 429:
        assert caught.value.retry_after is not None and 0 <= caught.value.retry_after <= 2
    assert stand_in.requests == 1


def test_wrong_key_is_an_auth_error(sg_config, stand_in, monkeypatch):
    config = sg_config()
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.wrong")
    with pytest.raises(AuthError, match="authorization grant is invalid"):
        get_backend(config).send(digest_message(config), "d_1")


def test_missing_key_is_an_auth_error(sg_config, monkeypatch):
    config = sg_config()
    monkeypatch.delenv("SENDGRID_API_KEY")
    with pytest.raises(AuthError, match="SENDGRID_API_KEY"):
        get_backend(config)


def test_connection_refused_is_transient(sg_config):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = sg_config(sendgrid_base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(TransientError, match="cannot reach SendGrid"):
        get_backend(config).send(digest_message(config), "d_1")


# ---------------------------------------------------------------- sequences -> ledger states
def _run(config, n_subscribers=3):
    db = open_db(config.db_path)
    subs = seed_subscribers(db, n_subscribers, save_plans=False)
    ids = queue_messages(db, config, subs)
    report = SendReport(issue_date=ISSUE, backend="sendgrid")
    return db, ids, report


def _states(db, ids):
    return [get_delivery(db, i).state for i in ids]


@pytest.mark.parametrize(
    ("script", "states", "requests", "counts"),
    [
        ([202, 202, 202], ["sent", "sent", "sent"], 3, {"sent": 3}),
        ([429, 202, 202, 202], ["sent", "sent", "sent"], 4, {"sent": 3, "rate_limited": 1}),
        ([500, 503, 202, 202, 202], ["sent", "sent", "sent"], 5, {"sent": 3, "retries": 2}),
        (["timeout", 202, 202], ["unknown", "sent", "sent"], 3, {"sent": 2, "unknown": 1}),
        ([400, 202, 202], ["failed", "sent", "sent"], 3, {"sent": 2, "failed": 1}),
        ([202, 413, 202], ["sent", "failed", "sent"], 3, {"sent": 2, "failed": 1}),
    ],
    ids=["all-202", "429-then-202", "5xx-retried", "timeout", "400", "413"],
)
def test_fault_sequences_give_exact_ledger_states(
    sg_config, stand_in, script, states, requests, counts
):
    config = sg_config(send_retries=2)
    db, ids, report = _run(config)
    stand_in.script = list(script)
    deliver_queued(db, config, get_backend(config), ISSUE, report)
    assert _states(db, ids) == states
    assert stand_in.requests == requests
    for key, value in counts.items():
        assert getattr(report, key) == value, key
    for key in {"sent", "failed", "unknown", "rate_limited", "retries"} - set(counts):
        assert getattr(report, key) == 0, key
    sent = [get_delivery(db, i) for i in ids if get_delivery(db, i).state == "sent"]
    assert all(d.provider_message_id.startswith("sg-msg-") for d in sent)
    failed = [get_delivery(db, i) for i in ids if get_delivery(db, i).state == "failed"]
    if 400 in script:
        assert "content value must be a string" in failed[0].error
    # a second pass sends nothing: every row is final or unknown
    deliver_queued(db, config, get_backend(config), ISSUE, SendReport(ISSUE, "sendgrid"))
    assert stand_in.requests == requests
    # what was delivered carries the delivery id of its own row
    delivered_ids = [b["custom_args"]["delivery_id"] for b in stand_in.bodies]
    assert set(delivered_ids) <= set(ids)


def test_auth_error_stops_the_run_and_leaves_the_rest_queued(sg_config, stand_in):
    config = sg_config()
    db, ids, report = _run(config)
    stand_in.script = [202, 401]
    with pytest.raises(DigestError, match="401.*stopped the run"):
        deliver_queued(db, config, get_backend(config), ISSUE, report)
    assert _states(db, ids) == ["sent", "failed", "queued"]
    assert stand_in.requests == 2
    assert "not sent" in get_delivery(db, ids[1]).error


def test_429_does_not_use_up_retries(sg_config, stand_in):
    config = sg_config(send_retries=0)
    db, ids, report = _run(config, n_subscribers=1)
    stand_in.script = [429, 429, 202]
    deliver_queued(db, config, get_backend(config), ISSUE, report)
    assert _states(db, ids) == ["sent"]
    assert report.rate_limited == 2 and report.failed == 0
    assert get_delivery(db, ids[0]).attempts == 3


def test_stored_message_is_sent_verbatim(sg_config, stand_in):
    config = sg_config()
    db, ids, report = _run(config, n_subscribers=1)
    from digest.store.deliveries import load_message

    stored = from_wire(load_message(db, ids[0]))
    deliver_queued(db, config, get_backend(config), ISSUE, report)
    [body] = stand_in.bodies
    assert body["subject"] == str(stored["Subject"])
    assert body["content"][0]["value"] == stored.get_body(("plain",)).get_content()
    assert [d.state for d in list_deliveries(db, issue_date=ISSUE)] == ["sent"]


def test_send_issue_without_api_key_fails_before_queueing(sg_config, stand_in, monkeypatch):
    from datetime import UTC, datetime

    from digest.mail.sending import send_issue

    config = sg_config()
    monkeypatch.delenv("SENDGRID_API_KEY")
    db = open_db(config.db_path)
    seed_subscribers(db, 2)
    with pytest.raises(AuthError, match="SENDGRID_API_KEY"):
        send_issue(db, config, ISSUE, now=datetime(2025, 8, 20, 12, tzinfo=UTC))
    assert list_deliveries(db) == [] and stand_in.requests == 0


def test_send_issue_through_sendgrid_end_to_end(sg_config, stand_in):
    from datetime import UTC, datetime

    from digest.mail.sending import send_issue

    config = sg_config()
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 3)
    stand_in.script = [202, "timeout", 429, 202]
    report = send_issue(db, config, ISSUE, now=datetime(2025, 8, 20, 12, tzinfo=UTC))
    assert (report.sent, report.unknown, report.rate_limited) == (2, 1, 1)
    assert report.ledger == {
        "queued": 0,
        "sending": 0,
        "sent": 2,
        "failed": 0,
        "unknown": 1,
        "skipped": 0,
    }
    assert stand_in.requests == 4
    assert sorted(b["personalizations"][0]["to"][0]["email"] for b in stand_in.bodies) == sorted(
        [subs[0].email, subs[1].email, subs[2].email, subs[2].email]
    )
    again = send_issue(db, config, ISSUE, now=datetime(2025, 8, 20, 12, tzinfo=UTC))
    assert again.sent == 0 and stand_in.requests == 4


# ---------------------------------------------------------------- an unavailable provider
@pytest.mark.parametrize(
    ("script", "match"),
    [
        ([500, 500, 500], "gave up after 3 attempts"),
        (["429-hour"], "rate_limit_max_wait_seconds = 900"),
    ],
    ids=["5xx-exhausted", "429-for-an-hour"],
)
def test_an_unavailable_provider_stops_the_run_and_the_rest_stay_queued(
    sg_config, stand_in, script, match
):
    """SendGrid down (5xx after every retry) or asking to wait an hour: the run stops after
    that row instead of failing one subscriber after another; the next pass sends the rest."""
    config = sg_config(send_retries=2)
    db, ids, report = _run(config, n_subscribers=4)
    stand_in.script = list(script)
    deliver_queued(db, config, get_backend(config), ISSUE, report)
    assert _states(db, ids) == ["failed", "queued", "queued", "queued"]
    assert report.stopped and "3 stay queued" in report.stopped
    assert match in get_delivery(db, ids[0]).error
    assert get_delivery(db, ids[0]).error.startswith("not sent")
    assert stand_in.requests == len(script)
    again = SendReport(ISSUE, "sendgrid")
    deliver_queued(db, config, get_backend(config), ISSUE, again)
    assert _states(db, ids) == ["failed", "sent", "sent", "sent"] and again.stopped is None
    assert stand_in.requests == len(script) + 3


def test_retry_after_is_honoured_on_429(sg_config, stand_in):
    config = sg_config()
    with pytest.raises(RateLimitedError) as caught:
        stand_in.script = ["429-retry-after"]
        get_backend(config).send(digest_message(config), "d_1")
    assert caught.value.retry_after == 1.0


def test_a_wrong_key_is_found_before_any_delivery_is_claimed(sg_config, stand_in, monkeypatch):
    """A wrong or revoked key used to cost the first subscriber their digest on every run
    (claimed, refused with 401, marked failed); the key is now checked first."""
    config = sg_config()
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.revoked")
    db, ids, report = _run(config, n_subscribers=2)
    with pytest.raises(DigestError, match="authorization grant is invalid.*nothing was sent"):
        deliver_queued(db, config, get_backend(config), ISSUE, report)
    assert _states(db, ids) == ["queued", "queued"] and stand_in.requests == 0
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    deliver_queued(db, config, get_backend(config), ISSUE, SendReport(ISSUE, "sendgrid"))
    assert _states(db, ids) == ["sent", "sent"] and stand_in.requests == 2


def test_a_key_without_mail_send_or_sendgrid_down_claims_nothing(sg_config, stand_in):
    config = sg_config()
    db, ids, report = _run(config, n_subscribers=2)
    stand_in.scopes = ["user.profile.read", "stats.read"]
    with pytest.raises(DigestError, match="no Mail Send permission"):
        deliver_queued(db, config, get_backend(config), ISSUE, report)
    stand_in.scopes, stand_in.scopes_status = ["mail.send"], 503
    with pytest.raises(DigestError, match="503.*nothing was sent, 2 stay queued"):
        deliver_queued(db, config, get_backend(config), ISSUE, report)
    assert _states(db, ids) == ["queued", "queued"] and stand_in.requests == 0
    assert stand_in.scope_checks == 2


def test_a_key_that_may_not_read_its_scopes_still_sends(sg_config, stand_in):
    """Only a definite answer stops the run: a 403 on /v3/scopes judges nothing."""
    config = sg_config()
    db, ids, report = _run(config, n_subscribers=1)
    stand_in.scopes_status = 403
    deliver_queued(db, config, get_backend(config), ISSUE, report)
    assert _states(db, ids) == ["sent"]


def test_ctrl_c_during_a_rate_limit_wait_is_not_sent_rather_than_unknown(
    sg_config, stand_in, tmp_path
):
    """Ctrl-C while waiting out a 429 left the row `sending`, then `unknown` (go and check the
    provider) although nothing had been accepted; it is now `failed`, "not sent"."""
    import os
    import signal
    import subprocess
    import sys

    config = sg_config()
    db = open_db(config.db_path)
    subs = seed_subscribers(db, 2)
    stand_in.script = ["429-slow"]
    command = [sys.executable, "-m", "digest", "--config", str(tmp_path / "config.toml")]
    proc = subprocess.Popen(  # SIGINT as a terminal has it, even when pytest runs in `&`
        [*command, "send", "--date", ISSUE.isoformat(), "--force"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SENDGRID_API_KEY": API_KEY},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler),
    )
    deadline = time.monotonic() + 60

    def waiting() -> bool:  # the 429 is recorded on the row just before the 30 s wait begins
        row = db.execute("SELECT MAX(attempts) FROM deliveries").fetchone()
        return bool(row and row[0])

    while not (stand_in.requests >= 1 and waiting()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # inside the 30 s wait
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "Traceback" not in err, err
    rows = {row.subscriber_id: row for row in list_deliveries(db, issue_date=ISSUE)}
    first, second = rows[subs[0].id], rows[subs[1].id]
    assert (first.state, second.state) == ("failed", "queued")
    assert first.error.startswith("not sent: interrupted")
    assert stand_in.requests == 1


def test_unsubscribing_while_a_retry_waits_is_honoured(sg_config, stand_in):
    """The subscriber was checked once, at the claim; a 5xx backoff or a 429 wait can last
    minutes, and the retry went out to someone who had just unsubscribed."""
    from digest.store.subscribers import set_status

    config = sg_config(retry_base_seconds=0.3)
    db, ids, report = _run(config, n_subscribers=2)
    victim = get_delivery(db, ids[0]).subscriber_id

    def unsubscribe_on_first(number: int) -> None:
        if number == 1:  # another connection, like the web app's one-click unsubscribe
            other = open_db(config.db_path)
            set_status(other, victim, "unsubscribed")
            other.conn.close()

    stand_in.on_request = unsubscribe_on_first
    stand_in.script = [503]
    deliver_queued(db, config, get_backend(config), ISSUE, report)
    assert _states(db, ids) == ["skipped", "sent"]
    assert (report.skipped, report.sent, report.failed) == (1, 1, 0)
    assert stand_in.requests == 2  # the 503 and the second subscriber's; no retry
    assert "unsubscribed" in get_delivery(db, ids[0]).error


def test_a_proxys_html_error_page_is_one_line(sg_config, stand_in):
    """A load balancer's 502 page went into the ledger and the CLI as 12 lines of HTML."""
    page = "<!DOCTYPE html>\n<html>\n  <head><title>502 Bad Gateway</title></head>\n"
    page += "  <body>\n    <h1>502 Bad Gateway</h1>\n  </body>\n</html>\n"
    stand_in.server.clear()
    stand_in.server.expect_request("/v3/mail/send", method="POST").respond_with_data(
        page, status=502, content_type="text/html"
    )
    stand_in.server.expect_request("/v3/scopes").respond_with_handler(stand_in.scopes_answer)
    config = sg_config(send_retries=0)
    db, ids, report = _run(config, n_subscribers=1)
    deliver_queued(db, config, get_backend(config), ISSUE, report)
    error = get_delivery(db, ids[0]).error
    assert "\n" not in error and "502 Bad Gateway" in error
    assert all("\n" not in line for line in report.errors) and report.stopped


def test_a_provider_that_stops_answering_stops_the_run_after_three_unknowns(sg_config, stand_in):
    """Timeouts after the request went out are `unknown`: each one is for the operator to look
    up at the provider. A hung SendGrid made ten of them before the run paused."""
    config = sg_config()
    db, ids, report = _run(config, n_subscribers=5)
    stand_in.script = ["timeout"] * 5
    deliver_queued(db, config, get_backend(config), ISSUE, report)
    assert _states(db, ids) == ["unknown"] * 3 + ["queued"] * 2
    assert report.stopped and "not answering" in report.stopped
    assert "2 stay queued" in report.stopped and stand_in.requests == 3


def test_a_rate_limit_reset_already_past_still_backs_off(sg_config, stand_in):
    """X-RateLimit-Reset is an absolute time: with our clock a few seconds ahead of SendGrid's
    it is always past, the wait came out as 0 and the retries hammered SendGrid (20 a second
    until the 429 budget ran out). The backoff is now the floor."""
    config = sg_config(retry_base_seconds=0.2, rate_limit_max_wait_seconds=1.0)
    db, ids, report = _run(config, n_subscribers=1)
    stand_in.script = ["429-skewed"] * 50
    deliver_queued(db, config, get_backend(config), ISSUE, report)
    assert stand_in.requests <= 4  # 0.2 + 0.4 s waited, the next 0.8 s would pass 1 s
    assert _states(db, ids) == ["failed"] and report.stopped


@pytest.mark.parametrize(
    "name", ["boss@victim.org", "Smith, <John>", "Zoë, a@b.c", 'Ann "The" Boss']
)
def test_the_recipient_is_the_subscribers_address_whatever_their_name(sg_config, stand_in, name):
    """The name and address were glued back into "name <address>" unquoted and parsed again:
    a subscriber who typed "boss@victim.org" as their name had their digest (with their
    unsubscribe and preference links) sent to boss@victim.org; "Smith, <John>" to "Smith"."""
    from dataclasses import replace

    from tests.delivery_support import subscriber

    config = sg_config()
    sub = replace(subscriber(), name=name)
    get_backend(config).send(digest_message(config, sub), "d_1")
    [body] = stand_in.bodies
    assert body["personalizations"] == [{"to": [{"email": "ann@lab.test", "name": name}]}]
