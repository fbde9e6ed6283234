"""Library exceptions. The CLI maps them to one line and an exit code (1 or 2)."""

from __future__ import annotations


class DigestError(Exception):
    """An operational failure (network, provider, disk): exit code 1."""


class UsageError(Exception):
    """Bad input from the user: unknown id, malformed file, bad option value: exit code 2."""


class FetchError(DigestError):
    """A network fetch failed; the message names the URL and the cause."""


class ParseError(DigestError):
    """An input could not be parsed at all (not one bad record: the whole document)."""
