"""Quality of fuzzy dedup against brute force: exact Jaccard over all pairs of a sample.

Used by tests/curate/test_dedup_quality.py (CI-sized) and bench/dedup_quality.py (the
figure in docs/dedup.md). All-pairs intersections come from one sparse product of the
document x shingle incidence matrix (scipy, a datasketch dependency), so a 3,000-document
sample takes seconds.
"""

from __future__ import annotations

from pathlib import Path

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


# Real text per script, from pinned packages only (licensedcode-data==32.1.0, spacy 3.8),
# with the sha256 of each file: a different file fails loudly instead of moving figures.
SCRIPT_SOURCES = {
    "en": [("licensedcode", "data/licenses/gpl-3.0.LICENSE",
            "61b58c281b4a2d570eef37ffd5bb9d2eaf1aba6f1112ebaa41410435c7ff8063")],
    "ja": [("licensedcode", "data/licenses/cc-by-sa-2.1-jp.LICENSE",
            "54b6a1772f6e09fdab94a845ee9f9a9edc2aec00788e35d861d8335d4bc6b7b6"),
           ("licensedcode", "data/licenses/nysl-0.9982-jp.LICENSE",
            "78a59b403a60a82a1676d67df290ccb0701586a4bf94dac88668273490d8c052")],
    "zh": [("licensedcode", "data/licenses/mulanpsl-2.0.LICENSE",
            "51dcf6a16b2b1def30c0865aaf62a26ecf51b14389d1ffbac98f750f84694ef4"),
           ("licensedcode", "data/licenses/mulanpsl-1.0.LICENSE",
            "b1833ac1ce1edfee07837697c5eecf1edc0b173d811a0fc2cced5e5dfffcf673"),
           ("spacy", "lang/zh/examples.py",
            "8e1715ef3076bb8632b094eacb65aa56b30b470b5ff07e86a3280a445bbc7f49")],
    "th": [("spacy", "lang/th/stop_words.py",
            "50af078e3978b851f03d3dbee7c7bd5a7a290ca66031166e01d59e543d429d30")],
}


def _script_text(lang: str) -> str:
    """The running text of ``lang``'s sources: for CJK and Thai only the characters of
    that script (Thai words, from word lists, are joined without spaces as Thai is
    written); English as is. Raises ``RuntimeError`` when a source differs from the
    pinned one."""
    import hashlib
    import importlib
    import re

    parts = []
    for package, rel, sha in SCRIPT_SOURCES[lang]:
        path = Path(next(iter(importlib.import_module(package).__path__))) / rel
        raw = path.read_bytes()
        if sha and hashlib.sha256(raw).hexdigest() != sha:
            msg = (f"{path}: not the pinned content (sha256 {hashlib.sha256(raw).hexdigest()}"
                   f", expected {sha}); install the pinned version or update SCRIPT_SOURCES")
            raise RuntimeError(msg)
        text = raw.decode()
        if text.startswith("---"):  # ScanCode front matter
            text = text.split("---", 2)[2]
        parts.append(text)
    text = "\n".join(parts)
    if lang == "en":
        return " ".join(text.split())
    pattern = {"ja": r"[\u3040-\u30ff\u4e00-\u9fff\u3005]+",
               "zh": r"[\u4e00-\u9fff]+", "th": r"[\u0e00-\u0e7f]+"}[lang]
    return "".join(re.findall(pattern, text))


def script_sample(lang: str, doc_tokens: int = 120, variants: tuple[int, ...] = (1, 3, 6),
                  seed: int = 0) -> list[str]:
    """Documents of real ``lang`` text with planted near-duplicates (for recall tests).

    The text is cut into consecutive documents of ``doc_tokens`` tokens (characters for
    CJK and Thai, words for English); each gets one copy per entry of ``variants`` with
    that many tokens replaced by other tokens of the same text (seeded), so pair
    Jaccards spread from near 1 to well below common thresholds.
    """
    import random

    text = _script_text(lang)
    tokens = text.split() if lang == "en" else list(text)
    sep = " " if lang == "en" else ""
    rng = random.Random(seed)
    docs = []
    for start in range(0, len(tokens) - doc_tokens + 1, doc_tokens):
        base = tokens[start:start + doc_tokens]
        docs.append(sep.join(base))
        for edits in variants:
            v = list(base)
            for pos in rng.sample(range(doc_tokens), edits):
                v[pos] = rng.choice(tokens)
            docs.append(sep.join(v))
    return docs
