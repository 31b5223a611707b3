"""Export throughput: MB/s written per format vs a plain `cp` of the same bytes.

Also two reference lines: ``(gather)``, sampling and gathering the documents into memory
without writing, and ``(write)``, writing the store's bytes from memory in one call (the
floor of any writer, without cp's in-kernel copy).

Builds a synthetic token store (uint16, documents of 20-2,000 tokens, each ending with
EOS), then in ONE process run: `cp` of the store's token files (the floor: what the disk
and page cache give a byte copy), and an export of a natural mix of (nearly) the whole
store in each format — documents sampled, globally shuffled and gathered from the memory
maps. Every timing includes fsync of the files written, so both sides pay for the disk.
Each line is ``--repeat`` rounds of (cp, that line), and its ratio the median of the
per-round ratios: on the shared machine disk speed drifts several-fold within seconds.
The Numba kernels are compiled on a tiny export first (not timed).

    PYTHONPATH=$PWD python bench/export.py --tokens 100M --work /tmp/mixforge-bench
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from mixforge.config import parse_tokens
from mixforge.export import ExportConfig, export
from mixforge.mixers.materialize import materialize
from mixforge.mixers.strategies import natural, store_tokens
from mixforge.tokenize.store import finalize_store, write_shard

EOS = 50_256
VOCAB = 50_257


def make_store(out: Path, tokens: int, domains: int = 4, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    per_shard = 25_000_000
    for d in range(domains):
        left, shard = tokens // domains, 0
        while left > 0:
            n = min(left, per_shard)
            lens = rng.integers(20, 2_000, n // 1_000 + 10)
            lens = lens[: int(np.searchsorted(np.cumsum(lens), n)) + 1]
            lens[-1] -= int(lens.sum()) - n
            lens = lens[lens > 0]
            toks = rng.integers(0, EOS, int(lens.sum()), dtype=np.uint16)
            toks[np.cumsum(lens) - 1] = EOS
            ids = [f"d{d}-{shard}-{i}" for i in range(len(lens))]
            write_shard(out, f"shard-{shard:05d}", f"domain{d}", toks, lens, ids, ids, lens * 4)
            left -= n
            shard += 1
    finalize_store(out, VOCAB, {"kind": "synthetic", "vocab_size": VOCAB}, {"eos_id": EOS})
    return out


def median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


def fsync_tree(folder: Path) -> int:
    total = 0
    for p in folder.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
            total += p.stat().st_size
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", default="100M", help="Store size in tokens (100M = 200 MB).")
    ap.add_argument("--repeat", type=int, default=5, help="Rounds per line (medians shown).")
    ap.add_argument("--work", default=None, help="Scratch folder (default: a temp folder).")
    ap.add_argument("--formats", default="nanogpt,llmc,megatron,datatrove,mds,hf-disk,"
                    "hf-parquet", help="Comma-separated formats to time.")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="mixforge-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        t0 = time.perf_counter()
        store = make_store(work / "store", parse_tokens(args.tokens))
        fsync_tree(store)  # no writeback of the store during the timings
        print(f"store: {parse_tokens(args.tokens):,} tokens in "
              f"{time.perf_counter() - t0:.1f} s at {store}")
        tokens = store_tokens(store)
        tiny = natural(tokens, 10_000, seed=0)
        for fmt in args.formats.split(","):  # compile the kernels, warm imports
            export(store, tiny, ExportConfig(format=fmt, out=work / "warm", overwrite=True))
        bins = sorted(store.rglob("*.bin"))

        def copy() -> int:
            for folder in sorted({b.parent for b in bins}):
                dst = work / "cp" / folder.name
                dst.mkdir(parents=True)
                subprocess.run(["cp", *(str(b) for b in bins if b.parent == folder), str(dst)],
                               check=True)
            return fsync_tree(work / "cp")

        def once(fn) -> tuple[int, float]:
            start = time.perf_counter()
            nbytes = fn()
            secs = time.perf_counter() - start
            shutil.rmtree(work / "out", ignore_errors=True)
            shutil.rmtree(work / "cp", ignore_errors=True)
            return nbytes, secs

        def line(name: str, fn) -> None:
            """--repeat rounds of (cp, fn): this machine's disk speed drifts several-fold
            within seconds, so each run is compared with a cp right beside it."""
            rates, ratios, nbytes = [], [], 0
            for _ in range(args.repeat):
                cb, cs = once(copy)
                nbytes, secs = once(fn)
                rates.append(nbytes / 1e6 / secs)
                ratios.append(rates[-1] / (cb / 1e6 / cs))
                cp_rates.append(cb / 1e6 / cs)
            print(f"{name:<11} {nbytes / 1e6:9.1f} MB {median(rates):8.0f} MB/s "
                  f"{median(ratios):6.2f}   [{min(ratios):.2f}-{max(ratios):.2f}]")

        cp_rates: list[float] = []
        print(f"{'format':<11} {'written':>12} {'MB/s':>13} {'vs cp':>6}   [range]")
        mix = natural(tokens, int(sum(tokens.values()) * 0.99), seed=1)
        m = materialize(store, mix, val_fraction=0.005)

        def gather() -> int:  # the sampling + gathering alone, no writing
            return sum(c.tokens.nbytes for c in m.chunks("train", np.uint16, reuse=True))

        flat = np.concatenate([np.fromfile(b, np.uint16) for b in bins])

        def write() -> int:  # the same bytes from memory, one write call: a writer's floor
            (work / "out").mkdir()
            flat.tofile(work / "out" / "flat.bin")
            return fsync_tree(work / "out")

        line("(gather)", gather)
        line("(write)", write)
        for fmt in args.formats.split(","):
            cfg = ExportConfig(format=fmt, out=work / "out", val_fraction=0.005)
            line(fmt, lambda cfg=cfg: (export(store, mix, cfg), fsync_tree(cfg.out))[1])
        print(f"cp itself: median {median(cp_rates):.0f} MB/s, "
              f"range {min(cp_rates):.0f}-{max(cp_rates):.0f} MB/s over {len(cp_rates)} runs")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        store_mb = sum(b.stat().st_size for b in bins) / 1e6
        print(f"peak RSS of this process: {rss:,.0f} MB (store {store_mb:,.0f} MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
