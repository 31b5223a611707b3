"""Whole fuzzy dedup: mixforge (map, shuffle, reduce, drop) vs datasketch MinHashLSH.

Same documents (the real local corpus, ingested), same normalization, 128 permutations,
word 5-grams, the same (bands, rows) = (14, 9). datasketch: ``MinHash.bulk`` over the
shingles (SHA-1), ``MinHashLSH(params=(14, 9))``, insert every document, query every
document, union the answers into clusters (Python) — the usual recipe. mixforge: the
`dedup` stage on one worker, end to end including parquet I/O, with and without exact
verification. Both produce clusters; their agreement is printed.

    PYTHONPATH=$PWD python -m bench.dedup_fuzzy [--corpus CORPUS] [--json OUT] [--quick]

The three rows run interleaved over --repeats rounds (median, range); the ratio is the
per-round datasketch / mixforge.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from bench._common import interleaved, parser, prepare_run, ratio, read_stage, spread, write
from mixforge.curate.dedup import FuzzyConfig, dedup
from mixforge.curate.normalize import NormConfig, normalize
from mixforge.executor import LocalExecutor


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
    ap = parser(__doc__)
    args = ap.parse_args()
    res: dict[str, tuple] = {}
    with tempfile.TemporaryDirectory() as tmp:
        run = prepare_run(args, Path(tmp))
        texts = read_stage(run)["text"]
        ours(run, True)  # warm the kernel cache

        def ds() -> None:
            norm = normalize(texts, NormConfig()).to_pylist()
            res["ds"] = (norm, clusters_datasketch(norm, 14, 9))

        t = interleaved({"ds": ds,
                         "nv": lambda: res.__setitem__("nv", ours(run, False)),
                         "v": lambda: res.__setitem__("v", ours(run, True))},
                        1 if args.quick else args.repeats)
    norm, c_ds = res["ds"]
    d_ds = len(c_ds) - len(np.unique(c_ds))
    _, c_nv, d_nv = res["nv"]
    d_v = res["v"][2]
    mb = sum(len(x.encode()) for x in norm) / 1e6
    a, b = same_pairs(c_nv), same_pairs(c_ds)
    rows = [
        {"": "datasketch MinHashLSH (bulk, insert + query, Python union-find)",
         "seconds": spread(t["ds"]), "duplicates removed": f"{d_ds:,}",
         "datasketch / mixforge": "1x"},
        {"": "mixforge `dedup fuzzy --no-verify`", "seconds": spread(t["nv"]),
         "duplicates removed": f"{d_nv:,}", "datasketch / mixforge": ratio(t["ds"], t["nv"])},
        {"": "mixforge `dedup fuzzy` (exact verification)", "seconds": spread(t["v"]),
         "duplicates removed": f"{d_v:,}", "datasketch / mixforge": ratio(t["ds"], t["v"])},
    ]
    write(args, "dedup_fuzzy", rows,
          f"{len(norm):,} documents, {mb:.1f} MB normalized; 126 permutations = 14 bands x 9 "
          f"rows; mixforge on one worker, end to end with parquet I/O. Same-cluster star "
          f"pairs, ours (no verify) vs datasketch: {len(a):,} vs {len(b):,}.")


if __name__ == "__main__":
    main()
