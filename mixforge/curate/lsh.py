"""The global step of dedup: bucketed shuffle of keys -> candidate pairs -> union-find.

The map step writes, per input shard, rows ``(h1, h2, idx)`` into ``n`` bucket files
chosen by ``h1 % n`` (fuzzy: h1 = band hash, h2 = band number; exact: the 128-bit text
key). The reduce reads one bucket at a time (all shards' files of that bucket), sorts
it by key, and turns each run of equal keys into star edges (first, other): enough for
connected components, and at most one edge per (document, band). Edges go straight
into a union-find over dense document indexes (or, when verifying, are kept, checked by
exact Jaccard, then unioned). The root of a set is always its smallest index, so the
clusters do not depend on the order edges arrive in.

Memory of the reduce, per document of the input (N documents, b bands, n buckets):
``parent`` 8 B + cluster sizes 8 B + one bucket's rows 24 B x b / n plus its sort
index 8 B x b / n (b=14, n=16: 28 B) = about 45 B per document, plus the edges of one
bucket. With verification, the shingle sets of the documents that have a candidate
(8 B per shingle) and the candidate edges (16 B each) are held as well.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..rundir import atomic_path
from . import _kernels as K

BUCKET_SCHEMA = pa.schema([("h1", pa.uint64()), ("h2", pa.uint64()), ("idx", pa.int64())])
BUCKET_OPTS = {"compression": "lz4"}


def bucket_path(map_dir: Path, bucket: int, shard: str) -> Path:
    return Path(map_dir) / "buckets" / f"b{bucket:04d}" / f"{shard}.parquet"


class BucketWriter:
    """Writes one shard's key rows into ``n`` bucket files atomically (all or none)."""

    def __init__(self, map_dir: Path, shard: str, n_buckets: int) -> None:
        self.paths = [bucket_path(map_dir, b, shard) for b in range(n_buckets)]
        self._stack = contextlib.ExitStack()
        self._writers: list[pq.ParquetWriter] = []
        self.n = n_buckets
        self.rows = 0

    def __enter__(self) -> BucketWriter:
        for p in self.paths:
            tmp = self._stack.enter_context(atomic_path(p))
            self._writers.append(self._stack.enter_context(
                pq.ParquetWriter(tmp, BUCKET_SCHEMA, **BUCKET_OPTS)))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.__exit__(*exc)

    def write(self, h1: np.ndarray, h2: np.ndarray, idx: np.ndarray) -> None:
        """Append rows; each goes to bucket ``h1 % n`` (stable order within a bucket)."""
        if not len(h1):
            return
        bucket = (h1 % np.uint64(self.n)).astype(np.int64)
        order = np.argsort(bucket, kind="stable")
        bounds = np.searchsorted(bucket[order], np.arange(self.n + 1))
        for b in range(self.n):
            sel = order[bounds[b]:bounds[b + 1]]
            if len(sel):
                self._writers[b].write_table(pa.table(
                    [pa.array(h1[sel]), pa.array(h2[sel]), pa.array(idx[sel])],
                    schema=BUCKET_SCHEMA))
        self.rows += len(h1)


def read_bucket(files: Iterable[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All rows of one bucket, sorted by (h1, h2, idx)."""
    tables = [pq.read_table(f) for f in files]
    if not tables:
        z = np.empty(0, np.uint64)
        return z, z, np.empty(0, np.int64)
    t = pa.concat_tables(tables)
    h1 = t["h1"].to_numpy()
    h2 = t["h2"].to_numpy()
    idx = t["idx"].to_numpy()
    order = np.lexsort((idx, h2, h1))
    out = h1[order], h2[order], idx[order]
    del t, tables, h1, h2, idx
    pa.default_memory_pool().release_unused()  # hand the bucket's Arrow buffers back
    return out


# Runs of equal band hashes up to this many documents give every pair as an edge, longer
# runs a star (first, other). All pairs lets the keep step find a kept near-duplicate for
# each document directly instead of through a star centre that is below the threshold
# with both; the cap bounds the edges of a band hash shared by very many documents.
ALL_PAIRS_MAX = 256


def bucket_edges(h1: np.ndarray, h2: np.ndarray, idx: np.ndarray, all_pairs_max: int = 0,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Edges of every run of equal keys in sorted rows: every pair of a run of at most
    ``all_pairs_max`` distinct-position rows, else star edges (first idx, other idx)."""
    n = K._run_edges(h1, h2, idx, all_pairs_max, np.empty(0, np.int64),
                     np.empty(0, np.int64), False)
    eu = np.empty(n, np.int64)
    ev = np.empty_like(eu)
    m = K._run_edges(h1, h2, idx, all_pairs_max, eu, ev, True)
    return eu[:m], ev[:m]


def union_find(n: int) -> np.ndarray:
    """A fresh parent array: every element its own set."""
    return np.arange(n, dtype=np.int64)


def union(parent: np.ndarray, eu: np.ndarray, ev: np.ndarray) -> int:
    """Union the edges into ``parent``; returns how many merges happened."""
    if not len(eu):
        return 0
    return int(K._union_edges(parent, np.ascontiguousarray(eu, np.int64),
                              np.ascontiguousarray(ev, np.int64)))


def roots(parent: np.ndarray) -> np.ndarray:
    """Flatten ``parent`` in place so ``parent[i]`` is the smallest index of i's set."""
    K._flatten(parent)
    return parent


def unique_edges(eu: np.ndarray, ev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges with u < v, sorted and de-duplicated."""
    lo, hi = np.minimum(eu, ev), np.maximum(eu, ev)
    order = np.lexsort((hi, lo))
    lo, hi = lo[order], hi[order]
    keep = np.ones(len(lo), bool)
    keep[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return lo[keep], hi[keep]


def shingle_sets(hashes: np.ndarray, offsets: np.ndarray, inplace: bool = False,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Each document's shingle hashes sorted and de-duplicated (new hashes, offsets).

    Sorts a copy of ``hashes`` (or, ``inplace``, the array itself) segment by segment:
    no index arrays, so the memory is the hashes themselves.
    """
    h = hashes if inplace else np.array(hashes, dtype=np.uint64, copy=True)
    new = np.empty(len(offsets), np.int64)
    K._sort_unique_segments(h, np.ascontiguousarray(offsets, np.int64), new)
    return h[: new[-1]], new


def pair_jaccard(hashes: np.ndarray, offsets: np.ndarray, pu: np.ndarray,
                 pv: np.ndarray) -> np.ndarray:
    """Exact Jaccard of the (sorted, unique) shingle sets of documents pu[i] and pv[i]."""
    out = np.empty(len(pu), np.float64)
    K._pair_jaccard(hashes, offsets, np.ascontiguousarray(pu, np.int64),
                    np.ascontiguousarray(pv, np.int64), out)
    return out


def verify_edges(eu: np.ndarray, ev: np.ndarray, threshold: float,
                 shingles_of: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the candidate edges whose exact shingle-set Jaccard is >= ``threshold``.

    ``shingles_of(sorted_idx)`` returns the (hashes, offsets) of those documents, each
    document's hashes sorted and distinct (as `shingle_sets` makes them). Returns the
    kept edges and every candidate's Jaccard.
    """
    if not len(eu):
        return eu, ev, np.empty(0)
    involved = np.unique(np.concatenate([eu, ev]))
    hashes, offsets = shingles_of(involved)
    j = pair_jaccard(hashes, offsets, np.searchsorted(involved, eu),
                     np.searchsorted(involved, ev))
    ok = j >= threshold
    return eu[ok], ev[ok], j
