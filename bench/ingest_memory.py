"""Peak memory of the ingest stage as the corpus grows: it must stay flat (streaming).

Builds one JSONL file of k x batch_rows real documents (the local corpus, cycled) for each
k, ingests it in a fresh process with one worker, and reports that process's peak RSS
(VmHWM) after ingest and after the per-domain stats that `mixforge ingest` prints.

    python bench/ingest_memory.py [--batch-rows 4096] [--scales 1 10 100]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson
import zstandard

from mixforge.corpus import build_corpus

CHILD = """
import sys, time
from mixforge.executor import LocalExecutor
from mixforge.ingest import IngestConfig, ingest
from mixforge.stats import run_stats
def hwm():
    line = next(x for x in open('/proc/self/status') if x.startswith('VmHWM'))
    return int(line.split()[1]) / 1024
path, run, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = time.perf_counter()
ingest(IngestConfig(inputs=[path], domain='all', batch_rows=rows), run, LocalExecutor(1))
secs, after_ingest = time.perf_counter() - t, hwm()
run_stats(run)
print(after_ingest, hwm(), secs)
"""


def corpus_lines(tmp: Path) -> list[bytes]:
    build_corpus(tmp / "corpus", max_mb=10)
    lines = []
    for f in sorted((tmp / "corpus").glob("*.jsonl.zst")):
        raw = zstandard.ZstdDecompressor().stream_reader(f.read_bytes()).read()
        lines += [ln for ln in raw.splitlines() if ln]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch-rows", type=int, default=4096)
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        lines = corpus_lines(tmp)
        print(f"{'docs':>9} {'x batch':>7} {'MB in':>7} {'peak MiB ingest':>15} "
              f"{'+stats':>7} {'s':>5} {'MB/s':>5}")
        for k in args.scales:
            n = k * args.batch_rows
            path = tmp / f"in{k}.jsonl"
            with open(path, "wb") as f:
                for i in range(n):
                    f.write(orjson.dumps({**orjson.loads(lines[i % len(lines)]), "n": i}) + b"\n")
            mb = path.stat().st_size / 1e6
            out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(tmp / f"run{k}"),
                                  str(args.batch_rows)], check=True, capture_output=True,
                                 text=True).stdout.split()
            ingest_mb, stats_mb, secs = map(float, out)
            print(f"{n:>9,} {k:>7} {mb:>7.1f} {ingest_mb:>15.0f} {stats_mb:>7.0f} "
                  f"{secs:>5.1f} {mb / secs:>5.1f}")
            path.unlink()


if __name__ == "__main__":
    main()
