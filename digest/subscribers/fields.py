"""Checks of one subscriber field each: address, name, weekday, time zone, paper count, schedule,
send hour. Pure functions: each returns the value as stored or raises UsageError naming it."""

from __future__ import annotations

import functools
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from digest.errors import UsageError
from digest.models import FREQUENCIES
from digest.textclean import strip_invisible

MAX_PAPERS_CAP = 50
DEFAULT_MAX_PAPERS = 10
MAX_NAME_LENGTH = 200
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_EDGE_RE = re.compile(r"^[\s\u200b\u200e\u200f\u2060\ufeff]+|[\s\u200b\u200e\u200f\u2060\ufeff]+$")


def normalise_email(raw: str) -> str:
    """Trim, lower-case the domain, and reject anything that is not a plain address.

    An internationalised domain is kept in Unicode whichever way it was typed (bücher.de and
    xn--bcher-kva.de are one address; mail headers get the ASCII form when sending).
    The local part keeps its case (lookups are case-insensitive anyway). Display names
    ("Ann <ann@x.org>"), spaces, missing dots in the domain and the like are refused, and the
    error says which of these it was.
    """
    text = _EDGE_RE.sub("", raw or "")  # a pasted address often ends in a zero-width space
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    problem = _address_problem(text)
    if problem:
        raise UsageError(f"not a valid email address: {raw!r} ({problem})")
    local, domain = text.split("@")
    return f"{local}@{_ascii_domain(domain).encode('ascii').decode('idna')}"


def _ascii_domain(domain: str) -> str:
    """The domain in ASCII (xn--) form; UnicodeError when either spelling cannot be had, so
    the Unicode form normalise_email stores is one spelling whichever was typed."""
    ascii_domain = domain.lower().rstrip(".").encode("idna").decode("ascii")
    ascii_domain.encode("ascii").decode("idna")
    return ascii_domain


def _address_problem(text: str) -> str | None:
    """What is wrong with `text` as a plain address, in a few words; None when nothing is."""
    shown = _display_name_address(text)
    if shown:
        return f"give the address alone, {shown}, and the name separately"
    if not text:
        return "it is empty"
    if any(ch.isspace() for ch in text) or not text.isprintable():
        return "it contains spaces or invisible characters"
    if text.count("@") != 1:
        return "it needs exactly one @"
    local, domain = text.split("@")
    if not local or not domain:
        return "a part is missing before or after the @"
    if len(text) > 254 or len(local) > 64:
        return "it is too long"
    if local.startswith('"'):
        return "quoted local parts are not accepted"
    if not local.isascii():
        return "the part before the @ must be ASCII"
    if not _LOCAL_RE.match(local):
        return "the part before the @ has a character or dot in the wrong place"
    try:
        labels = _ascii_domain(domain).split(".")
    except UnicodeError:
        return f"bad domain {domain!r}"
    if len(labels) < 2 or labels[-1].isdigit():
        return f"bad domain {domain!r}: not a full domain name like example.org"
    if not all(_LABEL_RE.match(label) for label in labels):
        return f"bad domain {domain!r}: letters, digits and inner hyphens, dot-separated"
    return None


def _display_name_address(text: str) -> str | None:
    """'Ann <ann@x.org>' -> 'ann@x.org' (to name it in the error), else None."""
    match = re.fullmatch(r"[^<>]*<\s*([^<>\s]+@[^<>\s]+)\s*>", text)
    return match.group(1) if match else None


def clean_name(raw: str) -> str:
    """One line of printable text: control characters (terminal escapes, NUL) are dropped."""
    from digest.topics.catalog import one_line  # topics imports nothing from here

    name = one_line(strip_invisible(raw or ""))  # a bidi override would flip the To: line
    if len(name) > MAX_NAME_LENGTH:
        raise UsageError(f"name is longer than {MAX_NAME_LENGTH} characters")
    return name


def parse_weekday(value: str | int | None) -> int | None:
    """'mon'/'Monday'/0 -> 0 ... 'sun'/6 -> 6; None and '' stay None."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= 6:
            return value
    elif isinstance(value, str):
        text = value.strip().lower()
        if len(text) == 1 and text in "0123456":
            return int(text)
        if text[:3] in WEEKDAYS and (len(text) == 3 or WEEKDAYS_FULL[text[:3]] == text):
            return WEEKDAYS.index(text[:3])
    raise UsageError(f"weekday must be one of {', '.join(WEEKDAYS)}, got {value!r}")


WEEKDAYS_FULL = dict(
    zip(
        WEEKDAYS,
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
        strict=True,
    )
)


def weekday_name(weekday: int | None) -> str | None:
    return WEEKDAYS[weekday] if weekday is not None else None


@functools.cache
def _zone_names() -> dict[str, str]:
    """Lower-cased IANA name -> its proper spelling (the tz database is read once)."""
    return {zone.lower(): zone for zone in available_timezones()}


def check_timezone(name: str) -> str:
    """An IANA zone name in its proper spelling ('europe/paris' -> 'Europe/Paris')."""
    text = (name or "").strip()
    if text not in _zone_names().values():
        text = _zone_names().get(text.lower(), text)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(
            f"unknown time zone {name!r} (use an IANA name like Europe/Paris)"
        ) from None
    return text


def check_max_papers(value: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"max papers must be a whole number, got {value!r}") from None
    if not 1 <= number <= MAX_PAPERS_CAP:
        raise UsageError(f"max papers must be between 1 and {MAX_PAPERS_CAP}, got {number}")
    return number


def check_frequency(frequency: str) -> str:
    text = str(frequency or "").strip().lower()
    if text not in FREQUENCIES:
        raise UsageError(f"frequency must be one of {', '.join(FREQUENCIES)}, got {frequency!r}")
    return text


def check_schedule(frequency: str, weekday: int | None) -> int | None:
    if frequency not in FREQUENCIES:
        raise UsageError(f"frequency must be one of {', '.join(FREQUENCIES)}, got {frequency!r}")
    if frequency == "weekly" and weekday is None:
        raise UsageError("a weekly digest needs a weekday (mon..sun)")
    return weekday if frequency == "weekly" else None


def check_send_hour(value: int | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        hour = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"send hour must be a whole number 0..23, got {value!r}") from None
    if not 0 <= hour <= 23:
        raise UsageError(f"send hour must be between 0 and 23, got {hour}")
    return hour


def check_language(value: str) -> str:
    """A TL;DR language code from LANGUAGES (any case: 'ZH-tw' -> 'zh-TW')."""
    from digest.models import LANGUAGES

    text = str(value or "").strip().replace("_", "-")
    by_lower = {code.lower(): code for code in LANGUAGES}
    if text.lower() not in by_lower:
        known = ", ".join(f"{code} ({name})" for code, name in LANGUAGES.items())
        raise UsageError(f"unknown language {value!r}; choose one of: {known}")
    return by_lower[text.lower()]
