"""Pick the delivery backend named by `[mail].backend`. Backends import their clients lazily,
so `digest send` with the outbox never loads smtplib's TLS set-up or the sendgrid package.
"""

from __future__ import annotations

from digest.config import Config
from digest.errors import UsageError
from digest.mail.base import MailBackend

BACKENDS = ("outbox", "smtp", "sendgrid")


def get_backend(config: Config) -> MailBackend:
    """A ready backend for this config (SendGrid: AuthError if SENDGRID_API_KEY is unset)."""
    mail = config.mail
    if mail.backend == "outbox":
        from digest.mail.outbox import OutboxBackend

        return OutboxBackend(config.path(mail.outbox_dir))
    if mail.backend == "smtp":
        from digest.mail.smtp import SmtpBackend

        ca_file = str(config.path(mail.smtp_ca_file)) if mail.smtp_ca_file else None
        return SmtpBackend(mail, ca_file=ca_file)
    if mail.backend == "sendgrid":
        from digest.mail.sendgrid import SendGridBackend

        return SendGridBackend(mail)
    raise UsageError(f"[mail].backend must be one of {', '.join(BACKENDS)}, got {mail.backend!r}")
