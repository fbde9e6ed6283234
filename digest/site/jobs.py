"""A page to write: its path, a fingerprint of its inputs, and how to render it (lazily)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import jinja2
from markupsafe import Markup, escape

from digest.render import environment

_DICT_ATTRIBUTES = frozenset(dir(dict))


def _escape_function():
    """markupsafe.escape minus Markup's Python-level __new__ for plain strings (the common case,
    ~2M calls on a full build): same C escaping, same Markup result. Falls back to
    markupsafe.escape where the C speedups are missing."""
    try:
        from markupsafe._speedups import _escape_inner  # type: ignore[import-not-found]
    except ImportError:
        return escape
    make = str.__new__

    def escape_fast(value):
        if type(value) is str:
            return make(Markup, _escape_inner(value))
        return escape(value)

    return escape_fast


class _SiteTemplate(jinja2.Template):
    """Templates whose compiled code escapes with _escape_function() (their module namespace
    is where `{{ x }}` finds `escape`)."""

    @classmethod
    def _from_namespace(cls, environment, namespace, globals):  # type: ignore[override]
        namespace["escape"] = _ESCAPE
        return super()._from_namespace(environment, namespace, globals)


_ESCAPE = _escape_function()


@cache
def _site_environment():
    """The one Jinja environment as an overlay tuned for rendering 100k+ pages: templates are
    not re-checked on disk per render, and `x.key` on a plain dict skips Jinja's
    getattr-then-AttributeError path (same result: dict methods still win, as in Jinja)."""
    base = environment()
    env = base.overlay(auto_reload=False, cache_size=-1)
    env.template_class = _SiteTemplate
    slow = env.getattr

    def getattr_fast(obj, attribute):
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return slow(obj, attribute)

    env.getattr = getattr_fast
    env.globals = dict(base.globals, author_list=author_list)
    return env


_AUTHOR_LINKS: dict[tuple[str, str | None, str], str] = {}


def _author_link(root: str, url: str | None, name: str) -> str:
    key = (root, url, name)
    html = _AUTHOR_LINKS.get(key)
    if html is None:
        if url:
            html = f'<a href="{escape(root)}{escape(url)}">{escape(name)}</a>'
        else:
            html = f"<bdi>{escape(name)}</bdi>"  # an RTL override stays inside the name
        _AUTHOR_LINKS[key] = html
    return html


def author_list(authors: list[dict], more: int, root: str) -> Markup:
    """'<a href="root+url">Name</a>, ...' (+N more): what the author_list macro rendered, in
    Python (it runs for every card, row and work on 150k pages; each link is escaped once)."""
    html = ", ".join([_author_link(root, a["url"], a["name"]) for a in authors])
    if more:
        html += f' <span class="more">+{escape(more)} more</span>'
    return Markup(html)


@cache
def _template(name: str):
    return _site_environment().get_template(name)


def render(template_name: str, **context: object) -> str:
    """Render a site template (same templates, filters and autoescape as digest.render)."""
    return _template(template_name).render(**context)


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
