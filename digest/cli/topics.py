"""CLI commands for curated and personal topics (thin wrappers over library functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from digest.cli.common import console, err_console, print_json, state, stored_db

topics_app = typer.Typer(
    help="Curated and personal topics: list, show, add, edit, remove, sync from topics.toml, "
    "and the topic lab (try, test).",
    no_args_is_help=True,
)

OwnerOption = Annotated[
    str | None,
    typer.Option(
        "--owner",
        help="Email of the subscriber whose personal topic this is (default: a curated topic).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]


def _scope(owner: str | None) -> tuple[str, int | None]:
    """(kind, owner_id) for an optional --owner address."""
    if owner is None:
        return "curated", None
    from digest.subscribers.manage import require_subscriber

    return "personal", require_subscriber(stored_db(), owner).id


def _print_topic(details: dict) -> None:
    labels = {"seeds": "seed papers", "categories": "categories only"}
    for key in (
        "name",
        "kind",
        "description",
        "keywords",
        "exclude",
        "seeds",
        "authors",
        "categories",
        "threshold",
        "subscribers",
    ):
        value = details.get(key)
        if value in (None, "", []):
            continue
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        console.print(f"{labels.get(key, key):>16}: {escape(shown)}")


@topics_app.command("list")
def list_(
    personal: Annotated[
        bool, typer.Option("--personal", help="Also list subscribers' personal topics.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List curated topics with how many subscribers follow each."""
    from digest.topics.catalog import curated_topics_with_followers, list_topics, topic_as_dict

    rows = [topic_as_dict(t, followers=n) for t, n in curated_topics_with_followers(stored_db())]
    if personal:
        # the owner's address, which `topics show/edit/remove --owner` take (not their id)
        from digest.store.subscribers import list_subscribers

        emails = {s.id: s.email for s in list_subscribers(stored_db())}
        rows += [
            topic_as_dict(t) | {"owner": emails.get(t.owner_id or 0)}
            for t in list_topics(stored_db(), kind="personal")
        ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no topics yet: add one with `digest topics add` or `digest topics sync`")
        return
    table = Table("name", "kind", "subscribers", "threshold")
    # one line per topic on a narrow terminal: the summary is cut, `topics show` has it all
    table.add_column(
        "description / keywords",
        no_wrap=True,
        overflow="ellipsis",
        max_width=max(16, console.width - 64),
    )
    for row in rows:
        summary = row["description"] or ", ".join(row["keywords"] + row["authors"])
        table.add_row(
            escape(row["name"]),
            row["kind"] if row["kind"] == "curated" else f"personal of {escape(str(row['owner']))}",
            str(row.get("subscribers", "")),
            "" if row["threshold"] is None else f"{row['threshold']:g}",
            escape(summary[:70] + ("…" if len(summary) > 70 else "")),
        )
    console.print(table)


@topics_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Topic name (case does not matter).")],
    owner: OwnerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show every field of one topic."""
    from digest.store.topics import subscribers_following
    from digest.topics.catalog import require_topic, topic_as_dict

    kind, owner_id = _scope(owner)
    topic = require_topic(stored_db(), name, kind=kind, owner_id=owner_id)
    followers = (
        len(subscribers_following(stored_db(), topic.id or 0)) if kind == "curated" else None
    )
    details = topic_as_dict(topic, followers=followers)
    if as_json:
        print_json(details)
    else:
        _print_topic(details)


def _fields(description, keyword, exclude, seed, author, category, threshold) -> dict[str, Any]:
    """Only the options the user gave (lists replace the stored ones)."""
    given = {
        "description": description,
        "keywords": keyword,
        "exclude": exclude,
        "seed_ids": seed,
        "authors": author,
        "categories": category,
        "threshold": threshold,
    }
    return {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in given.items()
        if value is not None
    }


Description = Annotated[
    str | None,
    typer.Option(help="What the topic is about, in plain words (used for semantic matching)."),
]
Keywords = Annotated[
    list[str] | None,
    typer.Option("--keyword", "-k", help="Word or phrase that should appear (repeatable)."),
]
Excludes = Annotated[
    list[str] | None,
    typer.Option("--exclude", "-x", help="Word or phrase that rules a paper out (repeatable)."),
]
Seeds = Annotated[
    list[str] | None,
    typer.Option("--seed", help="arXiv id of a paper the topic is like (repeatable)."),
]
Authors = Annotated[
    list[str] | None, typer.Option("--author", help="Author to follow (repeatable).")
]
Categories = Annotated[
    list[str] | None,
    typer.Option("--category", help="Only papers in this arXiv category, e.g. cs.CL (repeatable)."),
]
Threshold = Annotated[
    float | None,
    typer.Option(
        help="Minimum score for a paper to be "
        "picked, between -1 and 1 (default: \\[ranking].default_threshold)."
    ),
]


@topics_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help='Topic name, e.g. "LLM agents".')],
    description: Description = None,
    keyword: Keywords = None,
    exclude: Excludes = None,
    seed: Seeds = None,
    author: Authors = None,
    category: Categories = None,
    threshold: Threshold = None,
    owner: OwnerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a topic.

    It needs at least a description, a keyword, a seed paper or an author. (Curated topics kept in topics.toml are better added there and synced.)"""
    from digest.models import Topic
    from digest.topics.catalog import add_topic, topic_as_dict

    kind, owner_id = _scope(owner)
    values = _fields(description, keyword, exclude, seed, author, category, threshold)
    topic = add_topic(
        state.db,
        Topic(
            name=name,
            kind=kind,
            owner_id=owner_id,
            **values,
        ),
    )
    if as_json:
        print_json(topic_as_dict(topic))
    else:
        console.print(escape(f"added {kind} topic {topic.name!r}"))


@topics_app.command("edit")
def edit(
    name: Annotated[str, typer.Argument(help="Name of the topic to change.")],
    rename: Annotated[str | None, typer.Option(help="New name.")] = None,
    description: Description = None,
    keyword: Keywords = None,
    exclude: Excludes = None,
    seed: Seeds = None,
    author: Authors = None,
    category: Categories = None,
    threshold: Threshold = None,
    no_threshold: Annotated[
        bool, typer.Option("--no-threshold", help="Use the default threshold again.")
    ] = False,
    owner: OwnerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a topic.

    A list option replaces the whole list (pass `--keyword ""` to clear the keywords); options not given stay as they are."""
    from digest.errors import UsageError
    from digest.topics.catalog import topic_as_dict, update_topic

    if no_threshold and threshold is not None:
        raise UsageError("choose one of --threshold and --no-threshold")
    kind, owner_id = _scope(owner)
    changes = _fields(description, keyword, exclude, seed, author, category, threshold)
    if rename is not None:
        changes["name"] = rename
    if no_threshold:
        changes["threshold"] = None
    if not changes:
        raise UsageError("nothing to change: give at least one option (see --help)")
    topic = update_topic(stored_db(), name, kind=kind, owner_id=owner_id, **changes)
    if as_json:
        print_json(topic_as_dict(topic))
    else:
        console.print(escape(f"updated {kind} topic {topic.name!r}"))


@topics_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="Name of the topic to delete.")],
    owner: OwnerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a topic; subscribers who followed it stop following it.

    A curated topic still in topics.toml comes back on the next sync: delete it there too."""
    from digest.store.topics import subscribers_following
    from digest.topics.catalog import remove_topic, require_topic, topic_as_dict

    kind, owner_id = _scope(owner)
    followers = 0
    if kind == "curated":
        found = require_topic(stored_db(), name, kind=kind)
        followers = len(subscribers_following(stored_db(), found.id or 0))
    topic = remove_topic(stored_db(), name, kind=kind, owner_id=owner_id)
    if as_json:  # the topic as it was, and how many stopped following it
        print_json(topic_as_dict(topic, followers=followers if kind == "curated" else None))
        return
    lost = f" ({followers} subscriber(s) no longer follow it)" if followers else ""
    console.print(escape(f"removed {kind} topic {topic.name!r}{lost}"))


@topics_app.command("sync")
def sync(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="Topics file (default: \\[ranking].topics_file in config.toml)."
        ),
    ] = None,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Also delete curated topics that are no longer in the file."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Load curated topics from topics.toml: check every line first, then add or update them all in one transaction.

    Errors name the file, line and topic."""
    from digest.errors import UsageError
    from digest.topics.toml_file import sync_topics

    path = file if file is not None else state.config.path(state.config.ranking.topics_file)
    if file is None and not path.exists():  # say where the path came from
        raise UsageError(
            f"{path}: topics file not found (named by [ranking].topics_file in "
            f"{state.config.source}; `digest init` writes a sample one)"
        )
    report = sync_topics(state.db, path, prune=prune)
    if as_json:
        print_json(report.as_dict())
        return
    for label, names in (
        ("added", report.added),
        ("updated", report.updated),
        ("removed", report.removed),
    ):
        if names:
            console.print(escape(f"{label}: {', '.join(names)}"))
    console.print(
        escape(
            f"{report.file}: {len(report.added)} added, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, {len(report.removed)} removed"
            + (f" ({report.unfollowed} subscriptions ended)" if report.unfollowed else "")
        )
    )
    if report.not_in_file:
        err_console.print(
            escape(
                "not in the file (kept; use --prune to delete): " + ", ".join(report.not_in_file)
            )
        )


def register(app: typer.Typer) -> None:
    """Add the `topics` group to the main app."""
    app.add_typer(topics_app, name="topics")
