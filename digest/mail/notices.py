"""Service mails in the digest's look: the sign-up confirmation, listing what was chosen, and
the link to someone's preferences (asked for, or sent when a subscribed address signs up again).

Anyone can type anyone's address into a form, so these mails carry our own words and names
from our own catalogue only: curated topic names, authors as the archive spells them, never
text the visitor typed (an own topic is mentioned, not quoted). No list headers: not a digest.
"""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import urlsplit

from digest.config import Config
from digest.mail import links
from digest.mail.mime import build_transactional_email
from digest.render import render

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def chosen_lines(choices: dict | None) -> list[str]:
    """What a sign-up chose, one line each, in words a reader recognises."""
    if not choices:
        return []
    lines = [f"Topic: {name}" for name in choices.get("topics", [])]
    lines += [f"Papers by {name}" for name in choices.get("authors", [])]
    if choices.get("own_topic"):
        lines.append("Your own topic, in your words (on your preferences page once confirmed)")
    lines.append(
        "Weekly, on Mondays" if choices.get("frequency") == "weekly" else "Daily, each new issue"
    )
    return lines


def confirmation_email(
    config: Config, to_address: str, token: str, choices: dict | None = None
) -> EmailMessage:
    """The double opt-in mail: what the sign-up chose, and the button that confirms it."""
    days = config.service.confirm_token_days
    return _notice(
        config,
        to_address,
        subject=f"Confirm your subscription to {config.site.title}",
        heading="Confirm your subscription",
        lede=f"Press the button to start receiving {config.site.title}.",
        button=(links.confirm_url(config.service.public_url, token), "Confirm my subscription"),
        chosen=chosen_lines(choices),
        small_print=[
            f"The link works for {days} day{'' if days == 1 else 's'}. You can change all of "
            "this at any time from a link in every digest.",
            "If you did not ask for this, ignore this email: nothing will be sent to you.",
        ],
    )


def preferences_link_email(
    config: Config, to_address: str, manage_token: str, *, signed_up_again: bool
) -> EmailMessage:
    """The link to an existing subscription's preferences page. Nothing has changed: a
    sign-up of a subscribed address only sends this (its choices are not applied)."""
    url = links.preferences_url(config.service.public_url, manage_token)
    lede = (
        "Someone, probably you, used the sign-up form with this address, which is subscribed "
        "already. Nothing has changed."
        if signed_up_again
        else "Here is the link to your subscription, as asked."
    )
    return _notice(
        config,
        to_address,
        subject=f"Your {config.site.title} preferences link",
        heading="Your preferences link",
        lede=lede,
        button=(url, "Open my preferences"),
        chosen=[],
        small_print=[
            "There you can change your topics and how often the digest comes, pause it, "
            "unsubscribe or delete your data. Keep this link to yourself: it opens your "
            "subscription without a password.",
            "If you did not ask for this, ignore this email: nothing changes.",
        ],
    )


def _notice(
    config: Config,
    to_address: str,
    *,
    subject: str,
    heading: str,
    lede: str,
    button: tuple[str, str],
    chosen: list[str],
    small_print: list[str],
) -> EmailMessage:
    from digest.mail.compose import _inliner  # the digest's stylesheet, inlined the same way

    archive = config.site.base_url or config.service.public_url
    context = {
        "subject": subject,
        "heading": heading,
        "lede": lede,
        "button_url": button[0],
        "button_label": button[1],
        "chosen": chosen,
        "small_print": small_print,
        "site_title": config.site.title,
        "archive_url": archive,
        "archive_host": urlsplit(archive).netloc or archive,
        "postal_address": config.mail.postal_address,
    }
    html = _inliner().inline(render("email/notice.html.j2", **context))
    text = render("email/notice.txt.j2", **context)
    return build_transactional_email(config, to_address, subject, text, html)
