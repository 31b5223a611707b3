"""Whole fuzzy dedup: mixforge (map, shuffle, reduce, drop) vs datasketch MinHashLSH.

Same documents (the real local corpus, ingested), same normalization, 128 permutations,
word 5-grams, the same (bands, rows) = (14, 9). datasketch: ``MinHash.bulk`` over the
shingles (SHA-1), ``MinHashLSH(params=(14, 9))``, insert every document, query every
document, union the answers into clusters (Python) — the usual recipe. mixforge: the
`dedup` stage on one worker, end to end including parquet I/O, with and without exact
verification. Both produce clusters; their agreement is printed.

    PYTHONPATH=$PWD python bench/dedup_fuzzy.py --corpus-mb 20
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from mixforge.corpus import build_corpus
from mixforge.curate.dedup import FuzzyConfig, dedup
from mixforge.curate.normalize import NormConfig, normalize
from mixforge.executor import LocalExecutor
from mixforge.ingest import IngestConfig, ingest
from mixforge.stats import stage_files


def clusters_datasketch(norm: list[str], b: int, r: int) -> np.ndarray:
    from datasketch import MinHash, MinHashLSH

    sets = []
    for t in norm:
        w = t.split()
        sets.append([" ".join(w[i:i + 5]).encode() for i in range(max(len(w) - 4, 1))]
                    if w else [])
    mh = MinHash.bulk(sets, num_perm=b * r)
    lsh = MinHashLSH(num_perm=b * r, params=(b, r))
    for i, (m, s) in enumerate(zip(mh, sets, strict=True)):
        if s:
            lsh.insert(i, m)
    parent = list(range(len(norm)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, (m, s) in enumerate(zip(mh, sets, strict=True)):
        if s:
            for j in lsh.query(m):
                a, c = find(i), find(j)
                if a != c:
                    parent[max(a, c)] = min(a, c)
    return np.array([find(i) for i in range(len(norm))])


def ours(run: Path, verify: bool) -> tuple[float, np.ndarray, int]:
    shutil.rmtree(run / "dedup_fuzzy", ignore_errors=True)
    t = time.perf_counter()
    rep = dedup(FuzzyConfig(input_stage="ingest", bands=14, rows=9, num_perm=126,
                            verify=verify), run, LocalExecutor(1))
    sec = time.perf_counter() - t
    df = pl.read_parquet(run / "dedup_fuzzy" / "_clusters" / "clusters.parquet")
    n = rep.stats["docs_in"]
    c = np.arange(n)
    c[df["idx"].to_numpy()] = df["cluster"].to_numpy()
    return sec, c, rep.stats["duplicates"]


def same_pairs(c: np.ndarray) -> set[tuple[int, int]]:
    out = set()
    for root in np.unique(c):
        m = np.flatnonzero(c == root)
        if len(m) > 1:
            out.update((int(m[0]), int(x)) for x in m[1:])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus-mb", type=float, default=20.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        build_corpus(Path(tmp) / "corpus", max_mb=args.corpus_mb)
        ingest(IngestConfig(inputs=[str(Path(tmp) / "corpus")]), run, LocalExecutor(1))
        texts = pa.concat_tables(pq.read_table(f) for f in stage_files(run / "ingest"))["text"]
        ours(run, True)  # warm the kernel cache
        t_v, _, d_v = ours(run, True)
        t_nv, c_nv, d_nv = ours(run, False)
    t = time.perf_counter()
    norm = normalize(texts, NormConfig()).to_pylist()
    c_ds = clusters_datasketch(norm, 14, 9)
    t_ds = time.perf_counter() - t
    d_ds = len(c_ds) - len(np.unique(c_ds))
    mb = sum(len(x.encode()) for x in norm) / 1e6
    print(f"{len(norm):,} docs, {mb:.1f} MB normalized; 126 perms = 14 bands x 9 rows")
    print(f"datasketch MinHashLSH          {t_ds:7.2f} s  duplicates {d_ds:,}")
    print(f"mixforge dedup (no verify)     {t_nv:7.2f} s  duplicates {d_nv:,}  "
          f"-> {t_ds / t_nv:.1f}x")
    print(f"mixforge dedup (exact verify)  {t_v:7.2f} s  duplicates {d_v:,}  "
          f"-> {t_ds / t_v:.1f}x")
    a, b = same_pairs(c_nv), same_pairs(c_ds)
    print(f"clusters, ours (no verify) vs datasketch: same-cluster star pairs {len(a):,} vs "
          f"{len(b):,}; duplicates removed {d_nv:,} vs {d_ds:,}")


if __name__ == "__main__":
    main()
