"""Two site trees and a symlink: a build updates the tree readers are NOT on, then swaps.

`[site].dir` is a symlink to `<dir>.trees/a` or `<dir>.trees/b`. A normal build brings the
other tree (the one that was live before the previous build) up to date: it writes only pages
whose fingerprint differs from what that tree holds (rendered, or hard-linked from the live tree
when the live tree already has them), deletes pages that are gone, then replaces the symlink
with os.replace (atomic: a reader sees the old tree or the new one, never a mix). Unchanged
pages cost nothing: no per-file link, copy or delete. Files are always written to a temporary
name and renamed, so a file shared (hard-linked) by both trees is never modified in place.

A directory at `[site].dir` (the layout before trees) is replaced by the symlink on the first
build, atomically where the OS allows (renameat2 RENAME_EXCHANGE).
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from digest.site import write

SLOTS = ("a", "b")


@dataclass
class Trees:
    target: Path  # the configured site path (a symlink once built)
    live: str | None  # slot readers are on now; None before the first tree build
    slot: str  # slot this build writes

    @property
    def folder(self) -> Path:
        return self.target.parent / f"{self.target.name}.trees"

    @property
    def root(self) -> Path:
        return self.folder / self.slot

    @property
    def live_root(self) -> Path | None:
        """Where the current site's files are (a tree, a legacy directory, or nothing)."""
        if self.live is not None:
            return self.folder / self.live
        if self.target.is_dir():
            return self.target
        return None


def marker(folder: Path) -> str | None:
    """A tree directory's identity (device:inode); None when it does not exist."""
    try:
        info = folder.stat()
    except FileNotFoundError:
        return None
    return f"{info.st_dev}:{info.st_ino}"


def locate(target: Path) -> Trees:
    live = None
    if target.is_symlink():
        name = Path(os.readlink(target)).name
        live = name if name in SLOTS else None
    slot = "b" if live == "a" else "a"
    return Trees(target, live, slot)


write_atomic = write.write_file


def link_atomic(source_root: Path, root: Path, relative: str) -> bool:
    """Make root/relative the same file as source_root/relative; False when it isn't there."""
    path = root / relative
    temp = path.with_name(f".{path.name}.tmp")
    try:
        os.link(source_root / relative, temp)
    except FileExistsError:
        temp.unlink()
        os.link(source_root / relative, temp)
    except FileNotFoundError:
        if not (source_root / relative).is_file():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        os.link(source_root / relative, temp)
    except OSError:
        shutil.copy2(source_root / relative, temp)
    os.replace(temp, path)
    return True


def link_many(source_root: Path, root: Path, paths: list[str], threads: int = 4) -> set[str]:
    """link_atomic for many paths (threads overlap the syscalls); returns the paths missing."""
    from concurrent.futures import ThreadPoolExecutor

    for folder in {str(Path(p).parent) for p in paths}:
        (root / folder).mkdir(parents=True, exist_ok=True)

    def chunk_links(chunk: list[str]) -> list[str]:
        return [p for p in chunk if not link_atomic(source_root, root, p)]

    size = max(1, len(paths) // (threads * 4) + 1)
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return {m for found in pool.map(chunk_links, chunks) for m in found}


def remove_files(root: Path, paths: list[str]) -> None:
    for relative in paths:
        try:
            (root / relative).unlink()
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            shutil.rmtree(root / relative, ignore_errors=True)


def clear_slot(trees: Trees) -> Path | None:
    """Empty the slot this build writes: moved aside now (cheap), deleted later in the
    background by remove_in_background."""
    trees.folder.mkdir(parents=True, exist_ok=True)
    root = trees.root
    if not root.exists():
        return None
    trash = trees.folder / f"trash-{os.getpid()}-{trees.slot}"
    shutil.rmtree(trash, ignore_errors=True)
    os.rename(root, trash)
    return trash


def remove_in_background(trees: Trees, trash: Path | None) -> threading.Thread | None:
    """Delete moved-aside trees (this build's and any left by an interrupted one)."""
    leftovers = [p for p in trees.folder.glob("trash-*") if p != trash]
    doomed = ([trash] if trash else []) + leftovers
    if not doomed:
        return None

    def remove() -> None:
        for path in doomed:
            shutil.rmtree(path, ignore_errors=True)

    thread = threading.Thread(target=remove, name="site-tree-cleanup", daemon=True)
    thread.start()
    return thread


def sync_static(source: Path, root: Path) -> None:
    """Copy the static assets into the tree, replacing only files whose bytes differ."""
    for path in source.rglob("*"):
        if not path.is_file():
            continue
        relative = str(path.relative_to(source))
        destination = root / "static" / relative
        data = path.read_bytes()
        if destination.is_file() and destination.read_bytes() == data:
            continue
        write_atomic(root / "static", relative, data)


def swap_to(trees: Trees) -> None:
    """Point the site symlink at this build's tree (atomic); a legacy directory is exchanged
    with the symlink and then deleted."""
    target = trees.target
    link = target.parent / f".{target.name}.link-{os.getpid()}"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(os.path.join(trees.folder.name, trees.slot), link)
    if target.is_symlink() or not target.exists():
        os.replace(link, target)
        return
    # A real directory from the old layout: exchange it with the symlink, then drop it.
    if write._exchange(link, target):
        shutil.rmtree(link, ignore_errors=True)
        return
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    os.rename(target, old)
    os.replace(link, target)
    shutil.rmtree(old, ignore_errors=True)
