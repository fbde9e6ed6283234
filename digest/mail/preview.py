"""`digest preview`: plan and render one subscriber's digest into files, without sending.

Read-only: the plan is loaded (or computed, not saved) and the ledger is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from digest.config import Config
from digest.errors import DigestError, UsageError


@dataclass(frozen=True)
class PreviewFiles:
    html: Path
    text: Path
    eml: Path
    subject: str
    papers: int
    truncated: int  # cards left out of the HTML to stay under the size budget


def latest_issue_date(db) -> date:
    """The latest announcement day with papers: what every command means by "the latest day"."""
    from digest.store.days import latest_announcement_day

    day = latest_announcement_day(db)
    if day is None:
        raise UsageError(
            "no announcements in the database yet: run `digest fetch` first (or pass --date)"
        )
    return day


def _plan(db, config: Config, subscriber, issue_date: date):
    """The stored plan, else one computed now for a day whose announcement is stored: for any
    other day the preview showed a 'Nothing matched today' email that no run would send."""
    from digest.store.papers import announcement_dates

    try:
        from digest.rank.planning import load_plan, plan_digest
    except ImportError as exc:  # the ranking stage is not installed in this checkout
        raise DigestError(
            "cannot plan a digest: the ranking stage (digest.rank.planning) is "
            "missing from this installation"
        ) from exc
    plan = load_plan(db, subscriber.id, issue_date)
    if plan is not None:
        return plan
    days = announcement_dates(db)
    if issue_date not in days:
        latest = f"the latest is {days[-1]}" if days else "none is stored yet: `digest fetch`"
        raise UsageError(
            f"--date {issue_date}: no announcement of that day is stored ({latest}; "
            "`digest status` lists recent ones)"
        )
    return plan_digest(db, config, subscriber, issue_date)


def preview_digest(
    db, config: Config, email: str, issue_date: date | None = None, out_dir: Path | None = None
) -> PreviewFiles:
    """Write `<date>-subscriber-<id>.{html,txt,eml}` and return their paths."""
    from digest.mail.compose import build_digest_email, message_bytes, to_mime
    from digest.store.papers import get_papers
    from digest.store.topics import topics_for_subscriber
    from digest.subscribers.manage import require_subscriber

    subscriber = require_subscriber(db, email)
    day = issue_date or latest_issue_date(db)
    plan = _plan(db, config, subscriber, day)
    papers = get_papers(db, [pick.paper_id for pick in plan.picks])
    topic_names = [topic.name for topic in topics_for_subscriber(db, subscriber.id)]
    from digest.mail.sending import trending_papers

    rendered = build_digest_email(
        config, subscriber, plan, papers, trending_papers(db, day), topic_names=topic_names
    )
    stem = f"{day.isoformat()}-subscriber-{subscriber.id}"
    message = to_mime(config, subscriber, rendered, delivery_id=f"preview-{stem}")
    folder = out_dir or config.path(config.mail.outbox_dir) / "preview"
    folder.mkdir(parents=True, exist_ok=True)
    files = {ext: folder / f"{stem}.{ext}" for ext in ("html", "txt", "eml")}
    files["html"].write_text(rendered.html, encoding="utf-8")
    files["txt"].write_text(rendered.text, encoding="utf-8")
    files["eml"].write_bytes(message_bytes(message))
    return PreviewFiles(
        files["html"],
        files["txt"],
        files["eml"],
        rendered.subject,
        len(rendered.paper_ids),
        rendered.truncated,
    )
