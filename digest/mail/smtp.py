"""SMTP delivery through smtplib: STARTTLS, implicit TLS or plain, optional AUTH from the env.

Reply codes map to the ledger's error classes: 4xx -> TransientError, 5xx -> PermanentError,
535/530 -> AuthError, connection refused -> TransientError. Anything that goes wrong once the
message body has been handed to DATA is AmbiguousError: the server may have queued it.
One connection is reused across messages and re-opened when the server drops it.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from datetime import date
from email.message import EmailMessage
from email.utils import getaddresses

from digest.config import MailConfig, secret
from digest.mail.base import (
    AmbiguousError,
    AuthError,
    PermanentError,
    SendResult,
    TransientError,
)
from digest.mail.wire import to_wire

DELIVERY_HEADER = "X-Digest-Delivery"
AUTH_CODES = (530, 534, 535, 538)


def _reply_text(reply: bytes | str) -> str:
    """The reply as one line: smtplib joins a multi-line reply (Gmail's 550-5.1.1 ...) with
    newlines, which would spread one error over several lines of the ledger and the CLI."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def _reply_error(code: int, reply: bytes | str, what: str) -> Exception:
    """An SMTP reply as a ledger error class. A 4xx to RCPT or to the message (greylisting, a
    full mailbox) defers this message only; 421 and 4xx elsewhere mean the server is unwell."""
    text = _reply_text(reply)
    message = f"SMTP {what}: {code} {text}".strip()
    if code in AUTH_CODES:
        return AuthError(message)
    if 400 <= code < 500:
        per_message = code != 421 and what.startswith(("RCPT", "DATA", "end of DATA"))
        return TransientError(message, per_message=per_message)
    return PermanentError(message)


class SmtpBackend:
    name = "smtp"

    def __init__(self, mail: MailConfig, ca_file: str | None = None):
        self.mail = mail
        self.ca_file = ca_file or None
        self.username = secret("SMTP_USERNAME")
        self.password = secret("SMTP_PASSWORD") or ""
        self._conn: smtplib.SMTP | None = None

    # ----------------------------------------------------------------- connection
    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_file:
            context.load_verify_locations(self.ca_file)
        return context

    def _connect(self) -> smtplib.SMTP:
        mail = self.mail
        where = f"{mail.smtp_host}:{mail.smtp_port}"
        try:
            if mail.smtp_security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    mail.smtp_host,
                    mail.smtp_port,
                    timeout=mail.smtp_timeout_seconds,
                    context=self._tls_context(),
                )
            else:
                conn = smtplib.SMTP(
                    mail.smtp_host, mail.smtp_port, timeout=mail.smtp_timeout_seconds
                )
            conn.ehlo()
            if mail.smtp_security == "starttls":
                if not conn.has_extn("starttls"):
                    raise PermanentError(
                        f"SMTP server {where} does not offer STARTTLS; "
                        'set [mail].smtp_security = "ssl" or "none"'
                    )
                code, reply = conn.starttls(context=self._tls_context())
                if code != 220:
                    raise _reply_error(code, reply, "STARTTLS")
                conn.ehlo()
            if self.username:
                self._login(conn)
        except smtplib.SMTPResponseException as exc:
            raise _reply_error(exc.smtp_code, exc.smtp_error, f"connect to {where}") from exc
        except ssl.SSLError as exc:
            raise AuthError(f"TLS with {where} failed: {exc}") from exc
        except (OSError, smtplib.SMTPException) as exc:  # refused, DNS, timeout, dropped
            raise TransientError(f"cannot connect to SMTP server {where}: {exc}") from exc
        return conn

    def _login(self, conn: smtplib.SMTP) -> None:
        try:
            conn.login(self.username or "", self.password)
        except smtplib.SMTPAuthenticationError as exc:
            reply = _reply_text(exc.smtp_error)
            raise AuthError(
                f"SMTP login as SMTP_USERNAME={self.username!r} refused: {exc.smtp_code} {reply}"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise AuthError(
                "SMTP_USERNAME is set but the server offers no AUTH (does it need STARTTLS first?)"
            ) from exc

    def _connection(self) -> smtplib.SMTP:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def start_issue(self, issue_date: date) -> None:
        """Connect and log in before any delivery is claimed, so bad credentials stop early."""
        self._connection()

    # ----------------------------------------------------------------- sending
    def send(self, message: EmailMessage, delivery_id: str) -> SendResult:
        if message[DELIVERY_HEADER] is None:
            message[DELIVERY_HEADER] = delivery_id
        recipients = [
            addr
            for _, addr in getaddresses(
                [str(v) for v in message.get_all("To", []) + message.get_all("Cc", [])]
            )
            if addr
        ]
        if not recipients:
            raise PermanentError("message has no recipient")
        body = to_wire(message)
        envelope_from = self.mail.from_address
        conn = self._envelope(envelope_from, recipients)
        try:
            code, reply = conn.data(body)
        except smtplib.SMTPDataError as exc:
            self._reset_after_refusal(conn, exc.smtp_code)
            raise _reply_error(exc.smtp_code, exc.smtp_error, "DATA") from exc
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise AmbiguousError(
                f"SMTP connection lost after the message was handed over ({exc}); "
                "the server may have accepted it"
            ) from exc
        if code != 250:  # smtplib returns the final reply after the body without checking it
            self._reset_after_refusal(conn, code)
            raise _reply_error(code, reply, "end of DATA")
        return SendResult(provider_message_id=_queue_id(reply) or str(message["Message-ID"] or ""))

    def _envelope(self, envelope_from: str, recipients: list[str]) -> smtplib.SMTP:
        """MAIL FROM + RCPT TO; nothing has been delivered if anything here fails."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                code, reply = conn.mail(envelope_from)
                if code == 421 and attempt == 1:  # closing the channel (a per-session cap)
                    self._drop()
                    continue
                if code != 250:
                    self._reset_after_refusal(conn, code)
                    raise _reply_error(code, reply, "MAIL FROM")
                for rcpt in recipients:
                    code, reply = conn.rcpt(rcpt)
                    if code not in (250, 251):
                        self._reset_after_refusal(conn, code)
                        raise _reply_error(code, reply, f"RCPT TO <{rcpt}>")
                return conn
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()  # a reused connection timed out on the server side: reconnect once
                if attempt == 2:
                    raise TransientError(f"SMTP server disconnected: {exc}") from exc
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                raise TransientError(f"SMTP envelope failed: {exc}") from exc
        raise TransientError("SMTP server disconnected")  # pragma: no cover

    def _reset_after_refusal(self, conn: smtplib.SMTP, code: int = 0) -> None:
        """RSET after a refusal, or drop the connection: a 421 closes the channel."""
        if code == 421:
            self._drop()
            return
        try:
            conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                try:
                    conn.close()
                except OSError:
                    pass


def _queue_id(reply: bytes) -> str:
    """Servers answer DATA with e.g. `250 2.0.0 Ok: queued as 4AB12`: keep the queue id."""
    text = reply.decode("utf-8", "replace").strip() if reply else ""
    match = re.search(r"queued as\s+(\S+)", text, re.IGNORECASE)
    return match.group(1) if match else ""
