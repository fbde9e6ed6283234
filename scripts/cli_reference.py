"""Print the CLI reference (every command with its one-line help) as a Markdown table.

README.md embeds its output between the `<!-- cli-reference -->` markers; run
`python scripts/cli_reference.py --write` after adding a command. A test checks they agree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from typer.main import get_command

from digest.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- cli-reference -->", "<!-- /cli-reference -->"


def commands(command=None, path=()):
    command = command or get_command(app)
    subcommands = getattr(command, "commands", None)
    if subcommands:
        for name in sorted(subcommands):
            yield from commands(subcommands[name], (*path, name))
    elif path:
        yield path, command


def reference() -> str:
    rows = ["| command | what it does |", "|---|---|"]
    for path, command in commands():
        options = [
            f"`{p.opts[0]}`"
            for p in command.params
            if p.param_type_name == "option" and p.opts[0] not in ("--help",)
        ]
        first_line = " ".join((command.help or "").strip().split("\n\n")[0].split())
        first_line = first_line.replace("\\[", "[").replace("|", "\\|")
        opts = f" <br>options: {', '.join(options)}" if options else ""
        rows.append(f"| `digest {' '.join(path)}` | {first_line}{opts} |")
    return "\n".join(rows)


def write_readme() -> None:
    text = README.read_text(encoding="utf-8")
    block = f"{START}\n{reference()}\n{END}"
    text = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    README.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    if "--write" in sys.argv:
        write_readme()
    else:
        print(reference())
