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
    """Write via a temporary name + rename, so a file hard-linked into another site tree is
    replaced, never rewritten in place."""
    path = root / relative
    if isinstance(content, str):
        content = content.encode("utf-8")
    try:
        with open(path, "xb") as new_file:  # a new page: nothing to replace, no rename
            new_file.write(content)
        return
    except FileExistsError:
        pass
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as new_file:
            new_file.write(content)
        return
    temp = path.with_name(f".{path.name}.tmp")
    try:
        temp.write_bytes(content)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(content)
    os.replace(temp, path)


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
    shutil.copytree(source, new_root / relative, copy_function=_link_or_copy, dirs_exist_ok=True)
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


# ---------------------------------------------------------------- rendering in parallel
_PENDING: list = []
PARALLEL_MIN_PAGES = 1500
WRITE_THREADS = 2  # per rendering process


def _render_and_write(jobs: list, root: Path) -> int:
    """Render in this thread while two threads write (file creation waits on the disk, and
    releases the GIL meanwhile); at most 256 rendered pages wait in memory."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    if WRITE_THREADS < 1:
        for job in jobs:
            write_file(root, job.path, job.produce())
        return len(jobs)
    slots = threading.BoundedSemaphore(256)

    def write(relative: str, content) -> None:
        try:
            write_file(root, relative, content)
        finally:
            slots.release()

    futures = []
    with ThreadPoolExecutor(max_workers=WRITE_THREADS, thread_name_prefix="site-write") as writers:
        for job in jobs:
            content = job.produce()
            slots.acquire()
            futures.append(writers.submit(write, job.path, content))
            if len(futures) >= 1024:
                for future in futures:
                    future.result()
                futures = []
        for future in futures:
            future.result()
    return len(jobs)


def _render_share(args: tuple[int, int, str]) -> int:
    import gc

    gc.enable()  # the parent builds with the cyclic collector off (its heap is frozen)
    share, workers, root = args
    return _render_and_write(_PENDING[share::workers], Path(root))


def render_pool(jobs: list, workers: int):
    """A fork pool that renders `jobs` (inherited, not pickled); None when not worth it.

    Create it before starting any thread: forking a process with running threads is unsafe.
    """
    global _PENDING
    import multiprocessing

    if (
        workers < 2
        or len(jobs) < PARALLEL_MIN_PAGES
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return None
    _PENDING = jobs
    return multiprocessing.get_context("fork").Pool(workers)


def render_jobs(jobs: list, root: Path, pool, workers: int) -> None:
    """Render and write every job, across the pool's processes when there is one."""
    global _PENDING
    if pool is None:
        _render_and_write(jobs, root)
        return
    try:
        pool.map(_render_share, [(share, workers, str(root)) for share in range(workers)])
    finally:
        pool.close()
        pool.join()
        _PENDING = []


def reuse_files(old_root: Path, new_root: Path, paths: list[str], threads: int = 4) -> set[str]:
    """Hard-link many unchanged files at once (link syscalls overlap in threads); returns the
    paths that were not there to reuse."""
    from concurrent.futures import ThreadPoolExecutor

    for folder in {str(Path(p).parent) for p in paths}:
        (new_root / folder).mkdir(parents=True, exist_ok=True)

    def link(chunk: list[str]) -> list[str]:
        missing = []
        for relative in chunk:
            try:
                os.link(old_root / relative, new_root / relative)
            except FileNotFoundError:
                missing.append(relative)
            except OSError:
                try:
                    shutil.copy2(old_root / relative, new_root / relative)
                except FileNotFoundError:
                    missing.append(relative)
        return missing

    size = max(1, len(paths) // (threads * 4) + 1)
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return {m for found in pool.map(link, chunks) for m in found}
