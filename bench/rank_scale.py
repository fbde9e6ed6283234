"""Ranking at scale: 1,000 candidate papers x 10,000 subscribers, 3 topics each, some feedback.

Everything here is GENERATED (no real subscribers exist): paper vectors are drawn around 60
random "subject" directions in 384 dimensions (like sentence embeddings of one field), titles
and abstracts from a 400-word vocabulary, authors from 3,000 names. Each subscriber follows two
of 40 shared curated topics and owns one personal topic (a description vector, two keywords,
sometimes a followed author); 30% have 4-20 likes/dislikes, which trains their feedback model
(the liked papers have generated words too, so the liked papers' significant terms are timed).

The ranking core is timed exactly as `planning.plan_all` runs it for one candidate window:
every topic's similarity to every paper as batched matrix products, then per subscriber the
feedback model, thresholds, MMR and why-lines (`rank.rank_pool`). Store reads are not in the
figure (see the planning section of docs/ranking.md). Baseline in the same run: the same
ranking with one small product per topic (no batching), on the first 1,000 subscribers.

A second, store-backed figure runs the real `planning.plan_all` (SQLite reads, ranking,
saving every plan) for `--store-subscribers` generated subscribers on the same generated papers
(vectors written straight into the store; description vectors pre-cached, so no model loads).

    python bench/rank_scale.py [--subscribers 10000] [--papers 1000] [--store-subscribers 1000]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from digest.models import Topic
from digest.rank import score as rank

DIM = 384
SUBJECTS = 60
CHUNK = 1000  # subscribers whose topics are multiplied against the pool in one product


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def generate(papers: int, subscribers: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    prng = random.Random(seed)
    subjects = unit_rows(rng.normal(size=(SUBJECTS, DIM)))
    common = unit_rows(rng.normal(size=(1, DIM)))[0] * 2.0  # the field's shared direction

    def around(count: int, spread: float = 0.9) -> np.ndarray:
        picks = rng.integers(0, SUBJECTS, size=count)
        return unit_rows(
            common
            + subjects[picks] * 1.5
            + rng.normal(scale=spread / np.sqrt(DIM) * 8, size=(count, DIM))
        )

    vocab = [f"term{i}" for i in range(400)]
    names = [f"Author {i}" for i in range(3000)]
    ids = [f"2601.{i:05d}" for i in range(papers)]
    titles = [" ".join(prng.sample(vocab, 6)) for _ in ids]
    abstracts = [" ".join(prng.sample(vocab, 40)) for _ in ids]
    authors = [tuple(prng.sample(names, 4)) for _ in ids]
    categories = [(prng.choice(["cs.AI", "cs.LG", "cs.CL", "cs.CV"]),) for _ in ids]
    pool = rank.CandidatePool.build(ids, titles, abstracts, authors, categories, around(papers))

    history = around(2000)  # earlier papers subscribers gave feedback on
    words_rng = random.Random(seed + 1)  # their words (for the liked papers' significant terms)
    history_words = [rank.text_words(" ".join(words_rng.sample(vocab, 46))) for _ in history]
    curated = [
        rank.TopicProfile(
            Topic(name=f"Curated {i}", kind="curated", keywords=(prng.choice(vocab),)),
            query_vector=around(1, 0.5)[0],
        )
        for i in range(40)
    ]
    readers = []
    for s in range(subscribers):
        personal = rank.TopicProfile(
            Topic(
                name=f"Mine {s}",
                description="generated",
                keywords=tuple(prng.sample(vocab, 2)),
                exclude=(prng.choice(vocab),),
                authors=(prng.choice(names),) if prng.random() < 0.3 else (),
            ),
            query_vector=around(1, 0.5)[0],
        )
        profiles = [*prng.sample(curated, 2), personal]
        model = None
        if prng.random() < 0.3:
            n_like, n_dislike = prng.randint(2, 12), prng.randint(2, 8)
            picked = rng.choice(len(history), size=n_like + n_dislike, replace=False)
            liked, disliked = history[picked[:n_like]], history[picked[n_like:]]
            profiles.append(
                rank.TopicProfile(
                    Topic(name="Papers you liked"),
                    liked_ids=tuple(f"h{i}" for i in picked[:n_like]),
                    liked_titles=tuple(f"History {i}" for i in picked[:n_like]),
                    liked_vectors=liked,
                    disliked_vectors=disliked,
                    label="",
                    liked_words=tuple(history_words[i] for i in picked[:n_like]),
                )
            )
            model = (liked, disliked)
        readers.append((profiles, model, prng.choice([5, 10, 10, 20])))
    return pool, readers


def rank_everyone(pool, readers, batched: bool) -> tuple[int, int]:
    """plan_all's ranking core; returns (subscribers with picks, total picks)."""
    with_picks = total = 0
    rng = random.Random(1)
    for start in range(0, len(readers), CHUNK):
        chunk = readers[start : start + CHUNK]
        semantic = (
            rank.semantic_scores(pool, [p for profiles, _, _ in chunk for p in profiles])
            if batched
            else None
        )
        offset = 0
        for profiles, feedback, max_papers in chunk:
            rows = None
            if semantic is not None:
                rows = semantic[offset : offset + len(profiles)]
                offset += len(profiles)
            extra = None
            if feedback is not None:
                liked, disliked = feedback
                negatives = np.vstack([disliked, pool.vectors[rng.sample(range(len(pool)), 50)]])
                model = rank.train_feedback_model(liked, negatives)
                extra = model.bonus(pool.vectors) if model else None
            picks = rank.rank_pool(
                pool,
                profiles,
                max_papers=max_papers,
                default_threshold=0.35,
                diversity_lambda=0.85,
                semantic=rows,
                extra=extra,
            )
            with_picks += bool(picks)
            total += len(picks)
    return with_picks, total


def store_backed(pool, subscribers: int, seed: int = 0) -> tuple[float, object]:
    """plan_all over a real SQLite store holding the generated papers and subscribers."""
    from digest.config import Config
    from digest.models import Paper
    from digest.rank.planning import plan_all
    from digest.store import open_db, transaction
    from digest.store.feedback import add_feedback
    from digest.store.papers import save_embeddings, upsert_papers
    from digest.store.subscribers import insert_subscriber
    from digest.store.topics import follow_topic, insert_topic

    prng = random.Random(seed)
    day = date(2026, 1, 7)
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(base_dir=Path(tmp))
        db = open_db(Path(tmp) / "digest.db")
        papers = [
            Paper(
                id=pid,
                title=t,
                abstract=a.split("\n", 1)[-1],
                authors=au,
                categories=c,
                announced=day,
                announce_type="new",
                is_arxiv=True,
            )
            for pid, t, a, au, c in zip(
                pool.ids, pool.titles, pool.texts, pool.authors, pool.categories, strict=True
            )
        ]
        upsert_papers(db, papers, source="bench")
        model = config.embedding.model
        save_embeddings(db, model, [p.content_hash for p in papers], pool.vectors)

        def cache_description(text: str, vector: np.ndarray) -> None:
            key = "q:" + hashlib.sha256(text.strip().encode()).hexdigest()[:30]
            save_embeddings(db, model, [key], vector[None, :])

        vocab = sorted({w for t in pool.titles for w in t.split()})
        curated_ids = []
        for i in range(40):
            text = f"curated subject {i}"
            cache_description(text, pool.vectors[prng.randrange(len(pool))])
            topic = insert_topic(
                db,
                Topic(
                    name=f"Curated {i}",
                    kind="curated",
                    description=text,
                    keywords=(prng.choice(vocab),),
                ),
            )
            curated_ids.append(topic.id)
        with transaction(db):
            for s in range(subscribers):
                sid = insert_subscriber(
                    db,
                    {
                        "email": f"reader{s}@example.org",
                        "status": "active",
                        "frequency": "daily",
                        "max_papers": prng.choice([5, 10, 10, 20]),
                        "created_at": "2026-01-01",
                        "source": "import",
                    },
                )
                for topic_id in prng.sample(curated_ids, 2):
                    follow_topic(db, sid, topic_id)
                text = f"personal subject {s}"
                cache_description(text, pool.vectors[prng.randrange(len(pool))])
                insert_topic(
                    db,
                    Topic(
                        name=f"Mine {s}",
                        kind="personal",
                        owner_id=sid,
                        description=text,
                        keywords=tuple(prng.sample(vocab, 2)),
                    ),
                )
                if prng.random() < 0.3:
                    for pid in prng.sample(pool.ids, prng.randint(4, 12)):
                        add_feedback(db, sid, pid, prng.choice(["like", "like", "dislike"]))
        start, cpu = time.perf_counter(), time.process_time()
        report = plan_all(db, config, day)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        db.conn.close()
    return elapsed, cpu, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--store-subscribers", type=int, default=1000)
    args = parser.parse_args()

    start = time.perf_counter()
    pool, readers = generate(args.papers, args.subscribers)
    made = time.perf_counter() - start
    topics = sum(len(p) for p, _, _ in readers)
    with_feedback = sum(m is not None for _, m, _ in readers)
    print(
        f"GENERATED data: {args.papers} candidate papers, {args.subscribers} subscribers, "
        f"{topics} topic rows (3 each + 'papers you liked' for {with_feedback} with feedback); "
        f"generation {made:.1f} s (not timed below)"
    )

    with rank.single_threaded_blas():  # as plan_all runs
        start, cpu_start = time.perf_counter(), time.process_time()
        with_picks, total = rank_everyone(pool, readers, batched=True)
        batched = time.perf_counter() - start
        batched_cpu = time.process_time() - cpu_start
        sample = readers[:1000]
        start, cpu_start = time.perf_counter(), time.process_time()
        rank_everyone(pool, sample, batched=False)
        unbatched = (time.perf_counter() - start) * len(readers) / len(sample)
        unbatched_cpu = (time.process_time() - cpu_start) * len(readers) / len(sample)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"rank everyone (batched, plan_all's core): {batched:.2f} s wall "
        f"({batched_cpu:.2f} s CPU: the machine may be shared), "
        f"{1000 * batched / len(readers):.2f} ms per subscriber; "
        f"{with_picks} subscribers got picks, {total} picks"
    )
    print(
        f"baseline (one product per topic, no batching), extrapolated from 1,000 subscribers: "
        f"{unbatched:.2f} s wall, {unbatched_cpu:.2f} s CPU ({unbatched / batched:.1f}x the "
        f"batched wall time, {unbatched_cpu / batched_cpu:.1f}x its CPU time)"
    )
    print(f"peak RSS: {rss_mb:.0f} MB")
    print("targets: < 10 s on 2 cores, peak RSS < 1.5 GB")
    if args.store_subscribers:
        elapsed, cpu, report = store_backed(pool, args.store_subscribers)
        print(
            f"store-backed plan_all (SQLite reads + ranking + saving plans), "
            f"{args.store_subscribers} subscribers: {elapsed:.2f} s wall, {cpu:.2f} s CPU, "
            f"{1000 * elapsed / args.store_subscribers:.2f} ms per subscriber "
            f"({report.planned} planned, {report.failed} failed, {report.picks} picks)"
        )


if __name__ == "__main__":
    main()
