"""A quality classifier trained toward the user's target: score every document by how much
it looks like the target set rather than the pool (the DCLM / DSIR idea).

DCLM (Li et al., 2024) keeps the pool documents a fastText classifier scores as most like
its target set (instruction data and ELI5 answers, against RefinedWeb); DSIR (Xie et al.,
2023) weights pool documents by the likelihood ratio of hashed n-gram models of target and
pool. Both are linear models over hashed n-grams. We train exactly that kind of model with
scikit-learn: ``HashingVectorizer`` (word unigrams and bigrams, 2^20 buckets, lower-cased,
sublinear tf, l2-normalised) and a logistic regression (``SGDClassifier`` with log loss,
seeded), target = 1, a seeded sample of the pool = 0. The score is the log-odds that a
document is target-like. Why not fastText itself: the official ``fasttext`` package is
archived; scikit-learn is well kept, and without fastText's embeddings the model is the
same linear classifier over hashed n-grams that DCLM's fastText run amounts to.

Memory: the hashed feature matrix of the training sample (sparse, ~100 bytes per 1,000
words of a document); scoring streams batches. The model is a 2^20-float weight vector
(8 MB) saved as ``.npz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..config import opt
from ..errors import ConfigError


@dataclass
class QualityConfig:
    """How the target-vs-pool classifier is trained."""

    n_features: int = opt(1 << 20, "Hash buckets of the n-gram features.")
    ngram: int = opt(2, "Longest word n-gram (1 = unigrams only).")
    max_chars: int = opt(20_000, "Characters of each document the classifier reads.")
    max_pool_docs: int = opt(50_000, "Pool documents sampled as negatives (seeded).")
    alpha: float = opt(1e-5, "L2 regularisation of the logistic regression.")
    epochs: int = opt(20, "Passes of SGD over the training sample.")
    seed: int = opt(0, "Seed of the pool sample and of SGD.")

    def validate(self) -> None:
        if self.n_features < 2 or self.ngram < 1 or self.max_chars < 1:
            msg = "n_features must be >= 2, ngram and max_chars >= 1"
            raise ConfigError(msg)


def _vectorizer(cfg: QualityConfig):
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(n_features=cfg.n_features, ngram_range=(1, cfg.ngram),
                             alternate_sign=False, lowercase=True, norm="l2",
                             token_pattern=r"(?u)\b\w+\b", dtype=np.float32)


def _texts(texts: pa.Array | pa.ChunkedArray | list[str], max_chars: int) -> list[str]:
    seq = texts.to_pylist() if isinstance(texts, pa.Array | pa.ChunkedArray) else list(texts)
    return [t[:max_chars] for t in seq]


@dataclass
class QualityClassifier:
    """A trained target-vs-pool classifier: ``score`` gives each document's log-odds."""

    weights: np.ndarray      # float64, (n_features,)
    bias: float
    cfg: QualityConfig

    def score(self, texts: pa.Array | pa.ChunkedArray | list[str]) -> np.ndarray:
        """Log-odds (float64, one per document) that each text is target-like."""
        x = _vectorizer(self.cfg).transform(_texts(texts, self.cfg.max_chars))
        return np.asarray(x @ self.weights + self.bias, np.float64).ravel()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        with path.open("wb") as f:  # a file object: np.savez adds no ".npz" to the name
            np.savez(f, weights=self.weights, bias=self.bias, n_features=self.cfg.n_features,
                     ngram=self.cfg.ngram, max_chars=self.cfg.max_chars)
        return path

    @classmethod
    def load(cls, path: str | Path) -> QualityClassifier:
        z = np.load(path)
        cfg = QualityConfig(n_features=int(z["n_features"]), ngram=int(z["ngram"]),
                            max_chars=int(z["max_chars"]))
        return cls(z["weights"], float(z["bias"]), cfg)


def train_quality_classifier(target: pa.Array | list[str], pool: pa.Array | list[str],
                             cfg: QualityConfig | None = None) -> QualityClassifier:
    """Fit target (label 1) against at most ``cfg.max_pool_docs`` pool documents (label 0).

    Classes are weighted to balance them, so a small target set is not drowned by the pool.
    Raises `ConfigError` when either side is empty.
    """
    from sklearn.linear_model import SGDClassifier

    cfg = cfg or QualityConfig()
    cfg.validate()
    tgt = _texts(target, cfg.max_chars)
    pool_list = _texts(pool, cfg.max_chars)
    if not tgt or not pool_list:
        msg = (f"the quality classifier needs target and pool documents; got {len(tgt)} "
               f"target and {len(pool_list)} pool documents")
        raise ConfigError(msg)
    rng = np.random.default_rng(cfg.seed)
    if len(pool_list) > cfg.max_pool_docs:
        keep = np.sort(rng.choice(len(pool_list), cfg.max_pool_docs, replace=False))
        pool_list = [pool_list[i] for i in keep]
    vec = _vectorizer(cfg)
    from scipy.sparse import vstack

    x = vstack([vec.transform(tgt), vec.transform(pool_list)]).tocsr()
    y = np.r_[np.ones(len(tgt)), np.zeros(len(pool_list))]
    clf = SGDClassifier(loss="log_loss", alpha=cfg.alpha, max_iter=cfg.epochs, tol=None,
                        class_weight="balanced", random_state=cfg.seed)
    clf.fit(x, y)
    return QualityClassifier(clf.coef_.ravel().astype(np.float64), float(clf.intercept_[0]),
                             cfg)


def roc_auc(scores_pos: np.ndarray, scores_neg: np.ndarray) -> float:
    """Area under the ROC curve: P(a positive outscores a negative), ties counted half."""
    from scipy.stats import rankdata

    r = rankdata(np.r_[scores_pos, scores_neg])
    n1, n0 = len(scores_pos), len(scores_neg)
    return float((r[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


@dataclass
class QualityFilterConfig:
    """The filter stage's classifier toward a target (off while ``target`` is empty)."""

    target: list[str] = opt([], "Target documents, as the probes' data targets: PATH or "
                            "NAME=PATH (any input the readers take; in a pipeline file also "
                            "a NAME of its targets: section). Trains a classifier toward them "
                            "against the run's documents and writes every document's score "
                            "(filter/scores, column quality).")
    keep_fraction: float | None = opt(None, "Also drop all but this top fraction by score "
                                      "(the threshold is that quantile of the pool sample's "
                                      "scores); default: score only.")
    max_pool_docs: int = opt(20_000, "Run documents sampled as the classifier's negatives.")
    seed: int = opt(0, "Seed of the pool sample and of training.")

    def validate(self) -> None:
        if self.keep_fraction is not None and not self.target:
            msg = ("quality.keep_fraction (--quality-keep) needs target documents to score "
                   "toward: give --quality-target PATH")
            raise ConfigError(msg)
        if self.keep_fraction is not None and not 0 < self.keep_fraction <= 1:
            msg = f"quality.keep_fraction must be in (0, 1], got {self.keep_fraction}"
            raise ConfigError(msg)


def target_path(spec: str) -> str:
    """The data of a target spec: ``NAME=PATH`` (the probes' data-target form) or ``PATH``."""
    from ..tokenize.targets import is_data_spec

    name, sep, body = spec.partition("=")
    return body if sep and is_data_spec(body) and "/" not in name else spec


def pool_sample(files: list[Path], n: int) -> list[str]:
    """About ``n`` documents spread evenly over ``files`` (every k-th row, in order):
    deterministic, and reads the ``text`` column one row group at a time."""
    import pyarrow.parquet as pq

    total = sum(pq.read_metadata(f).num_rows for f in files)
    step = max(1, total // max(n, 1))
    out: list[str] = []
    seen = 0
    for f in files:
        pf = pq.ParquetFile(f)
        for rg in range(pf.num_row_groups):
            col = pf.read_row_group(rg, columns=["text"])["text"]
            first = (-seen) % step
            out.extend(col.take(list(range(first, len(col), step))).to_pylist())
            seen += len(col)
    return out[:n]


def prepare_quality(cfg: QualityFilterConfig, doc_files: list[Path],
                    out_dir: Path) -> tuple[Path, float | None]:
    """Train (or reuse) the classifier of ``cfg`` toward its target against a sample of
    ``doc_files``; returns the model path and the score threshold (None: score only).

    The model is stored as ``out_dir/<key>.npz``, keyed by a hash of the target texts,
    the pool sample and the settings, so a rerun reuses it and a changed target retrains.
    """
    import hashlib
    import json

    from ..readers import read_table
    from ..rundir import atomic_path

    cfg.validate()
    target = [t for spec in cfg.target for t in read_table(target_path(spec))["text"].to_pylist()]
    pool = pool_sample(doc_files, cfg.max_pool_docs)
    h = hashlib.sha256(json.dumps([cfg.keep_fraction, cfg.max_pool_docs, cfg.seed]).encode())
    for t in (*target, "\0", *pool):
        h.update(t.encode())
        h.update(b"\0")
    path = out_dir / f"{h.hexdigest()[:16]}.npz"
    if path.exists():
        clf = QualityClassifier.load(path)
    else:
        clf = train_quality_classifier(target, pool, QualityConfig(seed=cfg.seed))
        with atomic_path(path) as tmp:
            clf.save(tmp)
    threshold = None
    if cfg.keep_fraction is not None:
        threshold = float(np.quantile(clf.score(pool), 1 - cfg.keep_fraction))
    return path, threshold
