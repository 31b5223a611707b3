"""Recall and precision of fuzzy dedup against brute-force Jaccard on real near-duplicates.

The sample is every licence text (ScanCode + /usr/share/common-licenses) and every Debian
copyright file on this machine; the truth is the exact Jaccard of word-5-gram shingle
sets over all pairs. Clusters come from the `dedup` stage itself (LSH, optional exact
verification, union-find). The figure goes in docs/dedup.md.

    PYTHONPATH=$PWD python bench/dedup_quality.py
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from mixforge.corpus import build_corpus
from mixforge.curate.dedup import FuzzyConfig, dedup
from mixforge.curate.dedup_quality import all_pairs_jaccard, pair_quality, representative_quality
from mixforge.executor import LocalExecutor
from mixforge.ingest import IngestConfig, ingest
from mixforge.stats import stage_files


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-mb", type=float, default=None, help="bound the sample")
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.7, 0.8, 0.9])
    ap.add_argument("--verified-only", action="store_true", help="skip the runs without "
                    "verification")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        build_corpus(Path(tmp) / "c", args.max_mb, ["licenses", "debian_copyright"])
        ingest(IngestConfig(inputs=[str(Path(tmp) / "c")]), run, LocalExecutor(1))
        texts = pa.concat_tables(pq.read_table(f) for f in stage_files(run / "ingest"))["text"]
        t = time.perf_counter()
        i, j, jac = all_pairs_jaccard(texts, min_jaccard=0.4)
        n = len(texts)
        print(f"{n:,} documents, {n * (n - 1) // 2:,} pairs brute-forced in "
              f"{time.perf_counter() - t:.1f} s")
        rows = []
        for thr in args.thresholds:
            for verify in (True,) if args.verified_only else (True, False):
                cfg = FuzzyConfig(input_stage="ingest", threshold=thr, verify=verify,
                                  output_stage=f"f{thr}{verify}")
                rep = dedup(cfg, run, LocalExecutor(1))
                df = pl.read_parquet(run / cfg.output_stage / "_clusters" / "clusters.parquet")
                c = np.arange(n)
                c[df["idx"].to_numpy()] = df["cluster"].to_numpy()
                q = pair_quality(c, i, j, jac, thr)
                q.update(representative_quality(df, texts, thr, i, j, jac))
                p = cfg.params()
                rows.append({"threshold": thr, "verify": verify, "bands x rows":
                             f"{p.bands}x{p.rows}", **{k: round(v, 4) if isinstance(v, float)
                                                       else v for k, v in q.items()},
                             "duplicates": rep.stats["duplicates"]})
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
