"""CLI commands for the topic lab and trending (thin wrappers over library functions)."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from digest.cli.common import console, parse_date_option, print_json, state, stored_db
from digest.cli.topics import topics_app

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]
TrendingDate = Annotated[
    str | None,
    typer.Option(
        "--date", help="Day to look at, YYYY-MM-DD (default: the latest announcement day)."
    ),
]
IssueDate = Annotated[
    str | None,
    typer.Option("--date", help="Issue date, YYYY-MM-DD (default: the latest announcement day)."),
]


def _latest_day() -> date | None:
    """The day "latest" means in every command: the newest announcement day with papers."""
    from digest.store.days import latest_announcement_day

    return latest_announcement_day(stored_db())


def _results_table(results, title: str, threshold: float, by_day: bool = False) -> Table:
    """Ranked papers; `by_day` (the borderline papers of past days) shows each one's day. A
    paper that reaches the threshold without its own evidence for the topic says so."""
    first = "day" if by_day else "rank"
    table = Table(first, "score", "id", "title", "why", title=title, title_justify="left")
    for r in results:
        mark = ""
        if not r.passes:
            held = r.score >= threshold - 5e-4  # as shown, rounded to 3 places
            mark = " [dim](not sent: too little evidence of its own)[/]" if held else ""
            mark = mark or " [dim](below threshold)[/]"
        table.add_row(
            str(r.announced if by_day else r.rank),
            f"{r.score:.3f}",
            escape(r.paper_id),
            escape(r.title),
            escape(r.why) + mark,
        )
    return table


def try_(
    text: Annotated[str | None, typer.Option("--text", help="Describe the topic in words.")] = None,
    like: Annotated[
        list[str] | None,
        typer.Option("--like", help="A stored paper id the topic is like (repeatable)."),
    ] = None,
    dislike: Annotated[
        list[str] | None,
        typer.Option("--dislike", help="A stored paper id the topic is not like (repeatable)."),
    ] = None,
    keyword: Annotated[
        list[str] | None,
        typer.Option("--keyword", help="Boost papers mentioning this word or phrase (repeatable)."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude", help="Never show papers mentioning this word or phrase (repeatable)."
        ),
    ] = None,
    author: Annotated[
        list[str] | None, typer.Option("--author", help="Boost papers by this author (repeatable).")
    ] = None,
    category: Annotated[
        list[str] | None,
        typer.Option(
            "--category", help="Only papers in this arXiv category, e.g. cs.CL (repeatable)."
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="Score a paper needs to be sent, between -1 and 1 "
            "(default: \\[ranking].default_threshold).",
        ),
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            help="Only papers announced in the last N days of stored listings "
            "(default: all stored papers).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many papers to show.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Rank stored papers now, exactly as a topic built from these options would."""
    from digest.topics.lab import try_topic

    results = try_topic(
        stored_db(),
        state.config,
        text=text,
        like=like or (),
        dislike=dislike or (),
        keywords=keyword or (),
        exclude=exclude or (),
        authors=author or (),
        categories=category or (),
        threshold=threshold,
        days=days,
        limit=limit,
    )
    if as_json:
        # the same record as `topics test --json` (paper_id, passes, like picks and
        # trending), plus the first names this command documented (id, passes_threshold)
        print_json(
            [
                dataclasses.asdict(r) | {"id": r.paper_id, "passes_threshold": r.passes}
                for r in results
            ]
        )
        return
    if not results:
        console.print("no stored paper matches this topic (or none are stored yet)")
        return
    shown = state.config.ranking.default_threshold if threshold is None else threshold
    console.print(_results_table(results, "topic lab", shown))


def test(
    name: Annotated[str, typer.Argument(help="Name of a saved curated topic.")],
    days: Annotated[
        int, typer.Option("--days", help="Replay the last N days of stored listings.")
    ] = 14,
    as_json: JsonOption = False,
) -> None:
    """Show what a saved topic would have sent each past day: counts, scores, borderline papers."""
    from digest.topics.lab import histogram, test_topic

    report = test_topic(stored_db(), state.config, name, days=days)
    bins = histogram(report.scores, report.threshold)
    if as_json:
        print_json(
            {
                "topic": report.topic.name,
                "threshold": report.threshold,
                "days": [
                    {"day": d.day.isoformat(), "candidates": d.candidates, "passing": d.passing}
                    for d in report.days
                ],
                "total_passing": report.total_passing,
                "per_day": round(report.per_day, 2),
                "per_day_at": {
                    f"{t:.2f}": round(report.per_day_at(t), 2)
                    for t in _nearby_thresholds(report.threshold)
                },
                "histogram": [{"low": lo, "high": hi, "count": c} for lo, hi, c in bins],
                "borderline": [dataclasses.asdict(r) for r in report.borderline],
            }
        )
        return
    default = " ([ranking].default_threshold)" if report.topic.threshold is None else ""
    console.print(
        f"topic [bold]{escape(report.topic.name)}[/], threshold {report.threshold:.2f}"
        + escape(default)
    )
    if not report.days:
        console.print("no stored announcement days in that range")
        return
    for d in report.days:
        console.print(f"  {d.day}  {d.passing:>3} of {d.candidates} papers pass the threshold")
    if len(report.days) > 1:
        total = sum(d.candidates for d in report.days)
        console.print(
            f"  {'total':<10}  {report.total_passing:>3} of {total} papers over "
            f"{len(report.days)} days"
        )
    listed = sum(1 for d in report.days if d.candidates)
    if listed:
        others = ", ".join(
            f"{report.per_day_at(t):.1f} at {t:.2f}"
            for t in _nearby_thresholds(report.threshold)
            if abs(t - report.threshold) > 1e-9
        )
        console.print(
            f"  expected: {report.per_day:.1f} papers a day at threshold {report.threshold:.2f} "
            f"({others})"
        )
    _print_histogram(bins, report.threshold)
    if not report.borderline:
        console.print("no paper matches this topic on these days")
        return
    console.print(
        _results_table(
            report.borderline,
            "borderline papers (nearest the threshold)",
            report.threshold,
            by_day=True,
        )
    )


def _nearby_thresholds(threshold: float) -> list[float]:
    """The threshold and its neighbours a curator might try instead (0.05 apart)."""
    return [round(threshold + step, 2) for step in (-0.1, -0.05, 0.0, 0.05, 0.1)]


def _print_histogram(bins: list[tuple[float, float, int]], threshold: float) -> None:
    """Bars of █ for bins that pass the threshold, ░ for those that do not (plain text, so a
    pipe or a log keeps the difference)."""
    if not bins:
        console.print("no candidate paper is eligible for this topic (check its categories)")
        return
    console.print(
        "score distribution (every candidate, all days; █ at or above the threshold, where a "
        "paper passes with its own evidence for the topic; ░ below):"
    )
    if threshold - 1e-6 > bins[-1][1]:
        console.print(f"  (threshold {threshold:+.2f} is above every score: none pass)")
    widest = max(c for _, _, c in bins) or 1
    for lo, hi, count in bins:
        passes = lo >= threshold - 1e-6  # the bins split at the float32 threshold
        bar = ("█" if passes else "░") * round(30 * count / widest)
        cut = " ◀ threshold" if abs(lo - threshold) < 1e-6 else ""
        console.print(f"  {lo:+.2f} .. {hi:+.2f} │{bar:<30}│ {count}{cut}")
    if threshold < bins[0][0] - 1e-6:
        console.print(f"  (threshold {threshold:+.2f} is below every score: all pass)")


def trending_cmd(
    week: Annotated[bool, typer.Option("--week", help="The ISO week containing the day.")] = False,
    month: Annotated[bool, typer.Option("--month", help="The month containing the day.")] = False,
    day: TrendingDate = None,
    limit: Annotated[int, typer.Option("--limit", help="How many papers to show.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Papers readers are interested in: likes and clicks (one person once), HF upvotes."""
    from digest.errors import UsageError
    from digest.rank.trending import trending

    if week and month:
        raise UsageError("choose one of --week and --month")
    period = "week" if week else "month" if month else "day"
    when = parse_date_option(day) or _latest_day() or date.today()
    items = trending(stored_db(), when, period=period, limit=limit)
    if as_json:
        print_json([dataclasses.asdict(t) for t in items])
        return
    if not items:
        console.print(
            f"nothing is trending for the {period} of {when} yet: no reader has liked or "
            "clicked one of its papers"
        )
        return
    table = Table(
        "score", "likes", "clicks", "HF upvotes", "id", "title", title=f"{period} of {when}"
    )
    for t in items:
        table.add_row(
            f"{t.score:.1f}",
            str(t.likes),
            str(t.clicks),
            str(t.hf_upvotes),
            escape(t.paper_id),
            escape(t.title),
        )
    console.print(table)


def picks(
    email: Annotated[str, typer.Argument(help="The subscriber's email address.")],
    day: IssueDate = None,
    as_json: JsonOption = False,
) -> None:
    """Show a subscriber's planned picks for one issue, with the reason for each."""
    from digest.rank.planning import picks_of
    from digest.subscribers.manage import require_subscriber

    issue = parse_date_option(day) or _latest_day()
    subscriber = require_subscriber(stored_db(), email)
    plan, titles = picks_of(stored_db(), subscriber.id, issue) if issue else (None, {})
    email = subscriber.email  # as stored, not as typed
    if as_json:
        print_json(
            None
            if plan is None
            else {
                "subscriber_id": plan.subscriber_id,
                "issue_date": plan.issue_date.isoformat(),
                "candidates": plan.candidates,
                "picks": [
                    dataclasses.asdict(p) | {"title": titles.get(p.paper_id, "")}
                    for p in plan.picks
                ],
            }
        )
        return
    if plan is None:
        from digest.store.ranking import latest_plan_date

        when = f" on {issue}" if issue else " yet"
        last = latest_plan_date(stored_db(), subscriber.id)
        hint = (
            f"their latest planned issue is {last}: `digest picks {email} --date {last}`"
            if last and last != issue
            else "`digest run` plans each issue; `digest preview` shows what one would hold"
        )
        console.print(f"no planned issue for {escape(email)}{when} ({escape(hint)})")
        return
    console.print(
        f"{escape(email)}: issue {plan.issue_date}, {len(plan.picks)} picks "
        f"from {plan.candidates} candidates (scores: this reader's ranking scores)"
    )
    if not plan.picks:
        console.print("  nothing cleared the thresholds for this issue")
    for n, p in enumerate(plan.picks, start=1):
        console.print(
            f"{n:>3}. [bold]{escape(titles.get(p.paper_id, p.paper_id))}[/] "
            f"({escape(p.paper_id)})\n     {escape(p.why)}"
        )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app (and to the `topics` group)."""
    topics_app.command("try")(try_)
    topics_app.command("test")(test)
    app.command("trending")(trending_cmd)
    app.command("picks")(picks)
