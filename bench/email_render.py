"""Digest email rendering speed: build_digest_email + to_mime + message_bytes, 10-paper digests.

Generated data (synthetic papers and subscribers, realistic sizes: 43-char tokens, ~3-sentence
abstracts). Prints emails/s for one process and for N worker processes (default: all cores),
and a baseline measured in the same run: serialising with the stdlib generator
(`as_bytes(policy=email.policy.SMTP)`) instead of `message_bytes`.

    python bench/email_render.py [--emails 3000] [--workers 2]
"""

from __future__ import annotations

import argparse
import email.policy
import os
import secrets
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date

from digest.config import Config, MailConfig, ServiceConfig, SiteConfig
from digest.mail.compose import build_digest_email, message_bytes, to_mime
from digest.models import DigestPlan, Paper, Pick, Subscriber

ABSTRACT = (
    "We study how graph neural networks generalise when test graphs are larger than training "
    "graphs. Our analysis shows that message passing with degree normalisation keeps the error "
    "bounded, e.g. on random geometric graphs. We then propose a size-aware readout that closes "
    "most of the gap on six benchmarks. Code and data are released."
)
CONFIG = Config(
    mail=MailConfig(from_address="papers@digest.example.org", postal_address="1 Example St"),
    site=SiteConfig(base_url="https://archive.digest.example.org"),
    service=ServiceConfig(public_url="https://digest.example.org"),
)
PAPERS = {
    f"2609.{10000 + i}": Paper(
        id=f"2609.{10000 + i}",
        title=f"Size generalisation in graph neural networks, study {i}",
        abstract=ABSTRACT,
        authors=tuple(f"Author{j} Surname{j}" for j in range(1 + i % 6)),
        categories=("cs.LG", "stat.ML"),
        primary_category="cs.LG",
    )
    for i in range(200)
}
IDS = list(PAPERS)


def _job(index: int) -> tuple[Subscriber, DigestPlan]:
    subscriber = Subscriber(
        id=index,
        email=f"reader{index}@example.com",
        status="active",
        manage_token=secrets.token_urlsafe(32),
    )
    chosen = [IDS[(index * 7 + k * 13) % len(IDS)] for k in range(10)]
    picks = tuple(
        Pick(
            paper_id=pid,
            score=1 - k / 20,
            topic=("Graph learning", "LLMs")[k % 2],
            why='Matches "graph neural" in Graph learning',
        )
        for k, pid in enumerate(chosen)
    )
    return subscriber, DigestPlan(index, date(2026, 9, 24), picks, candidates=400)


def render_many(start: int, count: int, stdlib: bool = False) -> int:
    size = 0
    for index in range(start, start + count):
        subscriber, plan = _job(index)
        rendered = build_digest_email(CONFIG, subscriber, plan, PAPERS)
        message = to_mime(CONFIG, subscriber, rendered, f"d{index}")
        raw = message.as_bytes(policy=email.policy.SMTP) if stdlib else message_bytes(message)
        size += len(raw)
    return size


def _timed(count: int, workers: int, stdlib: bool = False) -> float:
    started = time.perf_counter()
    if workers == 1:
        cpu = time.process_time()
        render_many(0, count, stdlib)
        print(
            f"  (CPU time: {count / (time.process_time() - cpu):.0f} emails/s per core; "
            f"load average {os.getloadavg()[0]:.1f})"
        )
    else:
        share = count // workers
        with ProcessPoolExecutor(workers) as pool:
            list(
                pool.map(
                    render_many,
                    [w * share for w in range(workers)],
                    [share] * workers,
                    [stdlib] * workers,
                )
            )
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    render_many(0, 20)  # warm up: template compile, stylesheet parse
    single_render = args.emails / 2
    started = time.perf_counter()
    for index in range(int(single_render)):
        subscriber, plan = _job(index)
        build_digest_email(CONFIG, subscriber, plan, PAPERS)
    render_only = single_render / (time.perf_counter() - started)
    print(f"render only (build_digest_email), 1 process: {render_only:7.0f} emails/s")
    one = _timed(args.emails, 1)
    print(f"render + MIME + bytes, 1 process:             {one:7.0f} emails/s")
    baseline = _timed(args.emails // 2, 1, stdlib=True)
    print(f"baseline: same with stdlib as_bytes(SMTP):     {baseline:7.0f} emails/s")
    if args.workers > 1:
        many = _timed(args.emails, args.workers)
        print(f"render + MIME + bytes, {args.workers} processes:           {many:7.0f} emails/s")
    print(f"({args.emails} generated 10-paper digests; cores: {os.cpu_count()})")


if __name__ == "__main__":
    main()
