"""CLI commands for a subscriber's library, private feed and chat channel (under `subscribers`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from digest.cli.common import JsonOption, console, err_console, print_json, state, stored_db
from digest.cli.spine import progress_bar
from digest.cli.subscribers import subscribers_app


def library(
    email: Annotated[str, typer.Argument(help="The subscriber's email address.")],
    file: Annotated[
        Path | None,
        typer.Argument(
            help="A BibTeX (.bib), RIS (.ris) or CSL-JSON (.json) export of their reference "
            "library (Zotero, Mendeley, JabRef, Google Scholar). Without it: show the stored one.",
            metavar="FILE",
        ),
    ] = None,
    no_fetch: Annotated[
        bool,
        typer.Option(
            "--no-fetch",
            help="Do not ask the arXiv API for papers the archive lacks now (the next daily "
            "run fetches them).",
        ),
    ] = False,
    remove: Annotated[bool, typer.Option("--remove", help="Forget their library.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Import a subscriber's reference library: new papers close to it come "From your library".

    Entries are matched by arXiv id, DOI, then title; arXiv ids the archive lacks are fetched from the arXiv API (one request every 3 s). A new import replaces the last one."""
    from digest.errors import UsageError
    from digest.store import library as library_store
    from digest.subscribers.library import import_library_file
    from digest.subscribers.manage import require_subscriber

    subscriber = require_subscriber(stored_db(), email)
    if remove:
        if file is not None:
            raise UsageError("give a FILE to import or --remove, not both")
        removed = library_store.remove_library(state.db, subscriber.id)
        console.print(
            escape(f"{'removed' if removed else 'no library stored for'} {subscriber.email}")
        )
        return
    if file is None:
        summary = library_store.library_summary(state.db, subscriber.id)
        if as_json:
            print_json(summary)
        elif summary is None:
            console.print(escape(f"{subscriber.email} has no library (import one with FILE)"))
        else:
            counts = ", ".join(f"{n} {s}" for s, n in sorted(summary["counts"].items()))
            console.print(
                escape(
                    f"{summary['file_name']} ({summary['format']}, {summary['entries']} entries, "
                    f"imported {summary['imported_at']}): {summary['papers']} papers; {counts}"
                )
            )
        return
    with progress_bar("fetching from the arXiv API") as advance:
        report = import_library_file(
            state.db, state.config, subscriber, file, fetch=not no_fetch, progress=advance
        )
    if as_json:
        print_json(report.as_dict())
        return
    for line in report.skipped:
        err_console.print(escape(f"{file}: skipped {line}"))
    console.print(
        escape(
            f"{subscriber.email}: {report.entries} entries from {file.name} ({report.format}): "
            f"{report.matched} matched ({report.by_arxiv_id} by arXiv id, {report.by_doi} by DOI, "
            f"{report.by_title} by title), {report.fetched} fetched from arXiv, "
            f"{report.unmatched} unmatched"
            + (f", {report.pending} left to fetch" if report.pending else "")
            + f"; {report.papers} papers in the library topic ({report.seconds:.1f} s)"
        )
    )
    if report.fetch_error:
        err_console.print(
            escape(
                f"the arXiv API failed ({report.fetch_error}); the next daily run fetches the rest"
            )
        )
    for title in report.unmatched_titles:
        console.print(escape(f"  not found: {title}"))


def feed(
    email: Annotated[str, typer.Argument(help="The subscriber's email address.")],
    new: Annotated[
        bool, typer.Option("--new", help="Make a new address; the old one stops working.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Print a subscriber's private Atom feed address (served by `digest serve`)."""
    from digest.subscribers.manage import require_subscriber
    from digest.web import feed as feeds
    from digest.web.plumbing import load_secret_key

    subscriber = require_subscriber(stored_db(), email)
    key = load_secret_key(state.config)
    make = feeds.new_feed_address if new else feeds.feed_token
    url = feeds.feed_url(state.config, make(state.db, key, subscriber.id))
    if as_json:
        print_json({"email": subscriber.email, "feed_url": url})
    else:
        typer.echo(url)


def channel(
    email: Annotated[str, typer.Argument(help="The subscriber's (or lab's) email address.")],
    webhook_url: Annotated[
        str | None,
        typer.Argument(
            help="A Slack (https://hooks.slack.com/services/…) or Discord "
            "(https://discord.com/api/webhooks/…) incoming-webhook URL. Without it: show theirs.",
            metavar="WEBHOOK_URL",
        ),
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Back to email.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Deliver a subscriber's digest to a Slack or Discord channel instead of email.

    A lab adds a subscriber for its channel with the topic it follows (`subscribers add lab@uni.edu --topic "LLM agents"`) and gives the channel's webhook here; each issue is posted at most once."""
    from digest.errors import UsageError
    from digest.subscribers.channels import channel_of, remove_channel, set_channel

    if remove and webhook_url:
        raise UsageError("give a WEBHOOK_URL or --remove, not both")
    if remove:
        removed = remove_channel(stored_db(), email)
        console.print(escape(f"{email}: {'back to email' if removed else 'had no channel'}"))
        return
    shown = (
        set_channel(stored_db(), email, webhook_url)
        if webhook_url
        else channel_of(stored_db(), email)
    )
    if as_json:
        print_json(shown)
    elif shown["service"] is None:
        console.print(escape(f"{shown['email']}: digests go by email (no chat channel)"))
    else:
        console.print(
            escape(f"{shown['email']}: digests go to {shown['service']} {shown['webhook']}")
        )


def register(app: typer.Typer) -> None:
    """Add `library`, `feed` and `channel` to the `subscribers` group."""
    del app
    subscribers_app.command("library")(library)
    subscribers_app.command("feed")(feed)
    subscribers_app.command("channel")(channel)
