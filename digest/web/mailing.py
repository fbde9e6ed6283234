"""The service mails the web app sends: handing one to the mail backend, and "send me my link"
(a subscribed address gets its preferences link; nobody learns whether it is subscribed).

Sent by the app's one mail thread, never on the request path.
"""

from __future__ import annotations

import logging
import re
import secrets
from email.message import EmailMessage
from email.utils import getaddresses

from digest.config import Config
from digest.errors import UsageError
from digest.mail.notices import preferences_link_email
from digest.store.service import eager_transaction
from digest.subscribers import fields
from digest.web.actions import LINK_STATUSES, record_consent
from digest.web.plumbing import RateLimited, over_limit

log = logging.getLogger("digest.web")


def send_service_mail(config: Config, message: EmailMessage) -> None:
    """Send through the configured backend; failures are logged without the address."""
    from digest.mail.registry import get_backend

    try:
        backend = get_backend(config)
        try:
            backend.send(message, "service-" + secrets.token_hex(8))
        finally:
            backend.close()
    except Exception as exc:  # the visitor already has their answer; the operator gets a line
        text = str(exc)
        for header in message.get_all("To", []):  # servers quote the recipient in refusals
            for _, address in getaddresses([str(header)]):
                if address:
                    text = re.sub(re.escape(address), "<recipient>", text, flags=re.I)
        log.warning("service mail not sent: %s: %s", type(exc).__name__, text)


def shown_address(typed: str) -> str:
    """The address as a page may show it back: normalised when it is one, else trimmed."""
    try:
        return fields.normalise_email(typed)
    except UsageError:
        return " ".join(typed.split())[:254]


def mail_preferences_link(
    db, config: Config, key: bytes, typed: str, ip: str | None
) -> EmailMessage | None:
    """The preferences-link mail for a subscribed address, or None (unknown, bounced,
    complained, pending: those get nothing). Rate-limited like sign-ups: per client per
    minute, per address per day (the same daily count as confirmation mails)."""
    from digest.subscribers import manage as people

    service = config.service
    with eager_transaction(db):
        too_many_ip = over_limit(
            db, key, "ip", ip or "-", service.subscribe_per_ip_per_minute, "minute"
        )
    if too_many_ip:
        raise RateLimited("too many requests from this address; try again in a minute")
    email = fields.normalise_email(typed)  # UsageError: the page says what is wrong
    with eager_transaction(db):
        too_many = over_limit(
            db, key, "addr", email, service.confirm_mails_per_address_per_day, "day"
        )
    if too_many:
        raise RateLimited("too many mails for this address today")
    with eager_transaction(db):
        found = people.get_subscriber_by_email(db, email)
        if found is None or found.status not in LINK_STATUSES or not found.manage_token:
            return None
        record_consent(db, config, found.id, "link", "web", ip, "preferences link sent")
    return preferences_link_email(config, found.email, found.manage_token, signed_up_again=False)
