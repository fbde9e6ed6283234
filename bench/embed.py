"""Embedding speed and quality per backend, measured so that a busy machine cannot decide the
ratio: every variant runs in its own worker process (its own load time and peak RSS), and the
rounds alternate baseline and candidates on the same texts, so each round's ratio compares runs
made seconds apart. Not a test.

    python bench/embed.py [--texts 256] [--rounds 5] [--variants st,onnx,int8,digest]
                          [--seeds 5] [--no-quality]
    python bench/embed.py --papers 20000      # bulk: sustained rate and RSS of `digest embed`

Texts: the first --texts papers (title + abstract) of the real week in data/samples/listings/
(copied unmodified from ../shared/fixtures/arxiv/listings/; origin in its README). Variants:
  st      plain SentenceTransformer.encode of the bundled model (torch): the baseline
  onnx    the bundled model on ONNX Runtime, fused graph (digest's default)
  int8    bundled:all-MiniLM-L6-v2-int8: fused graph, dynamic per-channel QInt8 weights
  digest  `digest embed` on ONNX: store, (model, content hash) cache, pages, commits
Per variant: abstracts/s, wall and CPU-time ratios to `st` (median over rounds of each round's
ratio), model load (imports + load, in a fresh process), peak RSS, lowest/mean cosine to the
torch vectors, and the dev-protocol P@10 of its vectors (bench/ranking_quality.py; Random(0)
and the mean over --seeds).

--papers N generates N papers from the same week, re-using its abstracts under new ids (with a
suffix, so each text is new to the cache), imports them into a fresh store and runs
`digest embed` as a subprocess, SIGKILLs it half-way (--kill-at 0.5; 0 = let it run) and runs
it again: papers/s over the whole job, CPU seconds, peak RSS, and whether every paper ended
with exactly one vector.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LISTINGS = ROOT / "data" / "samples" / "listings"
BUNDLED = "bundled:all-MiniLM-L6-v2"
VARIANTS = {  # name -> (model key, backend) as [embedding] takes them
    "st": (BUNDLED, "sentence-transformers"),
    "onnx": (BUNDLED, "auto"),
    "int8": (BUNDLED + "-int8", "auto"),
    "digest": (BUNDLED, "auto"),
}


def week_rows() -> list[dict]:
    return [
        json.loads(line)
        for day in sorted(LISTINGS.glob("*.jsonl"))
        for line in day.read_text(encoding="utf-8").splitlines()
    ]


def generated_rows(count: int) -> list[dict]:
    """`count` papers: the week first, then its abstracts again under new ids and a suffix."""
    week = week_rows()
    out = []
    for n in range(count):
        row, copy = dict(week[n % len(week)]), n // len(week)
        if copy:
            row["id"] = f"{row['id']}-r{copy}"
            row["abstract"] = f"{row['abstract']} (reissue {copy})"
        out.append(row)
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------ worker (one per variant)


def worker(variant: str, texts_file: Path) -> None:
    """Load the variant, then answer 'encode' / 'vectors PATH' / 'quit' lines on stdin."""
    import numpy as np

    started, cpu = time.perf_counter(), time.process_time()
    model, backend = VARIANTS[variant]
    rows = json.loads(texts_file.read_text(encoding="utf-8"))
    from digest.config import EmbeddingConfig
    from digest.models import embedding_text

    texts = [embedding_text(r["title"], r["abstract"]) for r in rows]
    config = EmbeddingConfig(model=model, backend=backend)
    if variant == "st":
        from digest.embed.torch_backend import load_model

        st = load_model(model, "cpu")

        def encode():
            return st.encode(
                texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False
            )
    elif variant == "digest":
        run = digest_embed_runner(rows, config)
        encode = run
    else:
        from digest.embed.backends import get_encoder

        encoder = get_encoder(config)

        def encode():
            return encoder.encode(texts, 64)

    reply({"load_s": time.perf_counter() - started, "load_cpu_s": time.process_time() - cpu})
    encode()  # warm-up, not timed
    for line in sys.stdin:
        command = line.split()
        if command[0] == "encode":
            wall, cpu = time.perf_counter(), time.process_time()
            encode()
            reply({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu})
        elif command[0] == "vectors":
            vectors = encode() if variant != "digest" else None
            if vectors is not None:
                np.save(command[1], np.asarray(vectors, dtype=np.float32))
            reply({"saved": vectors is not None})
        else:
            reply({"peak_rss_mb": peak_rss_mb()})
            return


def digest_embed_runner(rows: list[dict], config):
    """Each call: a fresh store with the papers imported, then embed_missing (timed part)."""
    from digest.embed.encoder import embed_missing, get_encoder
    from digest.ingest.backfill import import_jsonl
    from digest.store import open_db

    get_encoder(config)  # loaded once, like a long `digest embed`
    workdir = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    jsonl = workdir / "papers.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    count = [0]

    def prepared_db():
        count[0] += 1
        db = open_db(workdir / f"run{count[0]}.db")
        import_jsonl(db, jsonl)
        return db

    pending: list = []  # the first store is made by the untimed warm-up, not in "load"

    def run():
        db = pending.pop() if pending else prepared_db()
        embed_missing(db, config)
        db.conn.close()
        pending.append(prepared_db())  # the next round's store, prepared outside the timing

    return run


def reply(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


# ------------------------------------------------------------------ driver


class Worker:
    def __init__(self, variant: str, texts_file: Path) -> None:
        self.variant = variant
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", variant, "--texts-file", str(texts_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.load = self.receive()

    def ask(self, line: str) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.receive()

    def receive(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            sys.exit(f"worker {self.variant} died (exit {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> float:
        rss = self.ask("quit")["peak_rss_mb"]
        self.proc.wait()
        return rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variants", default="st,onnx,int8,digest")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--papers", type=int, default=0)
    parser.add_argument(
        "--kill-at", type=float, default=0.5, help="with --papers: SIGKILL at this share, 0 never"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--texts-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.texts_file)
        return
    if args.papers:
        bulk(args.papers, args.kill_at)
        return
    compare(args)


def compare(args) -> None:
    import numpy as np

    variants = [v.strip() for v in args.variants.split(",")]
    if variants[0] != "st":
        variants.insert(0, "st")
    rows = week_rows()[: args.texts]
    print(f"texts: {len(rows)} real papers (title + abstract) from {LISTINGS.relative_to(ROOT)}")
    print(f"machine: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(rows), encoding="utf-8")
        workers = {v: Worker(v, texts_file) for v in variants}
        runs: dict[str, list[dict]] = {v: [] for v in variants}
        for round_ in range(args.rounds):
            order = variants[round_ % len(variants) :] + variants[: round_ % len(variants)]
            for variant in order:  # rotated, so no variant always runs first
                runs[variant].append(workers[variant].ask("encode"))
        cosines = {}
        for variant in variants:
            path = Path(tmp) / f"{variant}.npy"
            if workers[variant].ask(f"vectors {path}")["saved"]:
                cosines[variant] = np.load(path)
        rss = {v: w.close() for v, w in workers.items()}
        load = {v: w.load for v, w in workers.items()}
    print(f"load average at end {os.getloadavg()[0]:.1f}; {args.rounds} rounds, medians\n")
    table(variants, runs, load, rss, cosines, len(rows))
    if not args.no_quality:
        quality(variants, args.seeds)


def table(variants, runs, load, rss, vectors, count: int) -> None:
    import numpy as np

    base = runs["st"]
    header = (
        f"{'variant':<8} {'abstr/s':>8} {'wall s':>7} {'cpu s':>7} {'wall x':>7} {'cpu x':>7} "
        f"{'load s':>7} {'load cpu':>8} {'RSS MB':>7} {'cos min':>8} {'cos mean':>8}"
    )
    print(header)
    print("-" * len(header))
    for variant in variants:
        walls = [r["wall"] for r in runs[variant]]
        cpus = [r["cpu"] for r in runs[variant]]
        pairs = list(zip(base, runs[variant], strict=True))  # same round: seconds apart
        wall_x = statistics.median(b["wall"] / r["wall"] for b, r in pairs)
        cpu_x = statistics.median(b["cpu"] / r["cpu"] for b, r in pairs)
        cos = ""
        if variant in vectors:
            c = np.sum(vectors[variant] * vectors["st"], axis=1)
            cos = f"{c.min():8.4f} {c.mean():8.4f}"
        print(
            f"{variant:<8} {count / statistics.median(walls):8.1f} {statistics.median(walls):7.2f} "
            f"{statistics.median(cpus):7.2f} {wall_x:7.2f} {cpu_x:7.2f} "
            f"{load[variant]['load_s']:7.2f} {load[variant]['load_cpu_s']:8.2f} "
            f"{rss[variant]:7.0f} {cos}"
        )
    print(
        "\nwall x / cpu x: st time / variant time, per round, median (>1 = faster than st). "
        "load: imports + model load in a fresh process. digest: store + cache + pages included."
    )


def quality(variants: list[str], seeds: int) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from ranking_quality import digest_precision

    print(f"\ndev-protocol P@10 (bench/ranking_quality.py): Random(0), mean of {seeds} seeds")
    for variant in variants:
        if variant == "digest":
            continue  # the same vectors as onnx
        model, backend = VARIANTS[variant]
        each = digest_precision(model, backend, seeds)
        print(f"{variant:<8} {each[0]:.3f}  {statistics.mean(each):.3f}")


def bulk(count: int, kill_at: float) -> None:
    """`digest embed` over `count` generated papers in a fresh store: SIGKILLed once `kill_at`
    of them are stored (0: never), rerun to the end; then every paper must have exactly one
    vector and the rerun must have encoded only what the killed run had not committed."""
    import sqlite3

    rows = generated_rows(count)
    with tempfile.TemporaryDirectory() as tmp:
        jsonl = Path(tmp) / "papers.jsonl"
        jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        config = Path(tmp) / "config.toml"
        config.write_text('[database]\npath = "digest.db"\n', encoding="utf-8")
        digest = [sys.executable, "-m", "digest", "--config", str(config)]
        subprocess.run([*digest, "import", str(jsonl)], check=True, capture_output=True)
        print(
            f"{count} papers generated from the real week ({len(week_rows())} papers in "
            f"{LISTINGS.relative_to(ROOT)}; its abstracts re-used under new ids), imported; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        db = sqlite3.connect(Path(tmp) / "digest.db", timeout=60)
        stored = "SELECT COUNT(*), COUNT(DISTINCT content_hash) FROM embeddings WHERE model = ?"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        kept = 0
        if kill_at:
            embedder = subprocess.Popen([*digest, "embed"], stderr=subprocess.DEVNULL)
            while db.execute(stored, [BUNDLED]).fetchone()[0] < kill_at * count:
                if embedder.poll() is not None:
                    sys.exit("digest embed ended before it could be killed")
                time.sleep(0.5)
            embedder.kill()  # SIGKILL: no handler, no cleanup
            embedder.wait()
            kept = db.execute(stored, [BUNDLED]).fetchone()[0]
            print(f"SIGKILL after {time.perf_counter() - started:.0f} s: {kept} vectors kept")
        proc = subprocess.run(
            [*digest, "embed", "--json"], check=True, capture_output=True, text=True
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        report = json.loads(proc.stdout)
        final = db.execute(stored, [BUNDLED]).fetchone()
        papers_with_vector = db.execute(
            "SELECT COUNT(*) FROM papers p JOIN embeddings e ON e.model = ? "
            "AND e.content_hash = p.content_hash",
            [BUNDLED],
        ).fetchone()[0]
        db.close()
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if kill_at:
        print(
            f"rerun: {report['embedded']} embedded, {report['stored']} stored "
            f"({kept} + {report['embedded']} = {kept + report['embedded']} of {count})"
        )
    once = final == (count, count) and papers_with_vector == count
    once = once and kept + report["embedded"] == count == kept + report["stored"]
    print(
        f"every paper embedded exactly once: {'yes' if once else 'NO'} "
        f"({final[0]} vectors, {final[1]} distinct texts, {papers_with_vector} papers with one)"
    )
    print(
        f"digest embed ({report['backend']}): {count} papers in {wall:.0f} s wall, {cpu:.0f} s "
        f"CPU: {count / wall:.1f} papers/s sustained, {count / cpu:.1f} per CPU second; "
        f"peak RSS {after.ru_maxrss / 1024:.0f} MB (largest child); load average "
        f"{os.getloadavg()[0]:.1f} at end"
    )


if __name__ == "__main__":
    main()
