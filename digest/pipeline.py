"""run_daily(): the whole day once: fetch -> embed -> plan -> summarise -> send -> site.

Each stage is idempotent and checkpointed in `run_stages`: a stage that finished ok for this
issue date is skipped on a re-run (unless forced), so a run that crashed continues where it
stopped. Sending never repeats a digest whatever happens here: the delivery ledger is keyed by
(subscriber, issue). "No announcement today" is a normal ending: nothing is sent, status
`no_announcement`, exit 0.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from digest.config import Config
from digest.errors import DigestError, UsageError
from digest.store import service as service_store
from digest.store import transaction, utcnow
from digest.store.lease import Lease

STAGES = ("fetch", "embed", "plan", "summarise", "send", "site")
# What each stage needs to have worked in this run (or earlier): planning without today's
# listing or its vectors would send a wrong issue; embedding what is stored and building the
# archive are safe whatever else failed.
# Sending does not need the summaries: a card without its lead line shows the abstract's start.
NEEDS = {"plan": ("fetch", "embed"), "summarise": ("plan",), "send": ("plan",)}
RUN_LEASE = "daily-run"
MAX_ERRORS_SHOWN = 5

ProgressCallback = Callable[[str], None]


@dataclass
class StageReport:
    stage: str
    status: str  # ok | partial | skipped | empty | stale | failed | done-earlier
    duration_s: float = 0.0
    counts: dict = field(default_factory=dict)
    error: str | None = None


@dataclass
class RunReport:
    run_id: int
    issue_date: date
    status: str  # ok | partial (some feeds failed) | no_announcement | stale | failed
    stages: list[StageReport] = field(default_factory=list)
    forced: bool = False

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def summary(self) -> str:
        """One line: the status, and which stages failed (and why) or were skipped."""
        failed = [f"{s.stage} failed ({s.error})" for s in self.stages if s.status == "failed"]
        skipped = [s.stage for s in self.stages if s.status == "skipped"]
        parts = [*failed, *([f"skipped {', '.join(skipped)}"] if skipped else [])]
        head = f"run {self.run_id} for {self.issue_date.isoformat()}: {self.status}"
        return f"{head}: {'; '.join(parts)}" if parts else head

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "issue_date": self.issue_date.isoformat(),
            "status": self.status,
            "summary": self.summary,
            "forced": self.forced,
            "stages": [dataclasses.asdict(s) for s in self.stages],
        }


class _StageOutcome(Exception):
    """Raised inside a stage to end the run early with a non-error status."""

    def __init__(self, status: str, counts: dict) -> None:
        super().__init__(status)
        self.status = status
        self.counts = counts


ARXIV_ZONE = ZoneInfo("America/New_York")  # a listing dated D appears at 00:00 on D here


def default_issue_date(config: Config, now: datetime | None = None) -> date:
    """The date of arXiv's newest listing at `now`: today in New York, whatever the schedule's
    time zone (at 00:30 in Paris or Tokyo the newest listing is still New York's yesterday's;
    asking for "today" there found a stale feed every day)."""
    moment = now or datetime.now(ZoneInfo(config.schedule.timezone))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(config.schedule.timezone))
    return moment.astimezone(ARXIV_ZONE).date()


def _counts_of(result: object) -> dict:
    """A stage's return value as JSON-able counts, whatever shape its module returns. A list
    of error lines (a subscriber that could not be planned or sent) is kept, shortened."""
    if result is None:
        return {}
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    if isinstance(result, dict):
        counts = {k: v for k, v in result.items() if isinstance(v, int | float | str | bool | None)}
        errors = result.get("errors")
        if isinstance(errors, list) and errors:
            shown = "; ".join(str(e) for e in errors[:MAX_ERRORS_SHOWN])
            more = len(errors) - MAX_ERRORS_SHOWN
            counts["errors"] = shown + (f"; and {more} more" if more > 0 else "")
        return counts
    if isinstance(result, list | tuple):
        return {"items": len(result)}
    return {"result": str(result)}


# ------------------------------------------------------------------ the stages
def _stage_fetch(db, config: Config, issue_date: date, progress) -> dict:
    from digest.ingest.daily import fetch_daily

    reports = fetch_daily(db, config, expected_date=issue_date, progress=progress)
    library = _fetch_library_papers(db, config)
    statuses = [r.status for r in reports]
    counts: dict[str, int | str] = {
        "feeds": len(reports),
        "ok": statuses.count("ok"),
        "empty": statuses.count("empty"),
        "stale": statuses.count("stale"),
        "failed": statuses.count("failed"),
        "new": sum(r.counts.new for r in reports),
        "updated": sum(r.counts.updated for r in reports),
        "skipped": sum(r.counts.skipped for r in reports),
    }
    counts.update(library)
    errors = [f"{r.label}: {r.error}" for r in reports if r.error]
    if not counts["ok"]:
        stored = service_store.papers_listed_on(db, issue_date.isoformat())
        if stored:  # a re-run (or --force) after the listing was already ingested
            counts["already_stored"] = stored
            counts["ok"] = len(reports) - statuses.count("failed")
    if counts["ok"]:
        if errors:  # some feeds failed: the day goes on, and a re-run fetches again
            counts["errors"] = "; ".join(errors)
            raise _StageOutcome("partial", counts)
        return counts
    if reports and counts["empty"] == len(reports):
        raise _StageOutcome("no_announcement", counts)
    if counts["failed"]:
        failed = statuses.count("failed")
        lead = (
            "every feed failed"
            if failed == len(reports)
            else f"{failed} of {len(reports)} feeds failed and the others listed nothing new"
        )
        raise DigestError(f"{lead}: " + "; ".join(errors))
    raise _StageOutcome("stale", counts)


def _fetch_library_papers(db, config: Config) -> dict:
    """Papers that imported libraries name and the archive lacks, from the arXiv API; never
    a reason for the fetch stage to fail (they stay pending for the next run)."""
    from digest.subscribers.library import fetch_pending

    try:  # spaced from the feeds' last request, which was just now
        return fetch_pending(db, config, wait_first=config.arxiv.request_delay_seconds)
    except Exception as exc:  # noqa: BLE001
        return {"library_error": f"{type(exc).__name__}: {exc}"}


def _stage_embed(db, config: Config, issue_date: date, progress) -> dict:
    from digest.embed.encoder import embed_missing
    from digest.rank.matching import refresh_topic_matches

    counts = _counts_of(embed_missing(db, config.embedding))
    # every listed day gets its curated-topic matches, whether or not anyone is mailed today
    matched = refresh_topic_matches(db, config)
    counts.update(topic_days=matched.days, topic_matches=matched.matches)
    return counts


def _stage_plan(db, config: Config, issue_date: date, progress) -> dict:
    from digest.rank.planning import plan_all

    return _counts_of(plan_all(db, config, issue_date))


def _stage_summarise(db, config: Config, issue_date: date, progress) -> dict:
    from digest.summaries.stage import summarise_issue

    return _counts_of(summarise_issue(db, config, issue_date, progress))


def _stage_send(db, config: Config, issue_date: date, progress, force: bool = False) -> dict:
    from digest.mail.sending import send_issue

    report = send_issue(db, config, issue_date, force=force)
    if report.stopped:  # the rest stays queued: not a finished stage, so a re-run resumes it
        raise RuntimeError(f"sending stopped early ({report.sent} sent): {report.stopped}")
    return _counts_of(report)


def _stage_site(db, config: Config, issue_date: date, progress) -> dict:
    try:
        from digest.site.build import build_site
    except ImportError:
        return {"built": False, "reason": "site module not installed"}
    return _counts_of(build_site(db, config, full=False))


# ------------------------------------------------------------------ the run
def run_daily(
    db,
    config: Config,
    issue_date: date | None = None,
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> RunReport:
    """Run the whole day under the daily-run lease; raises LeaseHeld if another run holds it."""
    issue_date = issue_date or default_issue_date(config)
    with Lease(db, config.db_path, RUN_LEASE, config.schedule.lease_minutes) as lease:
        lease.start_heartbeat()
        return _run_stages(db, config, issue_date, force, progress, lease)


def _run_stages(db, config, issue_date: date, force: bool, progress, lease: Lease) -> RunReport:
    day = issue_date.isoformat()
    with transaction(db):
        unfinished = None if force else _unfinished_forced_run(db, day)
        force = force or unfinished is not None
        run_id = service_store.start_run(db, day, force, lease.holder)
        if unfinished is not None:  # carry on with it: what it redid counts, nothing older
            done = {s["stage"]: s["counts"] for s in unfinished["stages"] if s["status"] == "ok"}
        else:
            done = {} if force else service_store.completed_stages(db, day)
    report = RunReport(run_id, issue_date, "ok", forced=force)
    try:
        _stage_loop(db, config, issue_date, force, progress, lease, report, done)
    except BaseException as exc:  # Ctrl-C, SIGTERM, a lease taken over: the run row says so
        with transaction(db):
            service_store.finish_run(db, run_id, "failed", f"interrupted: {type(exc).__name__}")
        raise
    with transaction(db):
        failed = [s for s in report.stages if s.status == "failed"]
        service_store.finish_run(
            db, run_id, report.status, "; ".join(f"{s.stage}: {s.error}" for s in failed) or None
        )
    return report


def _unfinished_forced_run(db, day: str) -> dict | None:
    """The last run, if it was a --force run of this issue that was killed or interrupted: the
    operator asked for every stage to be redone, so a plain re-run continues that redo instead
    of finding the stages done by the runs before it."""
    last = next(iter(service_store.recent_runs(db, limit=1)), None)
    if last is None or last["issue_date"] != day or not last["forced"]:
        return None
    killed = last["status"] == "running"  # we hold the lease: nobody is running it
    interrupted = last["status"] == "failed" and (last["error"] or "").startswith("interrupted")
    return last if killed or interrupted else None


def _stage_loop(db, config, issue_date, force, progress, lease, report, done) -> None:
    """The stages in order. A failed stage does not stop the ones that do not need it. Only a
    leading run of stages done earlier is skipped: once one stage runs (say a re-fetch of a
    feed that failed before), every stage after it runs again, so its new papers get embedded,
    planned and archived; the ledger keeps anything from being sent twice."""
    day = issue_date.isoformat()
    stage_functions = {
        "fetch": _stage_fetch,
        "embed": _stage_embed,
        "plan": _stage_plan,
        "summarise": _stage_summarise,
        "send": lambda d, c, i, p: _stage_send(d, c, i, p, force=force),
        "site": _stage_site,
    }
    if config.on_postgres:  # the fleet's workers do these stages, in shares, as jobs
        from digest.workers.stages import FLEET_STAGES

        stage_functions |= FLEET_STAGES
        stage_functions["send"] = lambda d, c, i, p: FLEET_STAGES["send"](d, c, i, p, force=force)
    broken: dict[str, str] = {}  # stage -> why later stages that need it cannot run
    for stage in STAGES:
        if stage in done:
            report.stages.append(StageReport(stage, "done-earlier", counts=done[stage]))
            continue
        blocker = next((need for need in NEEDS.get(stage, ()) if need in broken), None)
        if blocker is not None:  # e.g. no fresh listing: planning or sending would be wrong
            reason = f"{blocker} {broken[blocker]}"
            _record_skip(db, report.run_id, day, stage, reason)
            report.stages.append(StageReport(stage, "skipped", counts={"reason": reason}))
            broken[stage] = "was skipped"
            continue
        if progress:
            progress(f"{stage}: starting")
        lease.renew()
        outcome = _run_one(
            db, report.run_id, day, stage, stage_functions[stage], config, issue_date, progress
        )
        report.stages.append(outcome)
        done = {}  # what a stage changed, the stages after it take up again (all idempotent)
        if outcome.status == "partial":
            report.status = "partial"  # not recorded as done: the next run fetches again
        if outcome.status in ("no_announcement", "stale"):
            report.status = outcome.status
            return
        if outcome.status == "failed":  # the stages that do not need this one still run
            report.status = "failed"
            broken[stage] = "failed"


def _record_skip(db, run_id: int, day: str, stage: str, reason: str) -> None:
    now = utcnow()
    with transaction(db):
        service_store.record_stage(
            db, run_id, day, stage, "skipped", now, 0.0, {"reason": reason}, None
        )


def _run_one(db, run_id, day, stage, function, config, issue_date, progress) -> StageReport:
    started_at = utcnow()
    with transaction(db):
        service_store.record_stage(db, run_id, day, stage, "running", started_at, None, {}, None)
    start = time.monotonic()
    status, counts, error = "ok", {}, None
    try:
        counts = function(db, config, issue_date, progress)
    except _StageOutcome as outcome:
        status, counts = outcome.status, outcome.counts
    except Exception as exc:  # one stage failing is recorded, not a crash without a report
        status, error = "failed", _stage_error(exc)
        counts = {"trace": traceback.format_exc(limit=3)[-800:]}
    duration = round(time.monotonic() - start, 3)
    with transaction(db):
        service_store.record_stage(
            db, run_id, day, stage, status, started_at, duration, counts, error
        )
    shown = {k: v for k, v in counts.items() if k != "trace"}  # the trace stays in the store
    return StageReport(stage, status, duration, shown, error)


def _stage_error(exc: Exception) -> str:
    """Our own errors already say what went wrong in words; an unexpected one keeps its type,
    which is what a bug report needs."""
    if isinstance(exc, DigestError | UsageError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


# ------------------------------------------------------------------ status for `digest status`
def service_status(db, config: Config, now: datetime | None = None) -> dict:
    """The last runs and warnings (stale feed, failed last run) for `digest status`."""
    from datetime import UTC

    now = now or datetime.now(UTC)
    runs = service_store.recent_runs(db, limit=5)
    warnings: list[str] = []
    if runs and runs[0]["status"] == "failed":
        warnings.append(f"the last run (issue {runs[0]['issue_date']}) failed: {runs[0]['error']}")
    if runs and runs[0]["status"] == "running":
        warnings.append(f"a run for {runs[0]['issue_date']} is running or was interrupted")
    last_ingest = service_store.last_successful_ingest(db)
    if last_ingest is None:
        warnings.append("no feed has been fetched successfully yet")
    else:
        age_days = (now - datetime.fromisoformat(last_ingest["started_at"])).total_seconds() / 86400
        if age_days > 4:  # a long weekend has at most 3 days without announcements
            warnings.append(
                f"the feed looks stale: last new listing fetched {age_days:.1f} days ago"
            )
    return {
        "last_runs": runs,
        "last_feed_ingest": last_ingest,
        "warnings": warnings,
    }
