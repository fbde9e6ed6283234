"""The README is the newcomer's manual: it must show the two commands CI runs and list every
CLI command exactly as the app defines it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_reference_module():
    spec = importlib.util.spec_from_file_location(
        "cli_reference", ROOT / "scripts/cli_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_in_readme_is_current():
    module = load_reference_module()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert module.reference() in readme, "run: python scripts/cli_reference.py --write"


def test_every_command_is_in_the_readme():
    module = load_reference_module()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path, _ in module.commands():
        assert f"`digest {' '.join(path)}`" in readme


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci/run").read_text(encoding="utf-8")
    assert "make test" in readme and "make test" in ci
    assert "make demo" in readme


def test_docs_links_resolve():
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(((?:docs|data)/[^)#]+)\)", readme):
        assert (ROOT / target).exists(), target
