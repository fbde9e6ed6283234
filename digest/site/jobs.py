"""A page to write: its path, a fingerprint of its inputs, and how to render it (lazily)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from digest.render import render


@dataclass
class PageJob:
    path: str  # relative to the site root
    fingerprint: str  # same fingerprint as the last build -> the old file is reused
    produce: Callable[[], str | bytes]


def fingerprint(salt: str, *parts: object) -> str:
    digest = hashlib.blake2b(salt.encode(), digest_size=16)
    digest.update(repr(parts).encode())
    return digest.hexdigest()


def template_job(salt: str, path: str, template: str, context: dict) -> PageJob:
    """A page whose whole context is known up front (list pages): hash the context itself."""
    key = fingerprint(salt, template, json.dumps(context, sort_keys=True, default=str))
    return PageJob(path, key, lambda: render(template, **context))


def depth_root(path: str) -> str:
    """The relative prefix from a page back to the site root ('' or '../')."""
    return "../" * path.count("/")
