"""Send one issue: plan, render every email, queue, then deliver each at most once.

Order matters for the guarantees:
1. Rows left in `sending` by a crashed run become `unknown` (never resent automatically);
   `failed` rows of the issue that the provider never accepted (`not_sent`) are queued again,
   once per row.
2. Every new email is rendered before anything is queued or sent: a template error stops the
   run with nothing sent.
3. Each queued row is claimed (`queued -> sending`, subscriber re-checked, committed) before
   the provider call, and finished (`sent` / `failed` / `unknown`) after it. No write
   transaction is open while the network is in use.
Running it again for the same issue sends nothing: every subscriber already has a row.
The delivery loop itself lives in digest/mail/delivery.py (`deliver_queued`, re-exported here).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from digest.config import Config
from digest.errors import DigestError, UsageError
from digest.mail.base import MailBackend
from digest.mail.chat_backend import with_chat
from digest.mail.delivery import deliver_queued
from digest.mail.health import check_reputation
from digest.mail.report import SendReport
from digest.mail.requeue import requeue_not_sent
from digest.mail.wire import to_wire
from digest.store import deliveries as ledger_store
from digest.store.channels import chat_channels_for
from digest.store.deliveries import NewDelivery
from digest.store.ledger import new_delivery_id

ProgressCallback = Callable[[int, int], None]  # (done, total)
PLACEHOLDER_SENDER_DOMAINS = ("example.org", "example.com", "example.net")


def hours_since_issue(config: Config, issue_date: date, now: datetime) -> float:
    """Hours from the start of the issue day (in the schedule's time zone) to `now`."""
    start = datetime(
        issue_date.year, issue_date.month, issue_date.day, tzinfo=ZoneInfo(config.schedule.timezone)
    )
    return (now - start).total_seconds() / 3600


def check_lateness(config: Config, issue_date: date, now: datetime) -> None:
    """Refuse a stale issue: nobody wants Tuesday's papers on Friday (override with force)."""
    age = hours_since_issue(config, issue_date, now)
    limit = config.mail.max_lateness_hours
    if age > limit:
        raise UsageError(
            f"the {issue_date.isoformat()} issue is {age:.0f} hours old, more than "
            f"[mail].max_lateness_hours = {limit:g} hours; not sending it "
            "(pass --force to send it anyway)"
        )


def check_sender(config: Config) -> None:
    """Real backends need a real sender identity (CAN-SPAM): no placeholder From domain."""
    if config.mail.backend == "outbox":
        return
    domain = config.mail.from_address.rsplit("@", 1)[-1].lower()
    if domain in PLACEHOLDER_SENDER_DOMAINS:
        raise UsageError(
            f"[mail].from_address is the placeholder {config.mail.from_address!r}; set the "
            f"real sender address before sending with the {config.mail.backend} backend"
        )


# ------------------------------------------------------------------ render
@dataclass
class _Rendered:
    delivery_id: str
    subscriber_id: int
    subject: str
    packed: bytes  # zlib-compressed RFC 5322 bytes (keeps 10k rendered emails small in memory)


def render_new(
    db,
    config: Config,
    issue_date: date,
    report: SendReport,
    *,
    save_plans: bool,
    id_range: tuple[int, int] | None = None,
) -> list[_Rendered]:
    """Plan and render the email of every due subscriber who has no ledger row yet (those
    with ids in `id_range` only, for a worker's shard).

    Any rendering error stops here with DigestError, before a single row is queued.
    """
    from digest.mail import compose as emails
    from digest.rank import planning
    from digest.store import summaries as summary_store
    from digest.store.papers import get_papers
    from digest.store.topics import topics_by_subscriber

    due = planning.due_subscribers(db, issue_date, id_range)
    report.due = len(due)
    have_row = ledger_store.subscriber_ids_with_delivery(db, issue_date, id_range)
    todo = [s for s in due if s.id not in have_row]
    plans = {s.id: planning.load_plan(db, s.id, issue_date) for s in todo}
    if save_plans and any(plan is None for plan in plans.values()):
        planning.plan_all(db, config, issue_date)  # batched; plans stored ones again if unsent
        plans = {s.id: planning.load_plan(db, s.id, issue_date) for s in todo}
    rendered: list[_Rendered] = []
    known_papers: dict = {}  # papers are shared between digests: read each once
    trending_today = trending_papers(db, issue_date)
    shown_ids = {p.paper_id for plan in plans.values() if plan for p in plan.picks}
    badge_checked = {*shown_ids, *(p.id for p in trending_today)}
    issue_badges = summary_store.badges_for(db, list(badge_checked))
    topic_names = {
        sid: [t.name for t in topics]
        for sid, topics in topics_by_subscriber(db, [s.id for s in todo]).items()
    }
    channels = chat_channels_for(db, [s.id for s in todo])
    for subscriber in todo:
        plan = plans[subscriber.id]
        if plan is None:
            try:
                plan = planning.plan_digest(db, config, subscriber, issue_date)
            except Exception as exc:  # one subscriber's bad data never stops the others
                report.errors.append(f"subscriber {subscriber.id}: planning failed: {exc}")
                continue
        if not plan.picks and not subscriber.always_send:
            report.empty += 1
            continue
        try:
            wanted = [pick.paper_id for pick in plan.picks]
            missing = [pid for pid in wanted if pid not in known_papers]
            if missing:
                known_papers.update(get_papers(db, missing))
            papers = {pid: known_papers[pid] for pid in wanted if pid in known_papers}
            if unchecked := [pid for pid in wanted if pid not in badge_checked]:  # planned here
                issue_badges.update(summary_store.badges_for(db, unchecked))
                badge_checked.update(unchecked)
            email_parts = emails.build_digest_email(
                config,
                subscriber,
                plan,
                papers,
                trending_today,
                topic_names=topic_names.get(subscriber.id, ()),
                leads=summary_store.leads_for(db, subscriber.id, issue_date),
                badges=issue_badges,
            )
            delivery_id = new_delivery_id()
            if subscriber.id in channels:  # a Slack/Discord channel gets the chat form
                channel = channels[subscriber.id]
                message = chat_form(config, subscriber, plan, papers, channel, delivery_id)
            else:
                message = emails.to_mime(config, subscriber, email_parts, delivery_id)
            raw = to_wire(message)
        except Exception as exc:
            raise DigestError(
                f"rendering the {issue_date.isoformat()} digest for subscriber "
                f"{subscriber.id} failed ({type(exc).__name__}: {exc}); nothing was sent"
            ) from exc
        rendered.append(
            _Rendered(delivery_id, subscriber.id, email_parts.subject, zlib.compress(raw, 1))
        )
    report.rendered = len(rendered)
    return rendered


def chat_form(config: Config, subscriber, plan, papers, channel: tuple[str, str], delivery_id: str):
    """A chat channel's digest: the email's view model as Slack blocks or Discord embeds."""
    from digest.mail.chat_backend import chat_message
    from digest.mail.compose import digest_context

    service, url = channel
    context = digest_context(config, subscriber, plan, papers)
    return chat_message(config, subscriber, context, service, url, delivery_id)


def trending_papers(db, issue_date: date, limit: int = 6) -> list:
    """The day's most-liked papers, shared by every digest of the issue ("Trending today")."""
    from digest.rank.trending import trending
    from digest.store.papers import get_papers

    ids = [item.paper_id for item in trending(db, issue_date, "day", limit=limit)]
    found = get_papers(db, ids)
    return [found[pid] for pid in ids if pid in found]


def _queue(db, issue_date: date, rendered: list[_Rendered], chunk: int = 500) -> int:
    """Queue rendered emails (one short transaction per chunk; existing rows are kept)."""
    created = 0
    for start in range(0, len(rendered), chunk):
        created += ledger_store.queue_deliveries(
            db,
            (
                NewDelivery(
                    r.delivery_id, r.subscriber_id, issue_date, r.subject, zlib.decompress(r.packed)
                )
                for r in rendered[start : start + chunk]
            ),
        )
    return created


# ------------------------------------------------------------------ send
def send_issue(
    db,
    config: Config,
    issue_date: date,
    *,
    backend: MailBackend | None = None,
    dry_run: bool = False,
    force: bool = False,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
    ignore_complaints: bool = False,
) -> SendReport:
    """Deliver the `issue_date` digest to every due subscriber, at most once each."""
    from digest.store.lease import Lease

    now = now or datetime.now(UTC)
    if not dry_run and not force:
        check_lateness(config, issue_date, now)
    report = SendReport(issue_date=issue_date, backend=config.mail.backend, dry_run=dry_run)
    if dry_run:
        started = time.perf_counter()
        render_new(db, config, issue_date, report, save_plans=False)
        report.render_seconds = time.perf_counter() - started
        report.ledger = ledger_store.count_by_state(db, issue_date)
        report.requeued = len(requeue_not_sent(db, issue_date, dry_run=True, by="auto").requeued)
        report.already_handled = (
            sum(report.ledger[s] for s in ("sent", "failed", "skipped")) - report.requeued
        )
        # what a real run would send
        report.queued = report.ledger["queued"] + report.rendered + report.requeued
        return report
    check_sender(config)
    check_reputation(db, config, ignore=ignore_complaints)
    if backend is None:  # before rendering: a missing API key fails fast, nothing queued
        from digest.mail.registry import get_backend

        backend = get_backend(config)
    backend = with_chat(backend)  # a backend given by the caller posts chat digests too
    report.backend = backend.name
    with Lease(db, config.db_path, "send", config.schedule.lease_minutes) as lease:
        started = time.perf_counter()
        try:
            # under the send lease no other process sends by itself: every `sending` row, of
            # any issue, was left by a dead one (a killed run of another day stayed so for
            # ever), except those of send jobs workers are running now (PostgreSQL)
            report.recovered_unknown = len(ledger_store.recover_interrupted(db))
            # the rows an outage or an interrupt left "not sent" go out with the rest, once
            report.requeued = len(requeue_not_sent(db, issue_date, by="auto").requeued)
            before = ledger_store.count_by_state(db, issue_date)
            report.already_handled = sum(before[s] for s in ("sent", "failed", "skipped"))
            started = time.perf_counter()
            rendered = render_new(db, config, issue_date, report, save_plans=True)
            report.queued = _queue(db, issue_date, rendered)
            del rendered
            report.render_seconds = time.perf_counter() - started
            started = time.perf_counter()
            deliver_queued(
                db,
                config,
                backend,
                issue_date,
                report,
                _renewing(lease, config.schedule.lease_minutes, progress),
                now=now,
                claimer=lease.holder,
            )
        finally:
            backend.close()  # the outbox writes its index pages here
            report.errors += getattr(backend, "index_problems", [])
            outbox_dir = getattr(backend, "outbox_dir", None)
            if outbox_dir is not None:
                index = outbox_dir / issue_date.isoformat() / "index.html"
                report.outbox_index = str(index) if index.exists() else None
            report.send_seconds = time.perf_counter() - started
            report.ledger = ledger_store.count_by_state(db, issue_date)
    return report


def _renewing(lease, lease_minutes: float, progress: ProgressCallback | None) -> ProgressCallback:
    """A progress callback that also keeps the send lease alive during a long run."""
    every = max(1.0, lease_minutes * 60 / 4)
    last = [time.monotonic()]

    def step(done: int, total: int) -> None:
        if time.monotonic() - last[0] > every:
            lease.renew()
            last[0] = time.monotonic()
        if progress is not None:
            progress(done, total)

    return step
