"""Bytes per document of the fuzzy dedup reduce at 100k, 1M and 10M documents.

Writes the map stage's output for N synthetic documents exactly as `dedup fuzzy`'s map
does (`lsh.BucketWriter` rows ``(band hash, band, idx)`` into 16 bucket files per shard,
14 bands, and a ``_map/docs`` table per shard; 100,000 documents a shard), then runs only
the reduce (`mixforge.curate.dedup._reduce`, the function `dedup fuzzy` calls) **with
verification off** (``verify=False``: verification re-reads the texts, which synthetic
band hashes do not have) in a fresh subprocess per N. That process reports its RSS after
imports, its RSS after a 1,000-document warm-up reduce (numba kernels loaded, polars
initialised: the baseline), its peak RSS (``ru_maxrss``) and the reduce's wall time.
Bytes per document = (peak - baseline) / N.

Duplicate structure: 20% of documents are planted duplicates of an earlier one, in
clusters of 2-5 documents (uniform) at random positions. A duplicate shares each of its
origin's 14 band hashes with probability J^9 (J uniform in [0.8, 1), the threshold-0.8
band size; a quarter of them are exact copies, J = 1), and at least one. Every other
band hash is a distinct 64-bit hash. Ids are 16 hex digits (the length of ingest's ids)
that sort in input order, so keep=first keeps each cluster's first document, and the
reduce must remove exactly the other members: the script checks removed.parquet against
the planted duplicates, row by row, and fails otherwise.

    PYTHONPATH=$PWD python -m bench.reduce_memory [--docs 100000 1000000 10000000]

``--corpus`` is accepted (the bench contract) and ignored: the data is synthetic.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench import _common

BANDS, ROWS, BUCKETS = 14, 9, 16
SHARD_DOCS = 100_000
DUP_FRACTION = 0.20
WARMUP_DOCS = 1_000
ROOT = Path(__file__).resolve().parent.parent


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 of each element (uint64 in, uint64 out): distinct inputs, hash-like outputs."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def plant(n: int, seed: int = 0) -> tuple[np.ndarray, int, int]:
    """Each document's origin (itself, or the first member of its cluster), the number of
    clusters and of documents in clusters."""
    rng = np.random.default_rng(seed)
    target = int(n * DUP_FRACTION)
    sizes = rng.integers(2, 6, size=target // 2 + 1)
    cum = np.cumsum(sizes - 1)
    c = int(np.searchsorted(cum, target)) + 1
    sizes = sizes[:c]
    sizes[-1] -= int(cum[c - 1]) - target  # exactly `target` duplicates (still >= 2)
    members = rng.choice(n, int(sizes.sum()), replace=False)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    first = np.minimum.reduceat(members, starts)
    origin = np.arange(n, dtype=np.int64)
    origin[members] = np.repeat(first, sizes)
    return origin, len(sizes), int(sizes.sum())


def write_shuffle(run: Path, n: int, seed: int = 0) -> tuple[np.ndarray, int, int]:
    """The fuzzy map's output for ``n`` synthetic documents under ``run/dedup_fuzzy/_map``."""
    from mixforge.curate import lsh
    from mixforge.curate.dedup import DOCS_SCHEMA, MAP
    from mixforge.rundir import atomic_path

    origin, n_clusters, in_clusters = plant(n, seed)
    map_dir = run / "dedup_fuzzy" / MAP
    bands = np.arange(BANDS, dtype=np.uint64)
    for k, a in enumerate(range(0, n, SHARD_DOCS)):
        b = min(n, a + SHARD_DOCS)
        rng = np.random.default_rng([seed, k])
        idx = np.arange(a, b, dtype=np.int64)
        org = origin[a:b]
        jac = np.where(rng.random(b - a) < 0.25, 1.0, rng.uniform(0.8, 1.0, b - a))
        shared = rng.random((b - a, BANDS)) < (jac ** ROWS)[:, None]
        shared[np.arange(b - a), rng.integers(0, BANDS, b - a)] = True
        src = np.where(shared, org[:, None], idx[:, None]).astype(np.uint64)
        h1 = _mix(src * np.uint64(BANDS) + bands).ravel()
        shard = f"shard-{k:05d}"
        with lsh.BucketWriter(map_dir, shard, BUCKETS) as bw:
            bw.write(h1, np.tile(bands, b - a), np.repeat(idx, BANDS))
        docs = pa.table([pa.array(idx), pa.array([f"{i:016x}" for i in range(a, b)]),
                         pa.array(rng.integers(200, 5000, b - a)),
                         pa.nulls(b - a, pa.float64()),
                         pa.array(rng.integers(20, 1000, b - a))], schema=DOCS_SCHEMA)
        path = map_dir / "docs" / f"{shard}.parquet"
        with atomic_path(path) as tmp:
            pq.write_table(docs, tmp)
    return origin, n_clusters, in_clusters


def _reduce(run: Path) -> dict:
    """`dedup._reduce` over the shuffle in ``run`` (verification off)."""
    from mixforge.curate.dedup import MAP, FuzzyConfig, MapParams, _reduce
    from mixforge.rundir import ShardTask

    cfg = FuzzyConfig(input_stage="ingest", bands=BANDS, rows=ROWS, buckets=BUCKETS,
                      verify=False)
    map_dir = run / "dedup_fuzzy" / MAP
    tasks, markers, idx0 = [], [], 0
    for f in sorted((map_dir / "docs").glob("*.parquet")):
        rows = pq.ParquetFile(f).metadata.num_rows
        # inputs[0] (the shard's text) is read only by verification
        tasks.append(ShardTask(str(map_dir), f.stem, (str(f),), "", MapParams(cfg, idx0, False)))
        markers.append({"counts": {"docs_in": rows, "no_shingles": 0}})
        idx0 += rows
    return _reduce(run, cfg, tasks, idx0, markers)


def _rss_mb() -> float:
    line = next(x for x in open("/proc/self/status") if x.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


class Phases:
    """Which step of the reduce holds the most memory: samples this process's RSS every
    20 ms, labelled with the reduce's step (its `lsh` and `dedup` helpers, wrapped)."""

    def __init__(self) -> None:
        self.label, self.peak, self.stop = "start", {}, threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.stop.wait(0.02):
            self.peak[self.label] = max(self.peak.get(self.label, 0.0), _rss_mb())

    def wrap(self, owner: object, name: str) -> None:
        fn = getattr(owner, name)

        def labelled(*a, **k):
            self.label = name
            try:
                return fn(*a, **k)
            finally:
                self.label = f"after {name}"

        setattr(owner, name, labelled)


def child(run: Path, warm: Path) -> None:
    """Run in a fresh process: the reduce of ``run``, after a warm-up on ``warm``."""
    from mixforge.curate import dedup, lsh

    imports = _rss_mb()
    _reduce(warm)
    base = _rss_mb()
    phases = Phases()
    for name in ("read_bucket", "bucket_edges", "unique_edges", "union", "roots"):
        phases.wrap(lsh, name)
    for name in ("_representatives", "_check_ids"):
        phases.wrap(dedup, name)
    phases.wrap(dedup.pq, "write_table")
    phases.thread.start()
    t = time.perf_counter()
    stats = _reduce(run)
    secs = time.perf_counter() - t
    phases.stop.set()
    phases.thread.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"imports_mb": imports, "baseline_mb": base, "peak_mb": peak,
                      "seconds": secs, "stats": stats,
                      "phases": {k: round(v) for k, v in phases.peak.items()}}))


def check(run: Path, origin: np.ndarray, stats: dict, n_clusters: int, in_clusters: int,
          ) -> None:
    """Fail unless the reduce removed exactly the planted duplicates."""
    removed = pq.read_table(run / "dedup_fuzzy" / "_clusters" / "removed.parquet",
                            columns=["shard", "row"])
    shard_no = np.array([int(s.split("-")[1]) for s in removed["shard"].to_pylist()], np.int64)
    got = np.sort(shard_no * SHARD_DOCS + removed["row"].to_numpy())
    want = np.flatnonzero(origin != np.arange(len(origin)))
    counts = (stats["clusters"], stats["docs_in_clusters"], stats["duplicates"])
    if counts != (n_clusters, in_clusters, len(want)) or not np.array_equal(got, want):
        msg = (f"reduce of {len(origin):,} documents: clusters, members, removed = {counts}, "
               f"planted {(n_clusters, in_clusters, len(want))}; removed rows "
               f"{'match' if np.array_equal(got, want) else 'differ'}")
        raise SystemExit(msg)


def measure(work: Path, n: int, warm: Path) -> dict:
    run = work / f"n{n}"
    shutil.rmtree(run, ignore_errors=True)
    t = time.perf_counter()
    origin, n_clusters, in_clusters = write_shuffle(run, n)
    made = time.perf_counter() - t
    disk = sum(f.stat().st_size for f in (run / "dedup_fuzzy").rglob("*.parquet"))
    p = subprocess.run([sys.executable, "-m", "bench.reduce_memory", "--child", str(run),
                        str(warm)], cwd=ROOT, capture_output=True, text=True, check=False)
    if p.returncode:
        msg = f"reduce of {n:,} documents failed:\n{p.stderr[-3000:]}"
        raise SystemExit(msg)
    r = json.loads(p.stdout.strip().splitlines()[-1])
    check(run, origin, r["stats"], n_clusters, in_clusters)
    shutil.rmtree(run)
    print(f"{n:,} documents: shuffle {disk / 1e6:,.0f} MB on disk, written in {made:.0f} s",
          file=sys.stderr)
    return {"docs": n, "wall_s": round(r["seconds"], 1),
            "peak_rss_mb": round(r["peak_mb"]), "baseline_mb": round(r["baseline_mb"]),
            "imports_mb": round(r["imports_mb"]),
            "bytes_per_doc": round((r["peak_mb"] - r["baseline_mb"]) * 2**20 / n, 1),
            "candidates_s": r["stats"]["seconds_candidates"],
            "removed": r["stats"]["duplicates"], "clusters": r["stats"]["clusters"],
            "candidate_edges": r["stats"]["candidate_edges"],
            "candidate_pairs": r["stats"]["candidate_pairs"],
            "shuffle_mb_on_disk": round(disk / 1e6),
            "peak_step": max(r["phases"], key=r["phases"].get),
            "rss_mb_by_step": r["phases"]}


def main() -> None:
    ap = _common.parser(__doc__)
    ap.add_argument("--docs", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000],
                    help="document counts, one fresh reduce process each (in this order)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/mixforge-bench-reduce-mem"),
                    help="scratch folder (each size's shuffle is deleted after its run)")
    ap.add_argument("--child", type=Path, nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    sizes = [2_000, 20_000] if args.quick else args.docs
    shutil.rmtree(args.work, ignore_errors=True)
    warm = args.work / "warmup"
    write_shuffle(warm, WARMUP_DOCS, seed=1)
    rows = [measure(args.work, n, warm) for n in sizes]
    for prev, row in itertools.pairwise(rows):  # of the peak above baseline
        grew = row["bytes_per_doc"] * row["docs"] - prev["bytes_per_doc"] * prev["docs"]
        row["slope_bytes_per_doc"] = round(grew / (row["docs"] - prev["docs"]), 1)
    shutil.rmtree(args.work)
    args.corpus = "synthetic"
    _common.write(args, "reduce_memory", rows, notes=(
        "fuzzy reduce only (mixforge.curate.dedup._reduce, verify=False), one fresh "
        "process per size; bytes_per_doc = (peak RSS - RSS after imports and a 1,000-doc "
        "warm-up reduce) / docs; slope between consecutive sizes; removed rows checked "
        "against the planted duplicates (20% of documents, clusters of 2-5)"))


if __name__ == "__main__":
    main()
