"""The one Jinja Environment. Emails and pages are rendered through it and returned as strings.

Autoescape is on for every HTML/XML template name we use (including `.html.j2`, which
`select_autoescape` alone would miss); undefined variables are errors, not blanks. Every
printed value loses invisible controls (bidi overrides, NUL, zero-width spaces): sources
clean paper text, but rows stored before they did, names and topics must not flip a line.
"""

from __future__ import annotations

from functools import lru_cache

import jinja2
from markupsafe import Markup

from digest.paths import TEMPLATES_DIR
from digest.textclean import has_invisible, strip_invisible

_ESCAPED_SUFFIXES = (".html", ".htm", ".xml", ".svg", ".html.j2", ".xml.j2", ".svg.j2")


def _autoescape(template_name: str | None) -> bool:
    return template_name is None or template_name.endswith(_ESCAPED_SUFFIXES)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=visible,
    )
    env.filters["count_of"] = count_of
    return env


def visible(value: object) -> object:
    """What `{{ value }}` prints: strings without invisible controls, Markup kept as Markup."""
    if isinstance(value, str) and has_invisible(value):
        cleaned = strip_invisible(value)
        return Markup(cleaned) if isinstance(value, Markup) else cleaned
    return value


def count_of(number: int, noun: str) -> str:
    """`{{ n|count_of("paper") }}`: '1 paper', '0 papers', '1,234 papers'."""
    return f"{number:,} {noun if number == 1 else noun + 's'}"


def render(template_name: str, **context: object) -> str:
    return environment().get_template(template_name).render(**context)
