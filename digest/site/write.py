"""Writing the site: a fresh directory next to the target, then one atomic swap.

Unchanged pages are hard-linked from the current site (no copy, no re-render). The swap uses
Linux renameat2(RENAME_EXCHANGE) so the target path always holds a complete site; elsewhere it
falls back to two renames (the target is briefly absent, never half-built).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def new_build_dir(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    build = target.parent / f".{target.name}.building-{os.getpid()}"
    if build.exists():
        shutil.rmtree(build)
    build.mkdir()
    return build


def write_file(root: Path, relative: str, content: str | bytes) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)


def reuse_file(old_root: Path, new_root: Path, relative: str) -> bool:
    """Hard-link (or copy) a file from the previous build; False when it isn't there."""
    source = old_root / relative
    if not source.is_file():
        return False
    target = new_root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return True


def reuse_tree(old_root: Path, new_root: Path, relative: str) -> bool:
    source = old_root / relative
    if not source.is_dir():
        return False
    shutil.copytree(source, new_root / relative, copy_function=_link_or_copy,
                    dirs_exist_ok=True)
    return True


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _exchange(a: Path, b: Path) -> bool:
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def swap_in(build: Path, target: Path) -> None:
    """Make `build` the site at `target`, atomically where the OS allows; drop the old site."""
    if target.exists() and _exchange(build, target):
        shutil.rmtree(build, ignore_errors=True)  # `build` now holds the old site
        return
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.rename(target, old)
    os.rename(build, target)
    shutil.rmtree(old, ignore_errors=True)
