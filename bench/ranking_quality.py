"""Ranking quality on the development set (protocol: tests/fixtures/eval/README.md).

"A subscriber likes five papers; what else will they like?" Every paper of papers_dev.jsonl is
imported into a fresh database and embedded with the configured model; for each group (sorted),
20 trials draw 5 liked papers with random.Random(0); the project's ranker ranks every other
paper through exactly the code path of `digest topics try --like ...` (`try_topic`), and P@10
is the share of the top 10 from the liked papers' group. The three reference methods are
computed in the same run on the same vectors.

    python bench/ranking_quality.py [--data tests/fixtures/eval/papers_dev.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "tests" / "fixtures" / "eval" / "papers_dev.jsonl"
TRIALS_PER_GROUP = 20
LIKES_PER_TRIAL = 5
TOP = 10


def load_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def build_db(path: Path, rows: list[dict], config):
    """Fresh store with every paper imported (digest's JSONL import) and embedded."""
    from digest.backfill import import_jsonl
    from digest.embed import embed_missing
    from digest.store import open_db

    db = open_db(path)
    stripped = path.parent / "papers.jsonl"  # the ranker must never see the group label
    with stripped.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps({k: v for k, v in row.items() if k != "group"}) + "\n")
    report = import_jsonl(db, stripped)
    if report.counts.new != len(rows):
        sys.exit(f"import stored {report.counts.new} of {len(rows)} papers: {report.error}")
    embed_missing(db, config.embedding)
    return db


def make_trials(rows: list[dict]) -> list[tuple[str, list[str]]]:
    rng = random.Random(0)
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row["id"])
    trials = []
    for group in sorted(groups):
        for _ in range(TRIALS_PER_GROUP):
            trials.append((group, rng.sample(groups[group], LIKES_PER_TRIAL)))
    return trials


def reference_rankers(rows: list[dict], ids: list[str], vectors: np.ndarray):
    """The three reference methods, each: liked ids -> ranked candidate ids."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    position = {pid: i for i, pid in enumerate(ids)}
    by_id = {r["id"]: r for r in rows}
    texts = [f"{by_id[i]['title']}\n\n{by_id[i]['abstract']}" for i in ids]
    tfidf = TfidfVectorizer(ngram_range=(1, 2)).fit_transform(texts)

    def order(scores: np.ndarray, liked: list[str]) -> list[str]:
        skip = {position[p] for p in liked}
        ranked = sorted((i for i in range(len(ids)) if i not in skip),
                        key=lambda i: (-scores[i], ids[i]))
        return [ids[i] for i in ranked]

    def mean_cosine(liked: list[str]) -> list[str]:
        centroid = vectors[[position[p] for p in liked]].mean(axis=0)
        return order(vectors @ centroid, liked)

    def svm(features, liked: list[str]) -> list[str]:
        labels = np.zeros(len(ids))
        labels[[position[p] for p in liked]] = 1
        model = LinearSVC(C=0.1, class_weight="balanced", max_iter=10000).fit(features, labels)
        return order(model.decision_function(features), liked)

    return {
        "mean embedding cosine": mean_cosine,
        "TF-IDF 1-2gram + LinearSVC": lambda liked: svm(tfidf, liked),
        "LinearSVC on embeddings": lambda liked: svm(vectors, liked),
    }


def precision(ranked: list[str], group_of: dict[str, str], group: str) -> float:
    return sum(group_of[p] == group for p in ranked[:TOP]) / TOP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()

    from digest.config import Config
    from digest.store.papers import load_all_vectors
    from digest.topic_lab import try_topic

    rows = load_rows(args.data)
    group_of = {r["id"]: r["group"] for r in rows}
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(base_dir=Path(tmp))
        db = build_db(Path(tmp) / "digest.db", rows, config)
        ids, vectors = load_all_vectors(db, config.embedding.model)
        trials = make_trials(rows)
        methods = {"digest (topics try --like)": None, **reference_rankers(rows, ids, vectors)}
        results: dict[str, dict[str, list[float]]] = {m: {} for m in methods}
        timings: list[float] = []
        for group, liked in trials:
            start = time.perf_counter()
            ranked = [r.paper_id for r in try_topic(db, config, like=liked, limit=TOP)]
            timings.append(time.perf_counter() - start)
            results["digest (topics try --like)"].setdefault(group, []).append(
                precision(ranked, group_of, group))
            for name, ranker in methods.items():
                if ranker is not None:
                    results[name].setdefault(group, []).append(
                        precision(ranker(liked), group_of, group))
        db.conn.close()

    groups = sorted({g for g, _ in trials})
    print(f"ranking quality: {len(rows)} papers, {len(groups)} groups, {len(trials)} trials "
          f"({TRIALS_PER_GROUP} per group, {LIKES_PER_TRIAL} liked papers each), P@{TOP}")
    header = f"{'method':<30} {'P@10':>6}  " + "  ".join(f"{g:>5}" for g in groups)
    print(header)
    print("-" * len(header))
    for name, per_group in results.items():
        overall = statistics.mean(v for g in groups for v in per_group[g])
        cells = "  ".join(f"{statistics.mean(per_group[g]):5.3f}" for g in groups)
        print(f"{name:<30} {overall:6.3f}  {cells}")
    timings.sort()
    print(f"\ntry_topic time per subscriber (DB read + rank of {len(rows)} stored papers): "
          f"median {1000 * timings[len(timings) // 2]:.1f} ms, "
          f"p95 {1000 * timings[int(len(timings) * 0.95)]:.1f} ms")
    print("target: P@10 >= 0.45; references in the protocol: 0.322, 0.320, 0.380")


if __name__ == "__main__":
    main()
