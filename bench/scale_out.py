"""Scale-out figures: one process on SQLite against `digest worker` processes on PostgreSQL.

A REAL day of arXiv papers (data/samples/listings/, the recorded week; --day picks the day)
and GENERATED subscribers (reader000001@bench.invalid ..., each following 1-3 of the curated
topics in data/topics.toml; say so wherever you quote these figures). In one run it measures:

  1. embedding the real week (1,202 papers): in one process on SQLite, and by 1 and 2 workers;
  2. plan + render + send to the outbox of the day for --subscribers readers: in one process on
     SQLite (the baseline), then with 1, 2 and 4 workers on PostgreSQL (each on a fresh copy);
  3. the ledger's ceiling on this PostgreSQL: rows claimed and marked sent per second by many
     connections at once (the store's own claim and mark_sent), and PostgreSQL's CPU per row.

It prints wall and CPU seconds side by side (the workers' and the server's CPU are read from
their processes), digests/s and the ratio to SQLite, the ledger's write rate (pg_stat), peak
RSS per worker, and what N machines would reach given the ceiling it measured. The PostgreSQL
server is a throwaway one started from Debian's binaries with fsync ON (tests/pg_server.py),
on this same machine, unless --pg-url names one.

Run: python bench/scale_out.py [--subscribers 100000] [--workers 1,2,4] [--embed-workers 1,2]
                               [--no-embed] [--ceiling-rows 20000] [--ceiling-connections 32]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LISTINGS = ROOT / "data" / "samples" / "listings"
TOPICS_FILE = ROOT / "data" / "topics.toml"


# ---------------------------------------------------------------- measuring processes
def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds of a live process and its reaped children."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class ServerCpu:
    """CPU seconds of a local PostgreSQL (postmaster, live backends, and reaped ones)."""

    def __init__(self, data_dir: Path | None) -> None:
        self.pid = None
        if data_dir is not None and (data_dir / "postmaster.pid").exists():
            self.pid = int((data_dir / "postmaster.pid").read_text().split()[0])

    def seconds(self) -> float | None:
        if self.pid is None:
            return None
        import psutil

        main = psutil.Process(self.pid)
        total = process_cpu(self.pid)
        for child in main.children(recursive=True):
            try:
                times = child.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total


@dataclass
class Measure:
    label: str
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # who -> CPU seconds
    count: int = 0  # digests, or papers
    extra: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.wall if self.wall else 0.0

    def cpu_text(self) -> str:
        shown = [f"{who} {seconds:.1f}" for who, seconds in self.cpu.items() if seconds is not None]
        return ", ".join(shown)


# ---------------------------------------------------------------- data
def ingest_week(db, config) -> dict[date, int]:
    """The recorded week as listings (one ingest run per day, papers listed as new)."""
    from dataclasses import replace

    from digest.ingest.daily import ingest_listing
    from digest.ingest.jsonl import iter_jsonl
    from digest.models import ParsedListing, SkippedRecord

    days = {}
    for path in sorted(LISTINGS.glob("*.jsonl")):
        listing = ParsedListing()
        for item in iter_jsonl(path):
            if isinstance(item, SkippedRecord):
                continue
            day = date.fromisoformat((item.published or "")[:10])
            listing.channel_date = listing.channel_date or day
            arxiv = tuple(c for c in item.categories if "." in c and not c[0].isupper())
            listing.papers.append(
                replace(
                    item,
                    categories=arxiv or item.categories,
                    primary_category=(arxiv or item.categories or (None,))[0],
                    announced=day,
                    announce_type="new",
                    published=None,
                )
            )
        ingest_listing(
            db,
            listing,
            source="jsonl",
            label=path.name,
            url=str(path),
            announce_types=config.arxiv.announce_types,
        )
        days[listing.channel_date] = len(listing.papers)
    return days


def add_generated_subscribers(db, count: int, seed: int = 16) -> None:
    """`count` GENERATED readers, each following 1-3 curated topics, in one transaction."""
    from digest.store import transaction
    from digest.store.subscribers import insert_subscriber
    from digest.store.topics import list_topics, set_followed_topic_ids

    rng = random.Random(seed)
    topic_ids = [t.id for t in list_topics(db, kind="curated")]
    with transaction(db):
        for n in range(1, count + 1):
            sid = insert_subscriber(
                db,
                {
                    "email": f"reader{n:06d}@bench.invalid",
                    "name": f"Reader {n}",
                    "status": "active",
                    "confirmed_at": "2025-10-01T00:00:00",
                },
            )
            set_followed_topic_ids(db, sid, rng.sample(topic_ids, rng.randint(1, 3)))


def write_config(folder: Path, url: str = "") -> Path:
    from tests.conftest import toml_text

    folder.mkdir(parents=True, exist_ok=True)
    sections = {
        "database": {"path": "digest.db", **({"url": url} if url else {})},
        "mail": {"outbox_dir": "outbox", "rate_per_second": 1e6, "max_lateness_hours": 1e7},
        "site": {"dir": "site", "search": False},
    }
    path = folder / "config.toml"
    path.write_text(toml_text(sections), encoding="utf-8")
    return path


# ---------------------------------------------------------------- PostgreSQL helpers
class Server:
    def __init__(self, url: str | None) -> None:
        self.started = None
        if url:
            self.base = url
            self.data_dir = None
        else:
            from tests.pg_server import start_server

            self.started = start_server(durable=True)
            self.base = self.started.url()
            self.data_dir = self.started.root / "data"
        self.cpu = ServerCpu(self.data_dir)

    def url(self, name: str) -> str:
        return self.base.rsplit("/", 1)[0] + "/" + name

    def admin(self, sql: str) -> list:
        import psycopg

        with psycopg.connect(self.base, autocommit=True) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def clone(self, template: str, name: str) -> str:
        from digest.store.postgres import close_pools

        close_pools()
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.admin(f"CREATE DATABASE {name} TEMPLATE {template}")
        return self.url(name)

    def drop(self, name: str) -> None:
        from digest.store.postgres import close_pools

        close_pools()
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stats(self, name: str) -> dict[str, int]:
        """Ledger row writes and commits so far in database `name` (pg_stat)."""
        import psycopg

        with psycopg.connect(self.url(name), autocommit=True) as conn:
            conn.execute("SELECT pg_stat_force_next_flush()")
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(
                "SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0)"
                " FROM pg_stat_user_tables WHERE relname = 'deliveries'"
            ).fetchone()
            commits = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
        return {"inserts": int(row[0]), "updates": int(row[1]), "commits": int(commits[0])}

    def stop(self) -> None:
        from digest.store.postgres import close_pools

        close_pools()
        if self.started is not None:
            self.started.stop()


def start_workers(config_path: Path, count: int) -> list[subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if k not in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL")}
    env["DIGEST_WORKER_HEARTBEAT_SECONDS"] = "2"
    return [
        subprocess.Popen(
            [sys.executable, "-m", "digest", "--config", str(config_path), "worker"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=config_path.parent,
        )
        for _ in range(count)
    ]


def wait_for_workers(db, count: int) -> None:
    from digest.store import jobs as job_store

    deadline = time.monotonic() + 300
    while job_store.live_workers(db, 60) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{count} workers did not start within 5 minutes")
        time.sleep(0.2)


def stop_workers(workers: list[subprocess.Popen]) -> dict[str, list[float]]:
    """SIGTERM and wait; returns each worker's CPU seconds and peak RSS (read just before)."""
    found: dict[str, list[float]] = {"cpu": [], "rss_mb": []}
    for worker in workers:
        found["cpu"].append(process_cpu(worker.pid))
        found["rss_mb"].append(peak_rss_mb(worker.pid))
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=120)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    return found


# ---------------------------------------------------------------- children (own processes)
def child_main(mode: str, config_path: str, day: str) -> None:
    """Run in a fresh process: the SQLite baselines. Prints one JSON line."""
    if mode == "ceiling":
        return ceiling_child(config_path, day)
    from digest.config import load_config
    from digest.store import open_db

    config = load_config(config_path)
    db = open_db(config.db_target)
    started, cpu = time.perf_counter(), self_cpu()
    result: dict = {}
    if mode == "embed":
        from digest.embed.encoder import embed_missing

        result["count"] = embed_missing(db, config.embedding).embedded
    else:
        from digest.mail.sending import send_issue
        from digest.rank.planning import plan_all

        plan_all(db, config, date.fromisoformat(day))
        result["plan_wall"] = time.perf_counter() - started
        report = send_issue(db, config, date.fromisoformat(day), force=True)
        result["count"] = report.sent
    result["wall"] = time.perf_counter() - started
    result["cpu"] = self_cpu() - cpu
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_child(mode: str, config_path: Path, day: date) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL")}
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(config_path), day.isoformat()],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {mode} baseline failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the fleet runs
def fleet_run(server: Server, template: str, workers: int, work: Path, day: date, embed: bool):
    """Clone `template`, start `workers` processes, run the stage(s) from this process."""
    from digest.config import load_config
    from digest.store import open_db
    from digest.workers.fleet import ensure_queue, fleet_embed, fleet_plan, fleet_send

    name = f"run_{'e' if embed else 'd'}{workers}"
    url = server.clone(template, name)
    folder = work / name
    config_path = write_config(folder, url)
    config = load_config(str(config_path))
    db = open_db(url)
    ensure_queue(db)
    procs = start_workers(config_path, workers)
    wait_for_workers(db, workers)
    before = server.stats(name)
    server_cpu, cpu, started = server.cpu.seconds(), self_cpu(), time.perf_counter()
    measure = Measure(f"{workers} worker{'s' if workers > 1 else ''}, PostgreSQL")
    if embed:
        measure.count = fleet_embed(db, config, day, None)["papers"]
    else:
        fleet_plan(db, config, day, None)
        measure.extra["plan_wall"] = time.perf_counter() - started
        measure.count = fleet_send(db, config, day, None, force=True).get("new_sent", 0)
    measure.wall = time.perf_counter() - started
    coordinator = self_cpu() - cpu
    server_after = server.cpu.seconds()
    db.close()
    usage = stop_workers(procs)
    after = server.stats(name)
    measure.cpu = {"workers": sum(usage["cpu"]), "coordinator": coordinator}
    if server_cpu is not None and server_after is not None:
        measure.cpu["postgres"] = server_after - server_cpu
    measure.extra["rss_mb"] = usage["rss_mb"]
    measure.extra["ledger_writes"] = (
        after["inserts"] + after["updates"] - before["inserts"] - before["updates"]
    )
    measure.extra["commits"] = after["commits"] - before["commits"]
    shutil.rmtree(folder, ignore_errors=True)
    server.drop(name)
    return measure


def sqlite_run(seeded: Path, work: Path, day: date, mode: str, keep: Path | None = None):
    """The baseline in a process of its own, on a copy of `seeded` (kept at `keep`)."""
    folder = work / f"sqlite_{mode}"
    config_path = write_config(folder)
    shutil.copy(seeded, folder / "digest.db")
    result = run_child(mode, config_path, day)
    if keep is not None:
        shutil.copy(folder / "digest.db", keep)
    measure = Measure("1 process, SQLite", wall=result["wall"], count=result["count"])
    measure.cpu = {"process": result["cpu"]}
    measure.extra = {"rss_mb": [result["rss_mb"]], "plan_wall": result.get("plan_wall", 0.0)}
    shutil.rmtree(folder, ignore_errors=True)
    return measure


# ---------------------------------------------------------------- the ledger's ceiling
def ceiling_child(job_file: str, _unused: str) -> None:
    """Claim and mark sent the rows of `job_file` from several threads, each on its own
    connection, starting at the given moment; prints the finish time and CPU seconds."""
    import threading

    from digest.store import deliveries as ledger_store
    from digest.store import open_db

    job = json.loads(Path(job_file).read_text())
    slices = [job["ids"][i :: job["threads"]] for i in range(job["threads"])]
    dbs = [open_db(job["url"], migrate=False) for _ in slices]
    done = [0] * len(slices)

    def work(index: int) -> None:
        db = dbs[index]
        for delivery_id in slices[index]:
            if ledger_store.claim(db, delivery_id, "bench", "bench") == "claimed":
                done[index] += ledger_store.mark_sent(db, delivery_id, "bench")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(slices))]
    time.sleep(max(0.0, job["start_at"] - time.time()))
    cpu = self_cpu()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"done": sum(done), "finished": time.time(), "cpu": self_cpu() - cpu}))


def measure_ceiling(server: Server, template: str, work: Path, day: date, rows: int, conns: int):
    """Rows claimed + marked sent per second by `conns` connections (4 processes)."""
    from digest.store import open_db, transaction
    from digest.store.deliveries import NewDelivery, queue_deliveries
    from digest.store.subscribers import list_subscribers

    url = server.clone(template, "ceiling")
    db = open_db(url)
    subscribers = [s.id for s in list_subscribers(db, status="active")][:rows]
    body = (
        "A digest line of about eighty characters, repeated to the size of a real one.\n" * 400
    ).encode()
    ids = [f"d_bench{n:07d}" for n in range(len(subscribers))]
    with transaction(db):
        queue_deliveries(
            db,
            (NewDelivery(i, s, day, "bench", body) for i, s in zip(ids, subscribers, strict=True)),
        )
    db.close()
    processes = 4
    start_at = time.time() + 8
    children = []
    for p in range(processes):
        job = work / f"ceiling-{p}.json"
        share = ids[p::processes]
        job.write_text(
            json.dumps(
                {
                    "url": url,
                    "ids": share,
                    "threads": max(1, conns // processes),
                    "start_at": start_at,
                }
            )
        )
        children.append(
            subprocess.Popen(
                [sys.executable, __file__, "--child", "ceiling", str(job), "-"],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    time.sleep(max(0.0, start_at - time.time()))
    server_cpu = server.cpu.seconds()
    results = [json.loads(child.communicate()[0].strip().splitlines()[-1]) for child in children]
    server_after = server.cpu.seconds()
    measure = Measure(f"{conns} connections claim + mark sent")
    measure.count = sum(r["done"] for r in results)
    measure.wall = max(r["finished"] for r in results) - start_at
    measure.cpu = {"clients": sum(r["cpu"] for r in results)}
    if server_cpu is not None and server_after is not None:
        measure.cpu["postgres"] = server_after - server_cpu
    server.drop("ceiling")
    return measure


# ---------------------------------------------------------------- printing
def show(measure: Measure, base: Measure | None, unit: str) -> None:
    ratio = f"x{measure.rate / base.rate:4.2f}" if base and base.rate else "     "
    rss = measure.extra.get("rss_mb") or []
    plan = measure.extra.get("plan_wall")
    print(
        f"  {measure.label:<24} wall {measure.wall:8.1f} s"
        + (f" (plan {plan:6.1f} s)" if plan else "")
        + f"  {measure.count:>7} {unit}  {measure.rate:8.1f} {unit}/s  {ratio}"
        + f"  CPU s: {measure.cpu_text()}"
        + (f"  peak RSS/process: {', '.join(f'{r:.0f}' for r in rss)} MB" if rss else "")
    )
    writes = measure.extra.get("ledger_writes")
    if writes:
        send_wall = measure.wall - (plan or 0.0)
        print(
            f"  {'':<24} ledger: {writes} row writes ({writes / send_wall:.0f}/s over the "
            f"render+send phase), {measure.extra['commits']} commits in the run "
            f"({measure.extra['commits'] / measure.wall:.0f}/s)"
        )


def project(day_runs: list[Measure], ceiling: Measure, embed_runs: list[Measure]) -> None:
    """What N machines would reach: per-worker rates bounded by the ledger's ceiling."""
    one = next((m for m in day_runs if m.label.startswith("1 worker")), None)
    if one is None or not one.count:
        return
    worker_cpu = one.cpu["workers"] / one.count
    per_core = 1 / worker_cpu
    pg_per_digest = (one.cpu.get("postgres") or 0) / one.count
    pg_per_row = (ceiling.cpu.get("postgres") or 0) / max(ceiling.count, 1)
    print("\nper worker and the database's ceiling")
    print(f"  measured, 1 worker on this shared machine: {one.rate:.1f} digests/s")
    print(
        f"  worker CPU per digest {worker_cpu * 1000:.1f} ms -> {per_core:.1f} digests/s per "
        "dedicated core"
    )
    print(f"  ledger ceiling measured here: {ceiling.rate:.0f} rows/s claimed + sent")
    ceilings = [ceiling.rate]
    if pg_per_row:
        print(
            f"  PostgreSQL CPU per claimed+sent row {pg_per_row * 1000:.2f} ms -> "
            f"{2 / pg_per_row:.0f} rows/s with 2 cores of its own"
        )
        ceilings.append(2 / pg_per_row)
    if pg_per_digest:
        print(
            f"  PostgreSQL CPU per digest in the 1-worker day run (plan rows, ledger, jobs, "
            f"pacing) {pg_per_digest * 1000:.2f} ms -> {2 / pg_per_digest:.0f} digests/s "
            "with 2 cores of its own"
        )
        ceilings.append(2 / pg_per_digest)
    cap = min(ceilings[1:] or ceilings)
    print(f"  ceiling used below: {cap:.0f} digests/s (the smaller of the PostgreSQL-CPU ones)")
    print("\nN worker machines of 2 cores (2 workers each) on one 2-core PostgreSQL")
    for machines in (1, 2, 4, 8, 16, 32, 64):
        rate = min(machines * 2 * per_core, cap)
        bound = "database-bound" if rate == cap else "worker-bound"
        print(
            f"  N={machines:<3} {rate:8.0f} digests/s ({bound}); 10^6 subscribers in "
            f"{1e6 / rate / 60:6.1f} min"
        )
    fleet_embeds = [m for m in embed_runs if "worker" in m.label and m.count]
    if fleet_embeds:
        e = fleet_embeds[0]
        per_core_embed = e.count / e.cpu["workers"]
        print(
            f"\nembedding: {per_core_embed:.1f} papers per worker CPU second; 2.5M papers take "
            + ", ".join(
                f"{2.5e6 / (machines * 2 * per_core_embed) / 3600:.1f} h on {machines}"
                for machines in (1, 4, 16, 64)
            )
            + " machines of 2 cores (the database only stores 1.5 KB per paper: not the limit)"
        )


# ---------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--embed-workers", default="1,2")
    parser.add_argument("--no-embed", action="store_true", help="skip the embedding runs")
    parser.add_argument("--day", help="the listing day (default: the week's biggest)")
    parser.add_argument("--ceiling-rows", type=int, default=20_000)
    parser.add_argument("--ceiling-connections", type=int, default=32)
    parser.add_argument("--pg-url", help="an existing server (a superuser URL); default: start one")
    parser.add_argument(
        "--embedded",
        type=Path,
        help="keep the embedded SQLite database here; when it exists, reuse it and skip the "
        "embedding runs (for trying the day runs again)",
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(*args.child)
        return
    signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` stops the server and cleans up
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # with a database server, manage links are made with a key every machine shares
    os.environ.setdefault("DIGEST_SECRET_KEY", secrets.token_hex(32))
    work = Path(tempfile.mkdtemp(prefix="digest-scale-out-"))
    server = Server(args.pg_url)
    try:
        run_all(args, work, server)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_all(args, work: Path, server: Server) -> None:
    from digest.config import load_config
    from digest.ingest.daily import ingest_feed_file
    from digest.paths import SAMPLES_DIR
    from digest.store import open_db
    from digest.topics.toml_file import sync_topics

    load = os.getloadavg()
    print(
        f"scale_out: {os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} "
        f"{load[2]:.1f} at start (other work shares this machine); PostgreSQL 15 "
        f"{'with fsync on, same machine' if server.started else 'at ' + server.base}"
    )
    week = work / "week.db"
    config = load_config(str(write_config(work / "seed")))
    db = open_db(week)
    days = ingest_week(db, config)
    for path in sorted(SAMPLES_DIR.glob("*.xml")):  # the curated topics' seed papers
        ingest_feed_file(db, config, path)
    sync_topics(db, TOPICS_FILE)
    db.close()
    day = date.fromisoformat(args.day) if args.day else max(days, key=lambda d: days[d])
    print(
        f"the real week: {sum(days.values())} papers over {len(days)} days; the day: {day} "
        f"({days[day]} papers)"
    )

    embed_runs: list[Measure] = []
    if args.embedded and args.embedded.exists():  # a development shortcut: no embedding runs
        shutil.copy(args.embedded, work / "embedded.db")
        print(f"\nembedding skipped: the vectors of {args.embedded} reused")
    else:
        embed_runs = embed_section(args, work, server, week, day, config.embedding.model)
    day_runs = day_section(args, work, server, day)
    print("\nthe ledger's ceiling on this PostgreSQL")
    rows = min(args.ceiling_rows, args.subscribers)
    ceiling = measure_ceiling(server, "tpl_day", work, day, rows, args.ceiling_connections)
    show(ceiling, None, "rows")
    project(day_runs, ceiling, embed_runs)


def embed_section(args, work: Path, server: Server, week: Path, day: date, model: str):
    from digest.ops.migrate_db import migrate_db

    embed_runs: list[Measure] = []
    print(
        f"\nembedding the real week and the 90 recorded papers the topics' seeds need, with {model}"
    )
    server.admin("CREATE DATABASE tpl_week")
    migrate_db(week, server.url("tpl_week"))
    baseline = sqlite_run(week, work, day, "embed", keep=work / "embedded.db")
    embed_runs.append(baseline)
    show(baseline, None, "papers")
    if not args.no_embed:
        for n in [int(x) for x in args.embed_workers.split(",") if x]:
            measure = fleet_run(server, "tpl_week", n, work, day, embed=True)
            embed_runs.append(measure)
            show(measure, baseline, "papers")
    if args.embedded:
        shutil.copy(work / "embedded.db", args.embedded)
    return embed_runs


def day_section(args, work: Path, server: Server, day: date) -> list[Measure]:
    from digest.config import load_config
    from digest.ops.migrate_db import migrate_db
    from digest.rank.planning import match_curated_topics
    from digest.store import open_db

    started = time.perf_counter()
    db = open_db(work / "embedded.db")
    add_generated_subscribers(db, args.subscribers)
    # the topics' query vectors cached before any run: no run pays for loading the model
    match_curated_topics(db, load_config(str(work / "seed" / "config.toml")), day)
    db.close()
    seeded = time.perf_counter() - started
    started = time.perf_counter()
    server.admin("CREATE DATABASE tpl_day")
    migrate_db(work / "embedded.db", server.url("tpl_day"))
    print(
        f"\n{args.subscribers:,} GENERATED subscribers (1-3 curated topics each) added in "
        f"{seeded:.1f} s; the database copied to PostgreSQL by migrate-db in "
        f"{time.perf_counter() - started:.1f} s"
    )
    print(f"plan + render + send to the outbox, {day}")
    base = sqlite_run(work / "embedded.db", work, day, "day")
    show(base, None, "digests")
    day_runs = [base]
    for n in [int(x) for x in args.workers.split(",") if x]:
        measure = fleet_run(server, "tpl_day", n, work, day, embed=False)
        day_runs.append(measure)
        show(measure, base, "digests")
    return day_runs


if __name__ == "__main__":
    main()
