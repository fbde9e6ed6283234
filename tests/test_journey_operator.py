"""An operator's and a curator's first day on the command line: what the help and the
status say must be what is so."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

CONFIG_KEY = re.compile(r"\\?\[([a-z_]+)\]\.([a-z_]+)")


def _commands():
    from typer.main import get_command

    from digest.cli import app

    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    return list(walk(get_command(app), []))


def _mentioned_keys(command) -> set[str]:
    """Every `[section].key` the command's help texts name, as the operator should read it."""
    texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
    return {f"[{s}].{k}" for text in texts for s, k in CONFIG_KEY.findall(text)}


@pytest.mark.parametrize("path", [p for p, c in _commands() if _mentioned_keys(c)], ids=" ".join)
def test_help_shows_the_config_keys_it_names(path, monkeypatch):
    """Rich read an unescaped '[arxiv]' as a style tag and dropped it: the help said
    'Default: .categories.'"""
    from digest.cli import app

    monkeypatch.setenv("COLUMNS", "400")
    command = dict((" ".join(p), c) for p, c in _commands())[" ".join(path)]
    shown = CliRunner().invoke(app, [*path, "--help"]).output
    for key in _mentioned_keys(command):
        assert key in shown, f"`digest {' '.join(path)} --help` lost {key!r}:\n{shown}"
