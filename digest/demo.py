"""`digest demo`: the whole product, offline, on the recorded sample feeds.

Each step calls the same library functions the real commands use; the demo only chooses
the inputs (bundled samples instead of the network, the outbox instead of real mail).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from digest.embed import embed_missing
from digest.ingest import ingest_feed_file
from digest.paths import SAMPLES_DIR


def sample_feeds() -> list:
    return sorted(SAMPLES_DIR.glob("*.xml"))


def run_demo(state, progress_factory: Callable) -> Iterator[str]:
    config, db = state.config, state.db
    yield f"digest demo: working in {config.base_dir} (database {config.db_path})"
    for path in sample_feeds():
        report = ingest_feed_file(db, config, path, label=path.name.split("-20")[0])
        c = report.counts
        yield (f"ingested {path.name}: {c.fetched} papers ({c.new} new, {c.updated} updated, "
               f"{c.unchanged} unchanged, {c.skipped} skipped) for {report.channel_date}")
    with progress_factory("embedding") as advance:
        embedded = embed_missing(db, config.embedding, progress=advance)
    yield f"embedded {embedded.embedded} papers ({embedded.cached} were cached) with {embedded.model}"
