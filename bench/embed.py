"""Embedding throughput: `digest embed` (our path: store, hash cache, batches) next to a plain
SentenceTransformer.encode of the same texts, in the same run. Prints abstracts/s, the ratio
and peak RSS. Not a test.

Texts: the recorded samples (89 papers) plus the 100 API `testing` papers, repeated to
--copies (the copies get distinct ids and a suffix so the cache can't skip them).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from digest.config import Config  # noqa: E402
from digest.embed.encoder import embed_missing, load_model, resolve_model_path  # noqa: E402
from digest.ingest.arxiv_feed import parse_feed  # noqa: E402
from digest.models import embedding_text  # noqa: E402
from digest.paths import PROJECT_DIR, SAMPLES_DIR  # noqa: E402
from digest.store import open_db  # noqa: E402
from digest.store import papers as paper_store  # noqa: E402


def sample_papers(copies: int):
    papers = []
    for path in sorted(SAMPLES_DIR.glob("*.xml")):
        papers += parse_feed(path.read_bytes()).papers
    api = (
        PROJECT_DIR
        / "tests/fixtures/arxiv/api/arxivpy-2026__q_testing_s0_m100_cfe7536492ca__http200.xml"
    )
    if api.exists():
        from digest.ingest.arxiv_api import parse_api_response

        papers += parse_api_response(api.read_bytes()).papers
    out = []
    for copy in range(copies):
        for paper in papers:
            out.append(
                replace(paper, id=f"{paper.id}-c{copy}", abstract=f"{paper.abstract} ({copy})")
            )
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=3)
    args = parser.parse_args()
    config = Config()
    papers = sample_papers(args.copies)
    texts = [embedding_text(p.title, p.abstract) for p in papers]
    print(f"texts: {len(texts)} (recorded samples, x{args.copies} with distinct suffixes)")

    started = time.perf_counter()
    model = load_model(config.embedding.model, "cpu")
    print(
        f"model load: {time.perf_counter() - started:.2f} s ({resolve_model_path(config.embedding.model)})"
    )

    model.encode(texts[:64], batch_size=64, normalize_embeddings=True)  # warm-up
    started = time.perf_counter()
    model.encode(
        texts,
        batch_size=config.embedding.batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    plain = time.perf_counter() - started
    print(
        f"baseline  SentenceTransformer.encode: {len(texts) / plain:8.1f} abstracts/s ({plain:.2f} s)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "bench.db")
        paper_store.upsert_papers(db, papers, source="bench")
        started = time.perf_counter()
        report = embed_missing(db, config.embedding)
        ours = time.perf_counter() - started
        print(
            f"digest embed (store + cache):         {report.embedded / ours:8.1f} abstracts/s "
            f"({ours:.2f} s, {report.embedded} embedded)"
        )
        started = time.perf_counter()
        again = embed_missing(db, config.embedding)
        print(
            f"second digest embed: {again.embedded} embedded in {time.perf_counter() - started:.3f} s"
        )
    print(f"ratio digest/baseline: {plain / ours:.2f}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
