"""Search bundles fed to the real `pagefind --service` over its pipe: the same pages as the
command line indexing the same HTML from files, and a clear error when the service fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from digest.errors import DigestError
from digest.site.pagefind_service import index_records

RECORDS = [
    (
        f"/papers/2501.{n:05d}.html",
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>t</title></head>'
        f'<body><main data-pagefind-body><h1 data-pagefind-meta="title">Paper {n} about '
        f"{word}</h1><p>An abstract mentioning {word} and number {n}.</p></main></body></html>",
    )
    for n, word in enumerate(["zebras", "giraffes", "transformers", "zebras & lions"])
]


def _fragments(bundle: Path) -> set[str]:
    return {p.name for p in (bundle / "fragment").iterdir()}


def test_service_indexes_the_same_pages_as_the_command_line(tmp_path):
    index_records(iter(RECORDS), tmp_path / "service")
    source = tmp_path / "source"
    for url, html in RECORDS:
        (source / url.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (source / url.lstrip("/")).write_text(html, encoding="utf-8")
    command = [sys.executable, "-m", "pagefind", "--site", str(source)]
    command += ["--output-path", str(tmp_path / "cli"), "--force-language", "en", "--silent"]
    subprocess.run(command, check=True, timeout=300)
    entry = json.loads((tmp_path / "service" / "pagefind-entry.json").read_text())
    assert entry["languages"]["en"]["page_count"] == len(RECORDS)
    # Fragments are named by a hash of their content (url, title, text): same pages, same names.
    assert _fragments(tmp_path / "service") == _fragments(tmp_path / "cli")


def _bundle_files(bundle: Path) -> dict[str, bytes]:
    return {str(p.relative_to(bundle)): p.read_bytes() for p in bundle.rglob("*") if p.is_file()}


def test_every_bundle_is_written_whole(tmp_path):
    """Pagefind's WriteFiles replied before its last files were on disk, and the service was
    stopped right after: about one bundle in forty came out with an empty pagefind-entry.json
    or a cut wasm file. The same records must give the same complete bundle every time."""
    bundles = []
    for run in range(150):
        index_records(iter(RECORDS[:2]), tmp_path / str(run))
        bundles.append(_bundle_files(tmp_path / str(run)))
    entry = json.loads(bundles[0]["pagefind-entry.json"])
    assert entry["languages"]["en"]["page_count"] == 2
    assert all(b"" not in bundle.values() for bundle in bundles)
    assert all(bundle == bundles[0] for bundle in bundles)


def test_a_service_that_dies_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGEFIND_BINARY_PATH", "/bin/false")
    with pytest.raises(DigestError, match="pagefind"):
        index_records(iter(RECORDS), tmp_path / "bundle")
    assert not (tmp_path / "bundle" / "pagefind-entry.json").exists()


def test_bundles_are_kept_then_dropped_when_search_is_turned_off(sample_db, sample_config):
    """The search child fingerprints and places bundles: an unchanged archive indexes nothing
    again (both trees), and with search off no tree keeps a bundle."""
    from dataclasses import replace

    from digest.site.build import build_site

    first = build_site(sample_db, sample_config)
    root = Path(first.dir).resolve().parent
    assert first.search_bundles_built == first.search_bundles >= 1
    again = [build_site(sample_db, sample_config) for _ in range(2)]
    assert [r.search_bundles_built for r in again] == [0, 0]  # linked, then kept
    assert all(
        list((tree / "search").glob("*/pagefind-entry.json"))
        for tree in root.iterdir()
        if tree.is_dir()
    )
    off = replace(sample_config, site=replace(sample_config.site, search=False))
    for _ in range(2):
        assert build_site(sample_db, off).search_bundles == 0
    assert not [p for tree in root.iterdir() if tree.is_dir() for p in (tree / "search").glob("*/")]


def test_a_bundle_left_cut_short_is_indexed_again(sample_db, sample_config):
    """Sites built before the fix can hold a bundle whose entry file is empty (in both trees:
    they share it by hard link); the next build must not keep or link it as unchanged."""
    from digest.site.build import build_site

    first = build_site(sample_db, sample_config)
    entry = sorted(Path(first.dir).glob("search/*/pagefind-entry.json"))[0]
    entry.write_bytes(b"")  # in place: every tree linking this file sees it empty
    again = build_site(sample_db, sample_config)
    assert again.search_bundles_built == 1
    rebuilt = Path(again.dir) / entry.relative_to(Path(first.dir))
    assert json.loads(rebuilt.read_bytes())["languages"]
