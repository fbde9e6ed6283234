"""Benchmark: build the static archive for a year of announcements, then one more day.

The archive is GENERATED: the recorded sample papers (data/samples) are re-used under new ids
(250 announcement days x 400 papers by default), with synthetic author names drawn from the
recorded ones (a skewed pool, so some authors are prolific and co-author often) and synthetic
curated-topic matches (~5% of papers). Each copy's abstract gets a "[synthetic copy N]" suffix so
it has its own content hash; its vector is the recorded paper's stored vector plus small noise
(inserted directly via the store: no model runs during generation or the build).

Prints: generation time (not a target), full build, a no-op rebuild (the baseline), incremental
build after adding one day, each with its phase timings, and peak RSS (this process and pagefind).

    python bench/site_build.py [--days 250] [--per-day 400] [--workdir DIR] [--keep]
    python bench/site_build.py --workdir DIR --no-full   # incremental only, on a kept site

--no-full reuses the archive and site an earlier `--keep` run left in --workdir: it removes the
last day, brings both site trees up to date without it (two catch-up builds, shown but not
measured against a target), then times the incremental build and the next one. Cheap enough
to run several times for an A/B comparison.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from digest.config import Config, parse_config  # noqa: E402
from digest.models import Paper, Topic  # noqa: E402
from digest.paths import SAMPLES_DIR  # noqa: E402
from digest.site.build import build_site  # noqa: E402
from digest.store import open_db  # noqa: E402
from digest.store import ranking as rank_store  # noqa: E402
from digest.store.papers import get_papers, load_all_vectors, save_embeddings, upsert_papers  # noqa: E402
from digest.store.topics import insert_topic  # noqa: E402

TOPICS = [
    "Agents",
    "Language models",
    "Reinforcement learning",
    "Vision",
    "Safety",
    "Theory",
    "Robotics",
    "Speech",
]


def seed_recorded(workdir: Path) -> None:
    """Ingest and embed the two recorded samples once (the only model use, not measured)."""
    from digest.embed.encoder import embed_missing
    from digest.ingest.daily import ingest_feed_file

    if (workdir / "seed.db").exists():
        return
    seed = open_db(workdir / "seed.db")
    config = Config()
    ingest_feed_file(seed, config, SAMPLES_DIR / "cs.AI-2025-08-20.atom.xml", label="cs.AI")
    ingest_feed_file(
        seed, config, SAMPLES_DIR / "cs.LG+cs.AI+cs.CL+stat.ML-2026-09-24.rss.xml", label="rss"
    )
    embed_missing(seed, config.embedding)
    seed.conn.close()


def recorded_papers(workdir: Path) -> tuple[list[Paper], dict[str, np.ndarray]]:
    seed = open_db(workdir / "seed.db")
    ids, vectors = load_all_vectors(seed, Config().embedding.model)
    papers = get_papers(seed, ids)
    return [papers[i] for i in ids], {i: v for i, v in zip(ids, vectors, strict=True)}


def author_pool(papers: list[Paper], size: int, rng) -> list[str]:
    firsts = sorted({a.split()[0] for p in papers for a in p.authors if " " in a})
    lasts = sorted({a.split()[-1] for p in papers for a in p.authors if " " in a})
    names: set[str] = set()
    while len(names) < size:
        names.add(f"{firsts[rng.integers(len(firsts))]} {lasts[rng.integers(len(lasts))]}")
    return sorted(names)


def add_day(
    db,
    config: Config,
    day: date,
    count: int,
    start: int,
    base: list[Paper],
    vectors: dict[str, np.ndarray],
    pool: list[str],
    topic_ids: list[int],
    rng,
) -> None:
    papers, hashes, new_vectors, matches = [], [], [], []
    for n in range(start, start + count):
        source = base[n % len(base)]
        k = int(rng.integers(2, 8))
        picks = {int(len(pool) * rng.random() ** 1.5) for _ in range(k)}
        paper = replace(
            source,
            id=f"{2000 + day.year % 100}{day.month:02d}.{n:06d}",
            abstract=f"{source.abstract} [synthetic copy {n}]",
            authors=tuple(pool[i] for i in sorted(picks)),
            announced=day,
            announce_type="new" if rng.random() < 0.8 else "cross",
            version=1,
        )
        papers.append(paper)
        noisy = vectors[source.id] + rng.normal(0, 0.08, vectors[source.id].shape)
        hashes.append(paper.content_hash)
        new_vectors.append(noisy / np.linalg.norm(noisy))
        for topic_id in topic_ids:
            if rng.random() < 0.05:
                matches.append((topic_id, paper.id, day.isoformat(), float(rng.uniform(0.35, 0.8))))
    upsert_papers(db, papers, source="bench")
    save_embeddings(db, config.embedding.model, hashes, np.asarray(new_vectors, np.float32))
    rank_store.replace_topic_matches(db, [day], matches)


def announcement_days(count: int, first: date) -> list[date]:
    days, day = [], first
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def peak_rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (render workers, pagefind)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def show(label: str, report, seconds: float, cpu: float) -> None:
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items())
    print(
        f"{label:<26} {seconds:7.1f} s  (cpu {cpu:.0f} s, load {load_average()})  pages "
        f"{report.pages} (rendered {report.rendered}, reused {report.reused}), search bundles "
        f"{report.search_bundles_built}/{report.search_bundles}  [{phases}]",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--per-day", type=int, default=400)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the generated DB")
    parser.add_argument(
        "--no-full", action="store_true", help="skip the full build: reuse a kept site (see above)"
    )
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="digest-site-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    config = parse_config(
        {"database": {"path": "bench.db"}, "site": {"dir": "site"}},
        source="bench",
        base_dir=workdir,
    )
    days = announcement_days(args.days + 1, date(2025, 1, 6))
    if args.seed_only:
        return seed_recorded(workdir)
    if args.build_only:
        return measure_builds(args, workdir, config, days)
    if args.no_full and not config.db_path.exists():
        parser.error(f"--no-full needs a kept archive and site in {workdir} (run with --keep)")
    print(f"cpus: {os.cpu_count()}  workdir: {workdir}")
    import subprocess

    # The model runs once, in a child process, to embed the recorded samples.
    subprocess.run([sys.executable, __file__, "--seed-only", "--workdir", str(workdir)], check=True)
    base, vectors = recorded_papers(workdir)
    rng = np.random.default_rng(7)
    pool = author_pool(base, max(2000, args.days * args.per_day // 2), rng)
    if config.db_path.exists() and (args.keep or args.no_full):
        print("reusing the generated archive in", config.db_path)
    else:
        config.db_path.unlink(missing_ok=True)
        db = open_db(config.db_path)
        started = time.perf_counter()
        topic_ids = [insert_topic(db, Topic(name=n, kind="curated")).id for n in TOPICS]
        for i, day in enumerate(days[:-1]):
            add_day(
                db, config, day, args.per_day, i * args.per_day, base, vectors, pool, topic_ids, rng
            )
        print(
            f"generated {args.days} days x {args.per_day} papers "
            f"({args.days * args.per_day} papers, {len(pool)} author names) in "
            f"{time.perf_counter() - started:.1f} s (not a target)",
            flush=True,
        )
        db.conn.close()
    # The builds run in a fresh process so peak RSS is the build's, not the generator's.
    command = [
        sys.executable,
        __file__,
        "--build-only",
        "--workdir",
        str(workdir),
        "--days",
        str(args.days),
        "--per-day",
        str(args.per_day),
        *(["--no-full"] if args.no_full else []),
    ]
    subprocess.run(command, check=True)
    if not args.keep and not args.no_full:
        shutil.rmtree(workdir, ignore_errors=True)


def measure_builds(args, workdir: Path, config: Config, days: list[date]) -> None:
    base, vectors = recorded_papers(workdir)
    rng = np.random.default_rng(11)
    pool = author_pool(base, max(2000, args.days * args.per_day // 2), rng)
    db = open_db(config.db_path)
    topic_ids = [r[0] for r in db.execute("SELECT id FROM topics ORDER BY id")]
    db.execute("DELETE FROM listings WHERE announce_date = ?", [days[-1].isoformat()])
    db.execute("DELETE FROM papers WHERE first_announced = ?", [days[-1].isoformat()])
    print(f"load average before the builds: {load_average()}", flush=True)
    if args.no_full:
        for label in ("catch-up build (tree 1)", "catch-up build (tree 2)"):
            started, cpu = time.perf_counter(), cpu_seconds()
            report = build_site(db, config)
            show(label, report, time.perf_counter() - started, cpu_seconds() - cpu)
    else:
        site = workdir / "site"
        if site.is_symlink():
            site.unlink()
        shutil.rmtree(site, ignore_errors=True)
        shutil.rmtree(workdir / "site.trees", ignore_errors=True)
        started, cpu = time.perf_counter(), cpu_seconds()
        full = build_site(db, config, full=True)
        show("full build", full, time.perf_counter() - started, cpu_seconds() - cpu)
        started, cpu = time.perf_counter(), cpu_seconds()
        noop = build_site(db, config)
        show("no-op rebuild (baseline)", noop, time.perf_counter() - started, cpu_seconds() - cpu)
    add_day(
        db,
        config,
        days[-1],
        args.per_day,
        args.days * args.per_day,
        base,
        vectors,
        pool,
        topic_ids,
        rng,
    )
    started, cpu = time.perf_counter(), cpu_seconds()
    incremental = build_site(db, config)
    show("incremental (+1 day)", incremental, time.perf_counter() - started, cpu_seconds() - cpu)
    started, cpu = time.perf_counter(), cpu_seconds()
    again = build_site(db, config)
    show("next build (other tree)", again, time.perf_counter() - started, cpu_seconds() - cpu)
    print(f"load average after the builds: {load_average()}")
    own, children = peak_rss_mb()
    print(
        f"peak RSS: build process {own:.0f} MB, largest child (render worker or pagefind) "
        f"{children:.0f} MB"
    )
    print("targets: full < 180 s, incremental < 10 s, peak RSS < 2048 MB")


if __name__ == "__main__":
    sys.exit(main())
