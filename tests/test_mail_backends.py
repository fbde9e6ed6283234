"""The three delivery backends against real peers: files on disk (outbox), a real SMTP server
(smtpdfix / aiosmtpd on 127.0.0.1, STARTTLS, SSL, plain, AUTH) and SMTP reply-code mapping.
SendGrid lives in test_sendgrid_faults.py.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time

import pytest

from digest.mail.base import AmbiguousError, AuthError, PermanentError, TransientError
from digest.mail.outbox import OutboxBackend
from digest.mail.registry import get_backend
from digest.mail.smtp import SmtpBackend
from tests.delivery_support import (
    ISSUE,
    RecordingHandler,
    assert_digest_mime,
    digest_message,
    parse,
    subscriber,
)

REAL_SENDER = {"from_address": "digest@lab.test", "postal_address": "1 Main St, Springfield"}


# ---------------------------------------------------------------- outbox
def test_outbox_writes_eml_files_and_an_escaped_index(make_config):
    config, _ = make_config()
    backend = get_backend(config)
    assert isinstance(backend, OutboxBackend)
    backend.start_issue(ISSUE)
    results = []
    for sid in (1, 2, 3):
        sub = subscriber(sid, f"r{sid}@lab.test")
        results.append(backend.send(digest_message(config, sub, f"d_{sid:04d}"), f"d_{sid:04d}"))
    backend.close()

    day_dir = config.path(config.mail.outbox_dir) / ISSUE.isoformat()
    files = sorted(p.name for p in day_dir.iterdir())
    messages = [f"d_{sid:04d}.{ext}" for sid in (1, 2, 3) for ext in ("eml", "html")]
    assert files == [*messages, "index.html"]  # each HTML part to view, and no temp files
    assert [r.provider_message_id for r in results] == [str(day_dir / f) for f in files[:6:2]]
    message = parse((day_dir / "d_0002.eml").read_bytes())
    assert_digest_mime(message)
    assert str(message["X-Digest-Delivery"]) == "d_0002"
    assert str(message["To"]).endswith("<r2@lab.test>")
    raw = (day_dir / "d_0001.eml").read_bytes()
    assert b"\r\n" in raw  # RFC 5322 line endings
    index = (day_dir / "index.html").read_text()
    for name in files[:3]:
        assert f'href="{name}"' in index
    assert "<script>" not in index


def test_outbox_index_escapes_subjects(tmp_path, make_config):
    config, _ = make_config()
    message = digest_message(config)
    del message["Subject"]
    message["Subject"] = "<img src=x onerror=alert(1)> & co"
    backend = OutboxBackend(tmp_path / "out")
    backend.start_issue(ISSUE)
    backend.send(message, "d_evil")
    backend.close()
    index = (tmp_path / "out" / ISSUE.isoformat() / "index.html").read_text()
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; co" in index
    assert "<img" not in index


def test_outbox_refuses_path_like_delivery_ids(tmp_path, make_config):
    config, _ = make_config()
    backend = OutboxBackend(tmp_path / "out")
    with pytest.raises(PermanentError):
        backend.send(digest_message(config), "../escape")


# ---------------------------------------------------------------- SMTP against smtpdfix
def _smtp_config(make_config, server, security: str, **extra):
    mail = {
        **REAL_SENDER,
        "backend": "smtp",
        "smtp_host": server.hostname,
        "smtp_port": server.port,
        "smtp_security": security,
        "smtp_timeout_seconds": 5.0,
        "smtp_ca_file": os.environ["SMTPD_SSL_CERTIFICATE_FILE"],
        **extra,
    }
    config, _ = make_config({"mail": mail})
    return config


def test_smtp_starttls_with_auth_delivers_a_correct_multipart_message(
    smtpd, make_config, monkeypatch
):
    smtpd.config.use_starttls = True
    smtpd.config.enforce_auth = True
    monkeypatch.setenv("SMTP_USERNAME", smtpd.config.login_username)
    monkeypatch.setenv("SMTP_PASSWORD", smtpd.config.login_password)
    config = _smtp_config(make_config, smtpd, "starttls")
    backend = get_backend(config)
    assert isinstance(backend, SmtpBackend)
    backend.start_issue(ISSUE)
    for sid in (1, 2):  # one connection, two messages
        sub = subscriber(sid, f"reader{sid}@lab.test")
        result = backend.send(digest_message(config, sub, f"d_{sid}"), f"d_{sid}")
        assert result.provider_message_id
    backend.close()

    assert len(smtpd.messages) == 2
    received = parse(smtpd.messages[0].as_bytes())
    assert_digest_mime(received)
    assert str(received["X-Digest-Delivery"]) == "d_1"
    assert "reader1@lab.test" in str(received["To"])
    text, html = [p.get_content() for p in received.iter_parts()]
    assert "<script>alert(1)</script> & x<y" in text  # literal in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; x&lt;y" in html  # escaped in HTML
    assert "<script>" not in html


def test_smtp_wrong_password_is_an_auth_error(smtpd, make_config, monkeypatch):
    smtpd.config.use_starttls = True
    smtpd.config.enforce_auth = True
    monkeypatch.setenv("SMTP_USERNAME", smtpd.config.login_username)
    monkeypatch.setenv("SMTP_PASSWORD", "not-the-password")
    backend = get_backend(_smtp_config(make_config, smtpd, "starttls"))
    with pytest.raises(AuthError, match="535"):
        backend.start_issue(ISSUE)
    assert smtpd.messages == []


def test_smtp_implicit_tls(smtpd, make_config, monkeypatch):
    smtpd.config.use_ssl = True
    monkeypatch.delenv("SMTP_USERNAME", raising=False)
    config = _smtp_config(make_config, smtpd, "ssl")
    backend = get_backend(config)
    backend.send(digest_message(config, delivery_id="d_ssl"), "d_ssl")
    backend.close()
    assert len(smtpd.messages) == 1
    assert_digest_mime(parse(smtpd.messages[0].as_bytes()))


def test_smtp_starttls_refuses_an_untrusted_certificate(smtpd, make_config, monkeypatch):
    smtpd.config.use_starttls = True
    monkeypatch.delenv("SMTP_USERNAME", raising=False)
    config = _smtp_config(make_config, smtpd, "starttls", smtp_ca_file="")
    with pytest.raises(AuthError, match="TLS"):
        get_backend(config).start_issue(ISSUE)


# ---------------------------------------------------------------- SMTP reply codes (aiosmtpd)
class ScriptedHandler(RecordingHandler):
    """Answers RCPT / DATA with scripted replies; optionally stalls after DATA."""

    def __init__(
        self, rcpt_reply: str | None = None, data_reply: str | None = None, data_delay: float = 0.0
    ) -> None:
        super().__init__()
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply
        self.data_delay = data_delay

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply:
            return self.data_reply
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def scripted_smtp(smtp_server):
    """A real SMTP server answering with `handler`'s scripted replies; its config times out in
    2 s: long enough for a greeting on a loaded 2-core machine (0.5 s once timed out before
    the server's banner), shorter than the stalled DATA below."""

    def start(handler):
        config, _, _ = smtp_server(handler, **REAL_SENDER, smtp_timeout_seconds=2.0)
        return config

    return start


@pytest.mark.parametrize(
    ("handler", "error", "match"),
    [
        (ScriptedHandler(rcpt_reply="550 5.1.1 no such user"), PermanentError, "550"),
        (ScriptedHandler(rcpt_reply="451 4.3.0 try again later"), TransientError, "451"),
        (ScriptedHandler(data_reply="554 5.7.1 rejected as spam"), PermanentError, "554"),
        (ScriptedHandler(data_reply="452 4.3.1 insufficient storage"), TransientError, "452"),
        (ScriptedHandler(data_delay=6.0), AmbiguousError, "may have accepted"),
        (
            ScriptedHandler(
                rcpt_reply="550-5.1.1 The email account that you tried to reach does not\r\n"
                "550-5.1.1 exist. Please try double-checking the recipient's email\r\n"
                "550 5.1.1 address for typos. https://support.google.com/mail/?p=NoSuchUser"
            ),
            PermanentError,
            r"^SMTP RCPT TO <ann@lab.test>: 550 5.1.1 The email account .* does not 5.1.1 exist",
        ),
    ],
    ids=["rcpt-550", "rcpt-451", "data-554", "data-452", "timeout-after-data", "multi-line"],
)
def test_smtp_reply_codes_map_to_error_classes(scripted_smtp, monkeypatch, handler, error, match):
    monkeypatch.delenv("SMTP_USERNAME", raising=False)
    config = scripted_smtp(handler)
    backend = get_backend(config)
    started = time.monotonic()
    with pytest.raises(error, match=match) as caught:
        backend.send(digest_message(config), "d_code")
    assert "\n" not in str(caught.value)  # one line in the ledger and the CLI
    assert time.monotonic() - started < 5  # the 2 s timeout, not the 6 s stall
    backend.close()


def test_smtp_plain_relay_and_connection_reuse(scripted_smtp, monkeypatch):
    monkeypatch.delenv("SMTP_USERNAME", raising=False)
    handler = ScriptedHandler()
    config = scripted_smtp(handler)
    backend = get_backend(config)
    ids = [
        backend.send(
            digest_message(config, subscriber(i, f"p{i}@lab.test"), f"d_{i}"), f"d_{i}"
        ).provider_message_id
        for i in range(3)
    ]
    backend.close()
    assert all(i.startswith("Q") for i in ids)  # the server's queue id is kept
    assert sorted(handler.by_recipient) == ["p0@lab.test", "p1@lab.test", "p2@lab.test"]


def test_smtp_connection_refused_is_transient(make_config):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config, _ = make_config(
        {
            "mail": {
                **REAL_SENDER,
                "backend": "smtp",
                "smtp_port": port,
                "smtp_host": "127.0.0.1",
                "smtp_security": "none",
            }
        }
    )
    with pytest.raises(TransientError, match="cannot connect"):
        get_backend(config).send(digest_message(config), "d_refused")


def test_smtp_server_that_never_answers_times_out(make_config):
    """A peer that accepts the connection and says nothing: we give up within the timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
    thread.start()
    config, _ = make_config(
        {
            "mail": {
                **REAL_SENDER,
                "backend": "smtp",
                "smtp_host": "127.0.0.1",
                "smtp_port": listener.getsockname()[1],
                "smtp_security": "none",
                "smtp_timeout_seconds": 0.5,
            }
        }
    )
    started = time.monotonic()
    try:
        with pytest.raises(TransientError):
            get_backend(config).send(digest_message(config), "d_silent")
        assert time.monotonic() - started < 2.5
    finally:
        for conn, _ in accepted:
            conn.close()
        listener.close()


def test_outbox_index_lists_files_from_earlier_runs(tmp_path, make_config):
    config, _ = make_config()
    for run, delivery_id in enumerate(("d_first", "d_second")):
        backend = OutboxBackend(tmp_path / "out")  # a new process each time
        backend.start_issue(ISSUE)
        backend.send(
            digest_message(config, subscriber(run + 1, f"r{run}@lab.test"), delivery_id),
            delivery_id,
        )
        backend.close()
    index = (tmp_path / "out" / ISSUE.isoformat() / "index.html").read_text()
    assert 'href="d_first.eml"' in index and 'href="d_second.eml"' in index
    assert "r0@lab.test" in index and "r1@lab.test" in index
