"""Quality of fuzzy dedup against brute force: exact Jaccard over all pairs of a sample.

Used by tests/curate/test_dedup_quality.py (CI-sized) and bench/dedup_quality.py (the
figure in docs/dedup.md). All-pairs intersections come from one sparse product of the
document x shingle incidence matrix (scipy, a datasketch dependency), so a 3,000-document
sample takes seconds.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .lsh import shingle_sets
from .normalize import NormConfig, shingle_hashes


def all_pairs_jaccard(texts: pa.Array | pa.ChunkedArray, ngram: int = 5,
                      norm: NormConfig | None = None, min_jaccard: float = 0.5,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, jaccard) of every pair i < j with exact shingle-set Jaccard >= min_jaccard."""
    from scipy import sparse  # a datasketch dependency, only needed here

    h, o = shingle_sets(*shingle_hashes(texts, ngram, norm or NormConfig()))
    n = len(o) - 1
    _, col = np.unique(h, return_inverse=True)
    rows = np.repeat(np.arange(n), np.diff(o))
    a = sparse.csr_matrix((np.ones(len(h), np.float32), (rows, col)), shape=(n, col.max() + 1
                                                                              if len(h) else 0))
    inter = sparse.triu(a @ a.T, k=1).tocoo()
    size = np.diff(o)
    jac = inter.data / (size[inter.row] + size[inter.col] - inter.data)
    keep = jac >= min_jaccard
    return inter.row[keep].astype(np.int64), inter.col[keep].astype(np.int64), jac[keep]


def pair_quality(cluster_of: np.ndarray, i: np.ndarray, j: np.ndarray, jac: np.ndarray,
                 threshold: float, margin: float = 0.05) -> dict[str, float]:
    """Recall and precision of same-cluster pairs against the brute-force pairs.

    ``cluster_of[d]`` is document d's cluster (-1 or unique when alone). Recall counts
    pairs with Jaccard >= threshold + margin that share a cluster; precision is the
    share of same-cluster pairs whose Jaccard is >= threshold (and, looser, >= threshold
    - 0.1). Clusters are transitive, so precision can fall below that of verified pairs.
    """
    same = cluster_of[i] == cluster_of[j]
    strong = jac >= threshold + margin
    _, counts = np.unique(cluster_of[cluster_of >= 0], return_counts=True)
    reported = int((counts * (counts - 1) // 2).sum())
    true_pos = int((same & (jac >= threshold)).sum())
    near = int((same & (jac >= threshold - 0.1)).sum())
    return {
        "pairs_above_threshold": int((jac >= threshold).sum()),
        "pairs_above_threshold_plus_margin": int(strong.sum()),
        "recall_above_threshold_plus_margin": float(same[strong].mean()) if strong.any()
        else 1.0,
        "recall_above_threshold": float(same[jac >= threshold].mean())
        if (jac >= threshold).any() else 1.0,
        "reported_pairs": reported,
        "precision": true_pos / reported if reported else 1.0,
        "precision_within_0.1": near / reported if reported else 1.0,
    }


def representative_quality(clusters, texts: pa.Array | pa.ChunkedArray, threshold: float,
                           i: np.ndarray, j: np.ndarray, jac: np.ndarray,
                           ngram: int = 5, norm: NormConfig | None = None,
                           margin: float = 0.05) -> dict[str, float]:
    """How well each removed document is represented by the document kept for it.

    ``clusters`` is a stage's ``_clusters/clusters.parquet`` (a polars frame; its
    ``kept_idx`` column names each member's kept representative, or, in files written
    before that column existed, the cluster's kept member is). ``texts`` are the input
    documents in dense index order; ``(i, j, jac)`` the brute-force pairs (as
    `all_pairs_jaccard` returns them). Returns the count of removed documents, how many
    have exact Jaccard below ``threshold`` (and below 0.5) to their representative, and
    the recall of resolved pairs: the share of pairs at ``threshold + margin`` or more of
    which at most one document is kept (after dedup, no such pair is left in the output).
    """
    import polars as pl

    df = clusters
    if "kept_idx" not in df.columns:
        first = df.filter(pl.col("kept")).group_by("cluster").agg(kept_idx=pl.col("idx").min())
        df = df.join(first, on="cluster", how="left")
    removed = df.filter(~pl.col("kept") & ~pl.col("is_ref"))
    r = removed["idx"].to_numpy()
    k = removed["kept_idx"].to_numpy()
    h, o = shingle_sets(*shingle_hashes(texts, ngram, norm or NormConfig()))
    from .lsh import pair_jaccard

    rj = pair_jaccard(h, o, r, k) if len(r) else np.empty(0)
    n = len(o) - 1
    kept = np.ones(n, bool)
    kept[r] = False
    strong = jac >= threshold + margin
    resolved = ~(kept[i] & kept[j])
    return {
        "removed": len(r),
        "removed_rep_below_threshold": int((rj < threshold).sum()),
        "removed_rep_below_0.5": int((rj < 0.5).sum()),
        "resolved_recall_above_threshold_plus_margin": float(resolved[strong].mean())
        if strong.any() else 1.0,
    }
