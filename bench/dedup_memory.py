"""Fuzzy (and exact) dedup of 1,000,000 synthetic documents: wall time and peak memory.

Documents are built from real sentences: a corpus (``mixforge corpus``) is split into
sentences, and each document is 3-10 sentences drawn at random; 15% of documents are
near-copies of an earlier one (a few words changed) and 5% exact copies, so the shuffle
and the clusters are realistic. Peak memory is sampled (psutil, every 0.1 s) over this
process and all its descendants (the worker pool), and read from ru_maxrss for the
reduce, which runs in this process.

    PYTHONPATH=$PWD python bench/dedup_memory.py --docs 1000000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import shutil
import threading
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from mixforge.corpus import build_corpus
from mixforge.curate.dedup import ExactConfig, FuzzyConfig, dedup
from mixforge.executor import LocalExecutor
from mixforge.stats import stage_files


class PeakSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.stop = 0, False

    def run(self) -> None:
        me = psutil.Process()
        while not self.stop:
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.1)


def sentences(corpus: Path) -> list[str]:
    import io

    import zstandard

    out = []
    for f in sorted(corpus.glob("*.jsonl.zst")):
        with open(f, "rb") as fh:
            lines = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(fh),
                                     encoding="utf-8", newline="\n")
            texts = [json.loads(line)["text"] for line in lines]
        for text in texts:
            out += [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n\n+", text)
                    if 30 <= len(s.strip()) <= 400]
    return out


def make_stage(run: Path, n_docs: int, sents: list[str], shard_docs: int = 50_000) -> int:
    rng = random.Random(0)
    stage = run / "ingest"
    (stage / "_markers").mkdir(parents=True)
    made, nbytes, recent = 0, 0, []
    for k in range((n_docs + shard_docs - 1) // shard_docs):
        texts = []
        for _ in range(min(shard_docs, n_docs - made)):
            u = rng.random()
            if u < 0.05 and recent:
                t = rng.choice(recent)
            elif u < 0.20 and recent:
                w = rng.choice(recent).split()
                for _ in range(rng.randint(1, 3)):
                    w[rng.randrange(len(w))] = rng.choice(("foo", "bar", "baz", "qux"))
                t = " ".join(w)
            else:
                t = " ".join(rng.choice(sents) for _ in range(rng.randint(3, 10)))
                recent.append(t)
                if len(recent) > 5000:
                    recent.pop(0)
            texts.append(t)
        name = f"shard-{k:05d}"
        ids = [f"syn-{made + i:08d}" for i in range(len(texts))]
        table = pa.table({"id": ids, "text": pa.array(texts, pa.large_string()),
                          "domain": ["synthetic"] * len(texts), "source": ids})
        pq.write_table(table, stage / f"{name}.parquet", compression="zstd")
        (stage / "_markers" / f"{name}.json").write_text(json.dumps(
            {"shard": name, "key": name, "outputs": [f"{name}.parquet"],
             "counts": {"kept": len(texts)}}))
        made += len(texts)
        nbytes += sum(len(t.encode()) for t in texts)
    return nbytes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/mixforge-bench-dedup-mem"))
    ap.add_argument("--corpus-mb", type=float, default=20.0)
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    corpus = args.work / "corpus"
    build_corpus(corpus, max_mb=args.corpus_mb)
    sents = sentences(corpus)
    t0 = time.perf_counter()
    text_bytes = make_stage(args.work / "run", args.docs, sents)
    print(f"{args.docs:,} documents, {text_bytes / 1e6:.0f} MB of text from {len(sents):,} "
          f"real sentences, made in {time.perf_counter() - t0:.0f} s")
    base = psutil.Process().memory_info().rss
    sampler = PeakSampler()
    sampler.start()
    ex = LocalExecutor(args.workers)
    t0 = time.perf_counter()
    r_exact = dedup(ExactConfig(), args.work / "run", ex)
    t1 = time.perf_counter()
    r_fuzzy = dedup(FuzzyConfig(), args.work / "run", ex)
    t2 = time.perf_counter()
    sampler.stop = True
    sampler.join()
    main_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    shuffle = sum(f.stat().st_size for f in
                  (args.work / "run" / "dedup_fuzzy" / "_map" / "buckets").rglob("*.parquet"))
    n_fuzzy = r_fuzzy.stats["docs_in"]
    out = {
        "docs": args.docs, "text_mb": round(text_bytes / 1e6), "workers": args.workers,
        "exact_seconds": round(t1 - t0, 1), "exact_duplicates": r_exact.stats["duplicates"],
        "fuzzy_seconds": round(t2 - t1, 1), "fuzzy_docs": n_fuzzy,
        "fuzzy_duplicates": r_fuzzy.stats["duplicates"],
        "fuzzy_clusters": r_fuzzy.stats["clusters"],
        "fuzzy_map_s": r_fuzzy.stats["seconds_map"],
        "fuzzy_reduce_s": r_fuzzy.stats["seconds_reduce"],
        "fuzzy_drop_s": r_fuzzy.stats["seconds_drop"],
        "peak_rss_all_processes_mb": round(sampler.peak / 2**20),
        "peak_rss_main_mb": round(main_peak / 2**20),
        "main_baseline_mb": round(base / 2**20),
        "reduce_bytes_per_doc": round((main_peak - base) / n_fuzzy, 1),
        "shuffle_bytes_per_doc_on_disk": round(shuffle / n_fuzzy, 1),
    }
    print(json.dumps(out, indent=2))
    for k in ("ingest",):
        assert stage_files(args.work / "run" / k)


if __name__ == "__main__":
    main()
