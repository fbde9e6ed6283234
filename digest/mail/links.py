"""Every URL the product hands out, in one place, so emails, the web app and the site agree.

Personal links carry only an opaque token (never an email address). Site paths are relative
to the archive root so the site opens from disk as well as from `digest serve`.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote_plus


def _base(public_url: str) -> str:
    return public_url.rstrip("/")


# ------------------------------------------------------------- personal (web app) links
def unsubscribe_url(public_url: str, token: str) -> str:
    return f"{_base(public_url)}/u/{token}"


def preferences_url(public_url: str, token: str) -> str:
    return f"{_base(public_url)}/p/{token}"


def confirm_url(public_url: str, token: str) -> str:
    return f"{_base(public_url)}/confirm/{token}"


def feedback_url(public_url: str, token: str, paper_id: str, kind: str) -> str:
    """kind: like | dislike | click. A click records on GET and redirects to arXiv; a like or
    dislike records only on the POST its page sends (link scanners GET every link)."""
    # quote_plus per value is what urlencode does, without its per-call generic machinery
    return f"{_base(public_url)}/f/{token}?paper={quote_plus(paper_id)}&kind={quote_plus(kind)}"


# ------------------------------------------------------------- arXiv
def arxiv_abs_url(paper_id: str) -> str:
    return f"https://arxiv.org/abs/{paper_id}"


def arxiv_pdf_url(paper_id: str) -> str:
    return f"https://arxiv.org/pdf/{paper_id}"


# ------------------------------------------------------------- archive site paths (relative)
def paper_slug(paper_id: str) -> str:
    """A page name for each id, never shared: old-style arXiv ids contain '/' (hep-th/9901001 ->
    hep-th_9901001); the '_' of an imported id becomes '~' so 'x_one' and 'x/one' differ; a
    leading '.' (a hidden file to static hosts) becomes '=.'. Ids never hold '~' or '='."""
    slug = paper_id.replace("_", "~").replace("/", "_")
    return "=" + slug if slug.startswith(".") else slug


def paper_path(paper_id: str) -> str:
    return f"papers/{paper_slug(paper_id)}.html"


def day_path(day: date) -> str:
    return f"days/{day.isoformat()}.html"


def week_path(year: int, week: int) -> str:
    return f"weeks/{year}-W{week:02d}.html"


def month_path(year: int, month: int) -> str:
    return f"months/{year}-{month:02d}.html"


def topic_path(topic_slug: str) -> str:
    return f"topics/{topic_slug}.html"


def author_path(author_id: int) -> str:
    return f"authors/{author_id}.html"


def site_url(public_base: str, relative_path: str) -> str:
    """Absolute URL of a site page (emails link to the archive through this)."""
    return f"{_base(public_base)}/{relative_path}"
