"""What makes the web app's own pages part of the archive: its stylesheet and its links.

The app serves the archive's stylesheet from the templates (plus a few form rules of its own),
not from the built site, so its pages keep their look when the archive is not built here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from digest.config import Config
from digest.errors import UsageError
from digest.paths import TEMPLATES_DIR
from digest.render import render

# Served by the app under /app/ (the CSP allows only same-origin scripts and styles from
# files); not under /static/, which is the built archive's.
FEEDBACK_SCRIPT_PATH = "/app/feedback.js"
TIMEZONE_SCRIPT_PATH = "/app/timezone.js"
APP_FILES: dict[str, tuple[Path, str]] = {
    FEEDBACK_SCRIPT_PATH: (
        TEMPLATES_DIR / "web" / "static" / "feedback.js",
        "text/javascript; charset=utf-8",
    ),
    TIMEZONE_SCRIPT_PATH: (
        TEMPLATES_DIR / "web" / "static" / "timezone.js",
        "text/javascript; charset=utf-8",
    ),
    "/app/site.css": (TEMPLATES_DIR / "site" / "static" / "site.css", "text/css; charset=utf-8"),
    "/app/web.css": (TEMPLATES_DIR / "web" / "static" / "web.css", "text/css; charset=utf-8"),
}
STYLESHEETS = ("/app/site.css", "/app/web.css")


def app_file(path: str) -> tuple[bytes, str, str]:
    """The bytes, media type and ETag of one of the app's own files (read once per process)."""
    if path not in _loaded:
        source, media_type = APP_FILES[path]
        body = source.read_bytes()
        _loaded[path] = (body, media_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return _loaded[path]


_loaded: dict[str, tuple[bytes, str, str]] = {}


def archive_root(config: Config, site_dir: Path) -> str | None:
    """Where the archive's pages start: here once it is built, else its public [site].base_url,
    else nowhere (the pages then show no archive links rather than links that 404)."""
    if (site_dir / "index.html").is_file():
        return "/"
    base = config.site.base_url.strip()
    if base.startswith(("https://", "http://")):
        return base if base.endswith("/") else base + "/"
    return None


def page_context(config: Config, site_dir: Path) -> dict[str, object]:
    """What every web page's layout needs: the title, the stylesheets, the archive's address."""
    return {
        "site_title": config.site.title,
        "stylesheets": STYLESHEETS,
        "archive": archive_root(config, site_dir),
    }


def field_errors(exc: Exception) -> dict[str, str]:
    """{field: message} for a refused form; the key "" holds an error no one field caused."""
    text = str(exc) if isinstance(exc, UsageError) else "a value in the form is not valid"
    return {getattr(exc, "field_name", ""): text}


def error_page(config: Config, site_dir: Path) -> str:
    """The page of an unexpected failure: nothing of the internals, a way back."""
    return render(
        "web/message.html.j2",
        **page_context(config, site_dir),
        noindex=True,
        title="Something went wrong",
        text="Please try again in a little while.",
        link=None,
        link_text="",
        address="",
    )
