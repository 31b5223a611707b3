"""The whole curate path at growing sizes: time, MB/s and peak RSS per stage.

    PYTHONPATH=$PWD python -m bench.scaling --corpus POOL [--corpus POOL2] --sizes 25,100,400

Input: the documents of the given corpora (anything `mixforge ingest` reads, or run
directories), in a fixed pseudo-random order (a hash of each document's id), written as
one JSONL per size: the first S MB of that order, so the sizes are nested samples of the
same mix. Only when the pool is smaller than S are documents cycled (copy k of a document
is the same text on a new line, so ingest gives it a fresh id); exact dedup then removes
the copies and the later stages see about the pool's size (the table's "docs in" column
shows it). The default pool is both real corpora at full size, the local corpus
(`mixforge corpus`, ~90 MB) and bench/corpus_other.py (~340 MB): 400 MB without cycling.

Each stage runs as its own `mixforge` process on the local executor (``--workers``), in
pipeline order on one run directory: ingest -> dedup exact -> dedup fuzzy -> filter
(defaults: language ID on, English; the web rules) -> tokenize (an 8k byte-level BPE
trained once on 5 MB of the smallest size, reused), which reads dedup_fuzzy's output: the
default web rules keep few documents of code and reference text, and tokenizing only
what they keep would measure next to nothing. Per stage: wall seconds, MB/s of the stage's input
text, and the peak RSS summed over the stage's process tree (psutil, sampled every
0.05 s). The last column compares seconds per MB with the smallest size's (1.00 = linear).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import psutil
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench._common import is_run, parser, read_stage, write

STAGES = ("ingest", "dedup_exact", "dedup_fuzzy", "filter", "tokenize")


def pool(corpora: list[Path], work: Path) -> list[tuple[str, str]]:
    """(text, domain) of every document of the corpora, in the fixed hash order."""
    from mixforge.executor import LocalExecutor
    from mixforge.ingest import IngestConfig, ingest

    docs = []
    for i, c in enumerate(corpora):
        run = c
        if not is_run(c):
            run = work / f"pool{i}"
            ingest(IngestConfig(inputs=[str(c)]), run, LocalExecutor(1))
        t = read_stage(run)
        docs += zip(t["id"].to_pylist(), t["text"].to_pylist(), t["domain"].to_pylist(),
                    strict=True)
    docs.sort(key=lambda d: hashlib.blake2b(d[0].encode(), digest_size=8).digest())
    return [(text, dom) for _, text, dom in docs]


def write_input(docs: list[tuple[str, str]], mb: float, path: Path) -> tuple[int, int]:
    """The first ``mb`` MB of ``docs`` (cycled if short) as JSONL; (documents, copies)."""
    cap, size, n = mb * 1e6, 0, 0
    with open(path, "wb") as f:
        while size < cap:
            text, dom = docs[n % len(docs)]
            f.write(orjson.dumps({"text": text, "domain": dom}) + b"\n")
            size += len(text.encode())
            n += 1
    return n, (n - 1) // len(docs) + 1


def peak_rss(proc: subprocess.Popen) -> int:
    """Wait for ``proc``; the peak of its process tree's summed RSS (bytes)."""
    peak = 0
    p = psutil.Process(proc.pid)
    while proc.poll() is None:
        total = 0
        try:
            for q in [p, *p.children(recursive=True)]:
                total += q.memory_info().rss
        except psutil.Error:
            pass
        peak = max(peak, total)
        time.sleep(0.05)
    return peak


def stage_input_mb(run: Path, stage: str) -> tuple[float, int]:
    """MB of text and documents the stage read (its input stage's kept documents)."""
    from mixforge.stats import stage_files

    files = stage_files(run / stage)
    mb = sum(pc.sum(pc.binary_length(pq.read_table(f, columns=["text"])["text"])).as_py() or 0
             for f in files) / 1e6
    n = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return mb, n


def run_stage(argv: list[str], log: Path) -> tuple[float, int]:
    t = time.perf_counter()
    with open(log, "ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "mixforge", *argv], stdout=fh,
                                stderr=subprocess.STDOUT)
        peak = peak_rss(proc)
    if proc.returncode:
        msg = f"mixforge {' '.join(argv)} failed (exit {proc.returncode}); see {log}"
        raise RuntimeError(msg)
    return time.perf_counter() - t, peak


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--sizes", default="25,100,400", help="MB, comma-separated")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--extra-corpus", type=Path, action="append", default=[],
                    help="more corpora for the pool")
    args = ap.parse_args()
    sizes = [0.3, 0.6] if args.quick else [float(s) for s in args.sizes.split(",")]
    w = ["--workers", str(args.workers)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpora = [c for c in [args.corpus, *args.extra_corpus] if c]
        if not corpora:
            from mixforge.corpus import build_corpus

            from .corpus_other import build

            build_corpus(work / "local", max_mb=None)
            build(work / "other", None)
            corpora = [work / "local", work / "other"]
        docs = pool(corpora, work)
        tokenizer = None
        base: dict[str, float] = {}
        for mb in sizes:
            inp = work / f"in-{mb:g}.jsonl"
            n_docs, copies = write_input(docs, mb, inp)
            run, log = work / f"run-{mb:g}", work / f"log-{mb:g}.txt"
            argvs = {"ingest": ["ingest", str(inp), "-r", str(run), "--domain-field", "domain"],
                     "dedup_exact": ["dedup", "exact", "-r", str(run)],
                     "dedup_fuzzy": ["dedup", "fuzzy", "-r", str(run)],
                     "filter": ["filter", "-r", str(run)],
                     "tokenize": ["tokenize", "-r", str(run), "--input-stage", "dedup_fuzzy"]}
            prev = None
            for stage in STAGES:
                if stage == "tokenize":
                    if tokenizer is None:
                        subprocess.run([sys.executable, "-m", "mixforge", "tokenizer", "train",
                                        "-r", str(run), "--vocab-size",
                                        "512" if args.quick else "8192", "--max-mb", "5"],
                                       check=True, capture_output=True)
                        tokenizer = work / "tokenizer.json"
                        (run / "tokenizer" / "tokenizer.json").replace(tokenizer)
                    argvs[stage] += ["--tokenizer", str(tokenizer)]
                if stage == "tokenize":
                    prev = "dedup_fuzzy"
                in_mb, in_docs = (mb, n_docs) if prev is None else stage_input_mb(run, prev)
                sec, peak = run_stage([*argvs[stage], *w], log)
                per_mb = sec / max(in_mb, 1e-9)
                base.setdefault(stage, per_mb)
                rows.append({"MB": f"{mb:g}", "stage": stage, "docs in": f"{in_docs:,}",
                             "MB in": f"{in_mb:.1f}", "seconds": f"{sec:.1f}",
                             "MB/s": f"{in_mb / sec:.2f}", "peak RSS MiB": f"{peak / 2**20:,.0f}",
                             "s/MB vs smallest": f"{per_mb / base[stage]:.2f}"})
                print(rows[-1], flush=True)
                prev = stage
            total = sum(float(r["seconds"]) for r in rows[-5:])
            rows.append({"MB": f"{mb:g}", "stage": "**all five**", "docs in": f"{n_docs:,}",
                         "MB in": f"{mb:g}", "seconds": f"{total:.1f}",
                         "MB/s": "", "peak RSS MiB": "", "s/MB vs smallest": ""})
            if copies > 1:
                rows[-1]["stage"] += f" (pool cycled {copies}x)"
    write(args, "scaling", rows,
          f"{len(docs):,} documents in the pool; sizes {sizes} MB; local executor, "
          f"{args.workers} workers; each stage a separate `mixforge` process (its start-up, "
          "~1-2 s of imports, is in its seconds).")


if __name__ == "__main__":
    main()
