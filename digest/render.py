"""The one Jinja Environment. Emails and pages are rendered through it and returned as strings.

Autoescape is on for every HTML/XML template name we use (including `.html.j2`, which
`select_autoescape` alone would miss); undefined variables are errors, not blanks.
"""

from __future__ import annotations

from functools import lru_cache

import jinja2

from digest.paths import TEMPLATES_DIR

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
    )
    env.filters["count_of"] = count_of
    return env


def count_of(number: int, noun: str) -> str:
    """`{{ n|count_of("paper") }}`: '1 paper', '0 papers', '1,234 papers'."""
    return f"{number:,} {noun if number == 1 else noun + 's'}"


def render(template_name: str, **context: object) -> str:
    return environment().get_template(template_name).render(**context)
