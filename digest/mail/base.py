"""The one small interface every delivery backend (outbox, smtp, sendgrid) implements.

A backend sends one finished `EmailMessage` and returns the provider's message id, or raises
one of the errors below, which the delivery ledger maps to states:
  TransientError  -> retry with backoff (429, 5xx, connection refused); never a failure count.
                     Once retries run out the row fails and, unless the error concerned this
                     message alone (`per_message`, e.g. SMTP RCPT 4xx), the run stops there
  AmbiguousError  -> the request may have reached the provider (timeout after sending): `unknown`
  PermanentError  -> this message failed (400/413, 5xx SMTP reply to RCPT): `failed`
  AuthError       -> credentials/permissions wrong (401/403, SMTP 535): stop the whole run
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from digest.errors import DigestError


class MailError(DigestError):
    pass


class TransientError(MailError):
    """Not delivered, try again later. `per_message`: only this message (or recipient) was
    deferred; otherwise the provider itself is unavailable and the next message fares no better.
    """

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        per_message: bool = False,
        retry: bool = True,
    ):
        super().__init__(message)
        self.retry_after = retry_after
        self.per_message = per_message
        self.retry = retry  # False: seconds will not mend it (a full disk); stop at once


class AmbiguousError(MailError):
    pass


class PermanentError(MailError):
    pass


class AuthError(MailError):
    pass


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str


class MailBackend(Protocol):
    name: str

    def send(self, message: EmailMessage, delivery_id: str) -> SendResult:
        """Send one message. `delivery_id` is the opaque ledger id (header / custom_args)."""
        ...

    def close(self) -> None: ...
