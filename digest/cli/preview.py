"""CLI commands for the email preview (thin wrappers over library functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from digest.cli.common import console, parse_date_option, print_json, state, stored_db


def preview(
    email: Annotated[str, typer.Argument(help="The subscriber's email address.")],
    day: Annotated[
        str | None,
        typer.Option(
            "--date", help="Issue date, YYYY-MM-DD (default: the latest announcement day)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the files (default: <outbox_dir>/preview)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the subject, paper count and file paths as JSON.")
    ] = False,
) -> None:
    """Render one subscriber's digest to .html, .txt and .eml files without sending it.

    Open the .html in a browser, or the .eml in a mail program, to see exactly what the subscriber would receive. Nothing is sent and the delivery ledger is not touched.
    """
    from digest.errors import DigestError
    from digest.mail.preview import preview_digest

    try:
        files = preview_digest(stored_db(), state.config, email, parse_date_option(day), out)
    except OSError as exc:  # --out not writable, a file, on a full disk...
        where = exc.filename or out or "the preview folder"
        raise DigestError(f"cannot write the preview to {where}: {exc.strerror or exc}") from exc
    if as_json:
        print_json(
            {
                "subject": files.subject,
                "papers": files.papers,
                "truncated": files.truncated,
                "html": str(files.html),
                "text": str(files.text),
                "eml": str(files.eml),
            }
        )
        return
    console.print(
        f"{files.subject}  ({files.papers} paper{'' if files.papers == 1 else 's'}"
        + (f", {files.truncated} left out of the HTML" if files.truncated else "")
        + ")",
        markup=False,
    )
    for path in (files.html, files.text, files.eml):
        console.print(str(path), markup=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("preview")(preview)
