"""Render 10,000 digests of 10 papers each and send them to the outbox.

The subscribers are GENERATED (reader00000@bench.invalid ...); the papers are the recorded
arXiv samples in data/samples/ (86 + 4 real listings). Prints:
  - render rate (build_digest_email + to_mime + wire bytes) on N worker processes,
    with a single-process baseline measured in the same run;
  - send rate to the outbox backend (one fsynced .eml file per message, index pages);
  - the full ledger path (`send_issue` with the outbox: plan load, render, queue, claim,
    send, mark sent) on a smaller generated set, in a temporary SQLite file;
  - peak RSS of the parent and of the render workers.

Run: python bench/render_send.py [--count 10000] [--workers 2] [--ledger-count 1000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import secrets
import sys
import tempfile
import time
import zlib
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.config import Config, DatabaseConfig, MailConfig  # noqa: E402
from digest.models import DigestPlan, Paper, Pick, Subscriber  # noqa: E402
from digest.paths import SAMPLES_DIR  # noqa: E402

ISSUE = date(2025, 8, 20)
TOPICS = ("Language models", "Agents and planning", "Learning theory")
PAPERS_PER_DIGEST = 10


def sample_papers() -> list[Paper]:
    from digest.ingest.arxiv_feed import parse_feed

    papers: dict[str, Paper] = {}
    for path in sorted(SAMPLES_DIR.glob("*.xml")):
        for paper in parse_feed(path.read_bytes()).papers:
            papers.setdefault(paper.id, paper)
    return list(papers.values())


def generated_subscriber(n: int) -> Subscriber:
    return Subscriber(
        id=n + 1,
        email=f"reader{n:05d}@bench.invalid",
        name=f"Reader {n}",
        status="active",
        manage_token=secrets.token_urlsafe(24),
    )


def generated_plan(n: int, papers: list[Paper]) -> DigestPlan:
    rng = random.Random(n)
    chosen = rng.sample(papers, PAPERS_PER_DIGEST)
    picks = tuple(
        Pick(
            paper_id=p.id,
            score=round(0.9 - 0.03 * i, 3),
            topic=TOPICS[i % len(TOPICS)],
            why=f"close to your topic '{TOPICS[i % len(TOPICS)]}' ({0.9 - 0.03 * i:.2f})",
        )
        for i, p in enumerate(chosen)
    )
    return DigestPlan(subscriber_id=n + 1, issue_date=ISSUE, picks=picks, candidates=len(papers))


# ---------------------------------------------------------------- render workers
_PAPERS: list[Paper] = []
_BY_ID: dict[str, Paper] = {}
_CONFIG = Config()


def _init_worker(papers: list[Paper], config: Config) -> None:
    global _PAPERS, _BY_ID, _CONFIG
    _PAPERS, _BY_ID, _CONFIG = papers, {p.id: p for p in papers}, config


def render_one(n: int) -> bytes:
    """One finished digest as zlib-packed wire bytes (what send_issue keeps before queueing)."""
    from digest.mail import compose as emails
    from digest.mail.wire import to_wire

    subscriber = generated_subscriber(n)
    plan = generated_plan(n, _PAPERS)
    rendered = emails.build_digest_email(_CONFIG, subscriber, plan, _BY_ID)
    message = emails.to_mime(_CONFIG, subscriber, rendered, f"d_bench{n:05d}")
    return zlib.compress(to_wire(message), 1)


def render_all(count: int, workers: int, papers: list[Paper], config: Config) -> list[bytes]:
    if workers <= 1:
        _init_worker(papers, config)
        return [render_one(n) for n in range(count)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(papers, config)) as pool:
        return pool.map(render_one, range(count), chunksize=50)


def rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: kilobytes


# ---------------------------------------------------------------- ledger path
def ledger_path(count: int, papers: list[Paper], workdir: Path) -> tuple[float, float, dict]:
    """send_issue to the outbox for `count` generated subscribers with saved plans."""
    from digest.mail.sending import send_issue
    from digest.rank import planning
    from digest.store import open_db, transaction
    from digest.store.papers import upsert_papers
    from digest.store.subscribers import insert_subscriber

    config = Config(
        database=DatabaseConfig(path=str(workdir / "ledger.db")),
        mail=MailConfig(outbox_dir=str(workdir / "ledger-outbox"), rate_per_second=1e6),
        base_dir=workdir,
    )
    db = open_db(config.db_path)
    upsert_papers(db, papers, source="bench")
    with transaction(db):
        for n in range(count):
            sub = generated_subscriber(n)
            sid = insert_subscriber(
                db,
                {
                    "email": sub.email,
                    "name": sub.name,
                    "status": "active",
                },
            )
            planning.save_plan(db, replace(generated_plan(n, papers), subscriber_id=sid))
    started, cpu = time.perf_counter(), cpu_seconds()
    report = send_issue(db, config, ISSUE, now=datetime(2025, 8, 20, 12, tzinfo=UTC))
    total, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    db.conn.close()
    return total, cpu, report.render_seconds, report.as_dict()


def cpu_seconds() -> float:
    """User + system CPU of this process and its waited-for children (the render workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-count", type=int, default=1000)
    parser.add_argument("--ledger-count", type=int, default=1000)
    args = parser.parse_args()

    papers = sample_papers()
    config = Config()
    print(
        f"papers: {len(papers)} from the recorded samples; subscribers: {args.count} "
        f"GENERATED (reader*@bench.invalid), {PAPERS_PER_DIGEST} papers each; "
        f"cpus: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}"
    )

    render_all(20, 1, papers, config)  # warm up templates + css-inline in the parent
    started, cpu_started = time.perf_counter(), cpu_seconds()
    render_all(args.baseline_count, 1, papers, config)
    baseline_wall = time.perf_counter() - started
    single = args.baseline_count / baseline_wall
    cpu_ms = (cpu_seconds() - cpu_started) * 1000 / args.baseline_count
    print(
        f"baseline render, 1 process:       {single:8.0f} emails/s "
        f"({args.baseline_count} emails in {baseline_wall:.1f} s wall, "
        f"{cpu_ms * args.baseline_count / 1000:.1f} s CPU; {cpu_ms:.1f} ms CPU each, so about "
        f"{args.workers * 1000 / cpu_ms:.0f}/s on {args.workers} idle cores)"
    )

    started, cpu_started = time.perf_counter(), cpu_seconds()
    packed = render_all(args.count, args.workers, papers, config)
    render_seconds, render_cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    sizes = [len(zlib.decompress(p)) for p in packed[:200]]
    print(
        f"render, {args.workers} processes:            {args.count / render_seconds:8.0f} "
        f"emails/s ({args.count} in {render_seconds:.1f} s wall, {render_cpu:.1f} s CPU; "
        f"target >= 300/s; "
        f"mean message {sum(sizes) / len(sizes) / 1024:.0f} KB)"
    )

    from digest.mail.outbox import OutboxBackend
    from digest.mail.wire import from_wire

    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp:
        backend = OutboxBackend(Path(tmp) / "outbox")
        backend.start_issue(ISSUE)
        started, cpu_started = time.perf_counter(), cpu_seconds()
        for n, blob in enumerate(packed):
            backend.send(from_wire(zlib.decompress(blob)), f"d_bench{n:05d}")
        send_seconds, send_cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
        started = time.perf_counter()
        backend.close()
        index_seconds = time.perf_counter() - started
        print(
            f"send to outbox, 1 process:        {args.count / send_seconds:8.0f} emails/s "
            f"({args.count} fsynced .eml files in {send_seconds:.1f} s wall, {send_cpu:.1f} s "
            f"CPU; index page "
            f"{index_seconds:.1f}s)"
        )
        del packed
        total, total_cpu, render_part, report = ledger_path(args.ledger_count, papers, Path(tmp))
        print(
            f"ledger path (send_issue, outbox): {args.ledger_count / total:8.0f} emails/s "
            f"end to end ({args.ledger_count} in {total:.1f} s wall, {total_cpu:.1f} s CPU: "
            f"render+queue "
            f"{render_part:.1f}s, claim/send/mark {report['send_seconds']:.1f}s; "
            f"sent {report['sent']})"
        )

    print(
        f"peak RSS: parent {rss_mb(resource.RUSAGE_SELF):.0f} MB, "
        f"largest render worker {rss_mb(resource.RUSAGE_CHILDREN):.0f} MB"
    )


if __name__ == "__main__":
    main()
