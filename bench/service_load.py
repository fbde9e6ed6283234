"""Bounded load on the web app's write endpoints while a writer simulates a daily run.

Loopback only: `digest serve` (real uvicorn) on 127.0.0.1, a fresh SQLite file in a temp
dir, a loopback SMTP sink for the confirmation mails, a bounded number of requests (default
1500 per phase, after 100 unmeasured warm-up requests) and a hard 60 s cap overall. Two
phases in the same run: a baseline (no competing writer) and the same load while another connection ingests
papers in BEGIN IMMEDIATE batches like the fetch/send stages do. Prints requests/s, p50/p99
latency and errors per phase. Target: 0 errors, p99 < 200 ms.

    python bench/service_load.py [--requests 1500] [--workers 8]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

from digest.config import parse_config
from digest.models import Paper
from digest.store import open_db, transaction
from digest.store.papers import upsert_papers
from digest.subscribers.manage import add_subscriber

HARD_CAP_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_config(root: Path, smtp_port: int, web_port: int):
    """Write config.toml (the server runs as `digest serve` in its own process) and load it."""
    text = f"""
[database]
path = "digest.db"
[mail]
backend = "smtp"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_security = "none"
postal_address = "1 Bench Street"
[site]
dir = "site"
[service]
port = {web_port}
subscribe_per_ip_per_minute = 1000000
"""
    path = root / "config.toml"
    path.write_text(text)
    return parse_config(tomllib.loads(text), source=str(path), base_dir=root), path


@contextlib.contextmanager
def web_server(config_path: Path, port: int):
    """`digest serve` as a separate process (no GIL shared with the load generator)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "digest",
            "--config",
            str(config_path),
            "serve",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base_url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("digest serve did not start")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


def simulated_run(config, stop: threading.Event, counter: list[int]) -> None:
    """Ingest synthetic papers in 50-row write transactions, with short gaps between them."""
    db = open_db(config.db_path, migrate=False)
    batch = 0
    while not stop.is_set():
        papers = [
            Paper(
                id=f"2599.{batch:04d}{i:01d}",
                title=f"Synthetic paper {batch}-{i}",
                abstract="An abstract long enough to look like one. " * 8,
            )
            for i in range(10)
        ] * 1
        with transaction(db):
            upsert_papers(db, papers, source="bench")
            time.sleep(0.01)  # the stage's own work inside the transaction
        counter[0] += len(papers)
        batch += 1
        time.sleep(0.005)
    db.conn.close()


def one_request(client: httpx.Client, n: int, token: str) -> tuple[str, float, int]:
    started = time.perf_counter()
    if n % 3 == 0:
        kind = "subscribe"
        answer = client.post(
            "/subscribe",
            data={"email": f"load{n}-{time.time_ns()}@example.org", "frequency": "daily"},
        )
    else:
        kind = "feedback"
        answer = client.get(f"/f/{token}", params={"paper": "2508.00001", "kind": "click"})
    return kind, (time.perf_counter() - started) * 1000, answer.status_code


def phase(base_url: str, token: str, requests: int, workers: int, deadline: float) -> dict:
    results: list[tuple[str, float, int]] = []
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        with httpx.Client(base_url=base_url, timeout=30, follow_redirects=False) as client:
            while time.monotonic() < deadline:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                try:
                    outcome = one_request(client, n, token)
                except httpx.HTTPError as exc:
                    outcome = ("error", 0.0, -1)
                    print(f"  request failed: {exc}", file=sys.stderr)
                with lock:
                    results.append(outcome)

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for _ in range(workers):
            pool.submit(worker)
    elapsed = time.perf_counter() - started
    latencies = sorted(ms for _, ms, _ in results)
    ok_codes = {"subscribe": {200}, "feedback": {303}}
    errors = sum(1 for kind, _, code in results if code not in ok_codes.get(kind, set()))
    bad = sorted(
        {(kind, code) for kind, _, code in results if code not in ok_codes.get(kind, set())}
    )
    if bad:
        print(f"  unexpected answers: {bad}", file=sys.stderr)
    by_kind = {}
    for name in ("subscribe", "feedback"):
        values = sorted(ms for kind, ms, _ in results if kind == name)
        if values:
            by_kind[name] = (statistics.median(values), values[max(0, int(len(values) * 0.99) - 1)])
    return {
        "by_kind": by_kind,
        "requests": len(results),
        "seconds": elapsed,
        "rps": len(results) / elapsed if elapsed else 0.0,
        "p50": statistics.median(latencies) if latencies else 0.0,
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)] if latencies else 0.0,
        "max": latencies[-1] if latencies else 0.0,
        "errors": errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500, help="requests per phase")
    parser.add_argument("--workers", type=int, default=8, help="concurrent clients")
    args = parser.parse_args()
    hard_deadline = time.monotonic() + HARD_CAP_SECONDS
    smtp_port, web_port = free_port(), free_port()
    smtp = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)  # discards what it gets
    smtp.start()
    with tempfile.TemporaryDirectory() as tmp:
        config, config_path = make_config(Path(tmp), smtp_port, web_port)
        db = open_db(config.db_path)
        upsert_papers(
            db, [Paper(id="2508.00001", title="A paper", abstract="Text.")], source="bench"
        )
        token = add_subscriber(db, "reader@example.org", status="active").manage_token
        db.conn.close()
        with web_server(config_path, web_port) as base_url:
            half = time.monotonic() + (hard_deadline - time.monotonic()) / 2
            phase(base_url, token, 100, args.workers, half)  # warm-up, not measured
            baseline = phase(base_url, token, args.requests, args.workers, half)
            stop, written = threading.Event(), [0]
            writer = threading.Thread(target=simulated_run, args=(config, stop, written))
            writer.start()
            try:
                loaded = phase(base_url, token, args.requests, args.workers, hard_deadline)
            finally:
                stop.set()
                writer.join()
    smtp.stop()
    print(
        f"service load bench: {args.workers} concurrent clients, 1/3 POST /subscribe, "
        "2/3 GET /f/{token} (click -> 303)"
    )
    print(
        f"{'phase':<28}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'errors':>8}"
    )
    for name, figures in (
        ("baseline (no writer)", baseline),
        (f"during run ({written[0]} rows)", loaded),
    ):
        print(
            f"{name:<28}{figures['requests']:>9}{figures['rps']:>9.1f}{figures['p50']:>9.1f}"
            f"{figures['p99']:>9.1f}{figures['max']:>9.1f}{figures['errors']:>8}"
        )
    for name, figures in (("baseline", baseline), ("during run", loaded)):
        print(
            f"  {name}: "
            + "; ".join(
                f"{kind} p50 {p50:.1f} ms, p99 {p99:.1f} ms"
                for kind, (p50, p99) in figures["by_kind"].items()
            )
        )
    slowdown = loaded["p99"] / baseline["p99"] if baseline["p99"] else float("nan")
    print(
        f"p99 during run / baseline p99: {slowdown:.2f}x; target: 0 errors, p99 < 200 ms: "
        f"{'met' if loaded['errors'] == 0 and loaded['p99'] < 200 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
