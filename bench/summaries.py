"""The summaries step on the real week: extractive cost, the cache on a re-run, the LLM budget.

Builds a database from `../shared/fixtures/arxiv/listings/` (1,202 papers, embedded with the
bundled model), syncs data/topics.toml, adds `--subscribers` readers (curated topics drawn at
random, one in four reading in German or Chinese) and plans the last day. Then prints, with wall
and CPU seconds beside the day's planning (the baseline, measured in the same run):

1. the extractive step, first run (sentence vectors computed) and re-run (all cached);
2. the openai backend against a loopback chat-completions server with `--latency` seconds per
   reply: first run (new TL;DRs), re-run (cache hits, no request), and a run with a small
   `--tight-seconds` budget on a fresh model name (what is over budget falls back, counted).

    python bench/summaries.py [--subscribers 200] [--latency 0.05] [--tight-seconds 2]
                              [--outbox DIR]   # also send the day to an outbox, to look at
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from digest.config import Config, MailConfig, SummariesConfig  # noqa: E402
from digest.embed.encoder import embed_missing  # noqa: E402
from digest.ingest.badging import record_badges  # noqa: E402
from digest.models import Paper  # noqa: E402
from digest.paths import PROJECT_DIR  # noqa: E402
from digest.rank.planning import plan_all  # noqa: E402
from digest.store import open_db  # noqa: E402
from digest.store import topics as topic_store  # noqa: E402
from digest.store.papers import upsert_papers  # noqa: E402
from digest.subscribers.manage import add_subscriber, update_subscriber  # noqa: E402
from digest.summaries.stage import summarise_issue  # noqa: E402
from digest.topics.toml_file import sync_topics  # noqa: E402
from tests.chat_server import chat_server  # noqa: E402

LISTINGS = Path(__file__).resolve().parents[2] / "shared/fixtures/arxiv/listings"
DAY = date(2025, 10, 10)


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def line(label: str, wall: float, cpu: float, base_wall: float, extra: str = "") -> None:
    print(
        f"{label:<34} {wall:7.2f} s wall {cpu:7.2f} s CPU  "
        f"({wall / max(base_wall, 1e-9):.2f}x planning){extra}"
    )


def listed_papers(path: Path) -> list[Paper]:
    """One listing file as a day's feed gives it: each paper announced that day (the plain
    JSONL import leaves the listing day unknown, and ranking reads papers by listing day)."""
    papers = []
    for text in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(text)
        day = date.fromisoformat(row["published"])
        papers.append(
            Paper(
                id=row["id"],
                title=" ".join(row["title"].split()),
                abstract=row["abstract"],
                authors=tuple(row["authors"]),
                categories=tuple(row["categories"]),
                primary_category=row["categories"][0],
                version=1,
                announce_type="new",
                announced=day,
                comments=row.get("comments"),
            )
        )
    return papers


def build(directory: Path, subscribers: int) -> tuple[Config, object]:
    config = Config(base_dir=directory, mail=MailConfig(outbox_dir=str(directory / "outbox")))
    fresh = not config.db_path.exists()
    db = open_db(config.db_path)
    if fresh:
        # topics first: their seeds are papers of another week, accepted while none is stored
        sync_topics(db, PROJECT_DIR / "data" / "topics.toml")
        for path in sorted(LISTINGS.glob("*.jsonl")):
            papers = listed_papers(path)
            upsert_papers(db, papers, source="feed")
            record_badges(db, papers)
    embedded, wall, cpu = timed(lambda: embed_missing(db, config.embedding))
    print(f"embedded {embedded.embedded} papers in {wall:.1f} s wall, {cpu:.1f} s CPU")
    names = [t.name for t in topic_store.list_topics(db, kind="curated")]
    rng = random.Random(19)
    db.execute("DELETE FROM summaries")  # every run measures the cache from empty
    db.execute("DELETE FROM digest_leads")
    db.execute("DELETE FROM embeddings WHERE content_hash LIKE 's:%'")
    db.execute("DELETE FROM deliveries")
    db.execute("DELETE FROM picks")
    db.execute("DELETE FROM plans")
    db.execute("DELETE FROM subscribers")
    for i in range(subscribers):
        sub = add_subscriber(
            db, f"reader{i}@example.org", status="active", topics=rng.sample(names, 2)
        )
        if i % 4 == 1:
            update_subscriber(db, sub.id, language=rng.choice(["de", "zh"]))
    return config, db


def first_sentence_share(db) -> float:
    """How often the chosen line is simply the abstract's opening (background, usually)."""
    from digest.mail.text import plain_tex
    from digest.store.papers import get_papers
    from digest.summaries.sentences import split_sentences

    rows = db.execute("SELECT paper_id, lead FROM digest_leads").fetchall()
    papers = get_papers(db, sorted({pid for pid, _ in rows}))
    firsts = {pid: split_sentences(plain_tex(p.abstract))[:1] for pid, p in papers.items()}
    return sum(1 for pid, lead in rows if [lead] == firsts.get(pid)) / max(len(rows), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--tight-seconds", type=float, default=2.0)
    parser.add_argument("--outbox", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=None, help="keep the database here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        config, db = build(work, args.subscribers)
        planned, base_wall, base_cpu = timed(lambda: plan_all(db, config, DAY))
        print(f"planned {planned.planned} readers, {planned.picks} picks for {DAY}")
        line("baseline: planning the day", base_wall, base_cpu, base_wall)
        from digest.embed.encoder import load_model

        _, wall, cpu = timed(lambda: load_model(config.embedding.model))
        line("loading the model (once a process)", wall, cpu, base_wall)
        first, wall, cpu = timed(lambda: summarise_issue(db, config, DAY))
        line(
            "extractive, first run",
            wall,
            cpu,
            base_wall,
            f"  {first.cards} cards, {first.papers} papers, "
            f"{first.sentences_embedded} sentences embedded",
        )
        print(f"{'':34} {first_sentence_share(db):.0%} of the lead lines are the abstract's first")
        again, wall, cpu = timed(lambda: summarise_issue(db, config, DAY))
        line(
            "extractive, re-run",
            wall,
            cpu,
            base_wall,
            f"  {again.sentences_cached} sentence vectors from the cache, "
            f"{again.sentences_embedded} computed",
        )
        with chat_server() as (server, url):
            server.latency = args.latency
            llm = dataclasses.replace(
                config,
                summaries=SummariesConfig(
                    backend="openai", model="bench-model", base_url=url, concurrency=4
                ),
            )
            for label in ("openai, first run", "openai, re-run"):
                asked = len(server.requests)
                report, wall, cpu = timed(lambda llm=llm: summarise_issue(db, llm, DAY))
                line(
                    label,
                    wall,
                    cpu,
                    base_wall,
                    f"  {report.llm_new} new, {report.llm_cache_hits} cache hits, "
                    f"{len(server.requests) - asked} requests, {report.llm_leads} TL;DR cards",
                )
            tight = dataclasses.replace(
                llm,
                summaries=dataclasses.replace(
                    llm.summaries, model="another-model", max_seconds_per_run=args.tight_seconds
                ),
            )
            report, wall, cpu = timed(lambda: summarise_issue(db, tight, DAY))
            line(
                f"openai, {args.tight_seconds:g} s budget",
                wall,
                cpu,
                base_wall,
                f"  {report.llm_new} new, {report.llm_over_budget} over budget -> extractive "
                f"({report.extractive_leads} extractive cards)",
            )
        if args.outbox:
            from digest.mail.sending import send_issue

            outboxed = dataclasses.replace(
                llm, mail=MailConfig(outbox_dir=str(args.outbox.resolve()))
            )
            summarise_issue(db, config, DAY)  # the offline lines, as the demo shows them
            sent = send_issue(db, outboxed, DAY, force=True)
            print(f"sent {sent.sent} digests to {args.outbox}/{DAY}")
        db.conn.close()


if __name__ == "__main__":
    main()
