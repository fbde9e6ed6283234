"""How fast the subscriber/topic/feedback store is at newsletter scale (not a test).

Generates 10,000 subscribers (generated addresses, say so), 5 curated topics, one personal
topic each, and 100,000 feedback events over 1,000 papers, then times:
  - CSV import of 10,000 rows (one transaction) vs 1,000 single `add_subscriber` calls
  - reading everyone's topics: per-subscriber queries vs the bulk `topics_by_subscriber`
  - reading everyone's feedback: per-subscriber vs bulk `feedback_by_subscriber`
  - `feedback_counts` over all papers (trending)
The clicks come through the email links (source "email", spread over 30 days), plus 500
generated scanner bursts of 5 titles within 2 s each, so the scanner filter is timed too.
Run: python bench/subscribers_scale.py
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest.models import Paper, Topic
from digest.store import feedback as feedback_store
from digest.store import open_db, transaction
from digest.store.papers import upsert_papers
from digest.store.subscribers import list_subscribers
from digest.store.topics import topics_by_subscriber, topics_for_subscriber
from digest.subscribers.import_export import import_subscribers_csv
from digest.subscribers.manage import add_subscriber
from digest.topics.catalog import add_topic

N_SUBSCRIBERS = 10_000
N_PAPERS = 1_000
N_EVENTS = 100_000
N_BURSTS = 500
TOPICS = ["LLM agents", "Reasoning & planning", "Retrieval & RAG", "Robotics", "AI safety"]


def _at(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def timed(label: str, fn):
    start = time.perf_counter()
    result = fn()
    print(f"{label:<58} {time.perf_counter() - start:8.3f} s")
    return result


def main() -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "bench.db")
        papers = [
            Paper(id=f"2508.{i:05d}", title=f"Paper {i}", abstract="x") for i in range(N_PAPERS)
        ]
        upsert_papers(db, papers, source="bench")
        for name in TOPICS:
            add_topic(db, Topic(name=name, kind="curated", description=f"{name} papers"))

        rows = ["email,name,topics,text,frequency,weekday"]
        for i in range(N_SUBSCRIBERS):
            chosen = ";".join(rng.sample(TOPICS, 3))
            weekly = i % 5 == 0
            rows.append(
                f"reader{i:05d}@generated.test,Reader {i},{chosen},own words number {i},"
                f"{'weekly' if weekly else 'daily'},{'fri' if weekly else ''}"
            )
        report = timed(
            f"CSV import, {N_SUBSCRIBERS} rows with topics (one transaction)",
            lambda: import_subscribers_csv(db, "\n".join(rows) + "\n"),
        )
        assert len(report.added) == N_SUBSCRIBERS, report.errors[:3]

        other = open_db(Path(tmp) / "single.db")
        add_topic(other, Topic(name="LLM agents", kind="curated", description="agents"))
        timed(
            "baseline: 1,000 single add_subscriber calls (1 tx each)",
            lambda: [
                add_subscriber(other, f"solo{i}@generated.test", topics=["LLM agents"])
                for i in range(1000)
            ],
        )

        subscribers = list_subscribers(db)
        ids = [s.id for s in subscribers]
        start = datetime(2025, 8, 1, tzinfo=UTC)
        reader_clicks: set[tuple[int, str]] = set()
        with transaction(db):
            for _ in range(N_EVENTS):
                kind = rng.choice(("like", "like", "dislike", "click"))
                who, paper_id = rng.choice(ids), papers[rng.randrange(N_PAPERS)].id
                if kind == "click":
                    reader_clicks.add((who, paper_id))
                feedback_store.add_feedback(
                    db,
                    who,
                    paper_id,
                    kind,
                    source="email" if kind == "click" else "bench",
                    created_at=_at(start + timedelta(seconds=rng.randrange(30 * 86400))),
                )
            for _ in range(N_BURSTS):  # a scanner fetching every title of one email
                who, when = rng.choice(ids), start + timedelta(seconds=rng.randrange(30 * 86400))
                for k, paper in enumerate(rng.sample(papers, 5)):
                    feedback_store.add_feedback(
                        db,
                        who,
                        paper.id,
                        "click",
                        source="email",
                        created_at=_at(when + timedelta(milliseconds=400 * k)),
                    )

        per = timed(
            f"topics, per subscriber ({N_SUBSCRIBERS} queries)",
            lambda: {sid: topics_for_subscriber(db, sid) for sid in ids},
        )
        bulk = timed("topics, bulk topics_by_subscriber", lambda: topics_by_subscriber(db, ids))
        assert per == bulk
        per_fb = timed(
            f"feedback, per subscriber ({N_EVENTS} events)",
            lambda: {sid: feedback_store.feedback_for_subscriber(db, sid) for sid in ids},
        )
        bulk_fb = timed(
            "feedback, bulk feedback_by_subscriber",
            lambda: feedback_store.feedback_by_subscriber(db),
        )
        assert {k: v for k, v in per_fb.items() if any(v)} == bulk_fb
        counts = timed(
            "feedback_counts over all papers (trending)", lambda: feedback_store.feedback_counts(db)
        )
        clicks = sum(c["click"] for c in counts.values())
        print(f"papers with feedback: {len(counts)}; generated subscribers: {len(ids)}")
        print(
            f"clicks counted: {clicks} (expected {len(reader_clicks)}: readers' distinct"
            f" reader-paper pairs; {N_BURSTS * 5} scanner-burst clicks stored, none counted)"
        )
        db.conn.close()
        other.conn.close()


if __name__ == "__main__":
    main()
