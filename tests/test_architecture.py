"""The package's shape, read from the source (nothing is imported): stages as packages, no import
cycles among digest modules, no module too big to read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "digest"
# What every stage shares may sit at the top; everything else lives in its stage's package.
TOP_LEVEL = {"config", "errors", "models", "paths", "pipeline", "render", "textclean"}
STAGES = {"ingest", "embed", "topics", "subscribers", "rank", "mail", "web", "site", "store"}
MAX_LINES = 420  # "about 400": split along a seam you can name


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every module under `package` (a package is its __init__)."""
    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The digest modules `name` imports anywhere in its source: at the top, inside functions and
    under `if TYPE_CHECKING:` alike (a type-only import still ties the two modules together)."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # `from pkg import child` imports the child module, `from mod import name` the module
            candidates = [
                f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in modules else stem
                for alias in node.names
            ]
        else:
            continue
        for target in candidates:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
    return targets


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = module_files(package)
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_cycles_among_digest_modules():
    found = cycles(import_graph())
    assert not found, "import cycles: " + " | ".join(" <-> ".join(c) for c in found)


def test_the_cycle_check_finds_a_planted_cycle(tmp_path):
    # The check itself: a ring of three modules, one through a function-level import and one
    # under TYPE_CHECKING, is reported; cutting one edge clears it.
    package = tmp_path / "digest"
    (package / "mail").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "mail" / "__init__.py").write_text('"""Mail."""\n')
    (package / "a.py").write_text("from digest.mail import b\n")
    (package / "mail" / "b.py").write_text("def f():\n    from digest.c import g\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import digest.a\n"
    )
    assert cycles(import_graph(package)) == [["digest.a", "digest.c", "digest.mail.b"]]
    (package / "c.py").write_text("import json\n")
    assert cycles(import_graph(package)) == []


def test_the_top_of_the_package_holds_only_what_every_stage_shares():
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert top <= TOP_LEVEL, f"modules at the top of digest/: {sorted(top - TOP_LEVEL)}"
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert STAGES <= packages


@pytest.mark.parametrize("package", sorted(p.name for p in PACKAGE.iterdir() if p.is_dir()))
def test_each_package_says_what_its_stage_does(package):
    init = PACKAGE / package / "__init__.py"
    if not init.exists():
        pytest.skip("not a package")
    assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), f"{init}: no docstring"


def test_no_module_is_too_long_to_read():
    long = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split along a seam): {long}"
