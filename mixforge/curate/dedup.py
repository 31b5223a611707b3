"""Exact and MinHash-LSH fuzzy deduplication of a document stage, in bounded memory.

Both stages are three steps over a run directory:

1. **map** (per input shard, in parallel): normalize, hash (exact: a 128-bit key of the
   normalized text, or of the raw bytes when that is empty; fuzzy: a MinHash signature
   and its band hashes), write the key rows to bucket files under
   ``<run>/<stage>/_map/buckets/`` and a small per-document table (dense index, id,
   length, score, shingles) under ``_map/docs/``.
2. **reduce** (one process, one bucket at a time): candidate edges -> clusters
   (union-find, for inspection). Exact: each group of equal keys keeps one document by
   the keep rule (``first``: smallest id; ``longest``; ``score``: the highest value of a
   score column; ties by smallest id, then input order). Fuzzy: the candidate edges are
   checked by exact shingle Jaccard (``verify``), then documents are kept greedily in
   keep-rule order: a document is removed only when a document already kept is its
   near-duplicate over a verified edge (its representative, Jaccard >= threshold), so
   no document is removed through a chain of neighbours. Writes
   ``_clusters/clusters.parquet`` (every member of every cluster, with its
   representative) and ``_clusters/removed.parquet`` (shard and row of each removed
   document).
3. **drop** (per shard): removed documents, matched by (shard, row), never by id,
   become rejects with reason ``duplicate``, their cluster (``dup_cluster``) and the id
   of the kept representative (``dup_kept_id``); the rest is written unchanged to
   ``<run>/<stage>/``.

Against a reference set (``reference``: a stage folder or parquet files with ``id`` and
``text``), the reference documents join the map and reduce, tagged by their dense index
(after every input document): they are always kept and never written out, and an input
document that duplicates one is removed. Ids play no part in telling the sides apart.

Memory bound of the global steps, per input document: map — none (one record batch at a
time: about ``batch_rows`` x (text bytes + 8 x num_perm)); shuffle on disk — 24 B x
bands (fuzzy, 14 bands: 336 B, 202 B after lz4) or 24 B (exact); reduce — about 45 B
(see `lsh`) plus 8 B (an id hash, to count repeated ids) plus ~100 B per document that
is in a cluster, plus, for fuzzy, the candidate edges (16 B each; runs of up to
`lsh.ALL_PAIRS_MAX` equal band hashes give all their pairs) and, when verifying, 8 B per
distinct shingle of each document with a candidate: measured 540 B per document in all
before all-pairs edges (slope of peak RSS between 250k and 1M synthetic documents,
verification on); without verification, 200 B per document, flat from 1M to 10M
synthetic documents (bench/reduce_memory.py: the peak is `lsh.unique_edges`, ~72 B per
candidate edge, 2.78 edges per document there); drop — each worker holds the removed
rows (~70 B per removed document). The measurements are in docs/benchmarks.md (1M
documents: 1.3 GB peak over all processes).

Re-running resumes: map shards and drop shards have markers; the reduce is skipped when
its key (config + every map shard's key) matches ``_clusters/_reduce.json``. Same input
and config give byte-identical outputs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import resource
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import storage
from ..config import config_hash, opt, to_dict
from ..documents import DocResult, document_shard, input_key, input_stage, plan_documents
from ..errors import ConfigError
from ..executor import Executor, OnResult, get_executor
from ..jit import announce_compile
from ..layout import REJECTS, has_run
from ..rundir import ShardTask, StageReport, atomic_path, read_marker, run_stage, write_json
from ..stats import stage_files
from . import _kernels as K
from . import lsh
from .minhash import MinHashParams, band_hashes, signatures
from .normalize import NormConfig, exact_keys, shingle_hashes

log = logging.getLogger(__name__)
MAP, CLUSTERS = "_map", "_clusters"
REF_PREFIX = "ref-"
MAP_VERSION = 2  # bump when the map's outputs change for the same input and config
DOCS_SCHEMA = pa.schema([("idx", pa.int64()), ("id", pa.string()), ("length", pa.int64()),
                         ("score", pa.float64()), ("shingles", pa.int64())])


@dataclass
class ExactConfig:
    """Options of `mixforge dedup exact` (and the `dedup_exact` pipeline section)."""

    input_stage: str | None = opt(None, "The document stage to deduplicate (default: "
                                  "ingest).")
    output_stage: str = opt("dedup_exact", "The stage folder to write.")
    keep: Literal["first", "longest", "score"] = opt(
        "first", "Which copy a cluster keeps: smallest id, longest text, or highest "
        "score_column (ties: smallest id).")
    score_column: str | None = opt(None, "The numeric column keep=score ranks by.")
    reference: str | None = opt(None, "Also drop documents that duplicate this reference "
                                "set (a stage folder, a folder of parquet or one file).")
    nfkc: bool = opt(True, "Unicode NFKC normalization before hashing.")
    lowercase: bool = opt(True, "Lowercase before hashing.")
    punctuation: bool = opt(True, "Replace punctuation and symbols by spaces.")
    whitespace: bool = opt(True, "Collapse whitespace runs, trim the ends.")
    buckets: int = opt(16, "Shuffle buckets (the reduce holds one bucket at a time).")
    batch_rows: int = opt(8192, "Documents per record batch in the map step.")

    kind = "exact"

    def validate(self) -> None:
        if self.keep == "score" and not self.score_column:
            msg = "keep=score needs score_column (--score-column NAME)"
            raise ConfigError(msg)
        if self.buckets < 1 or self.batch_rows < 1:
            msg = f"buckets and batch_rows must be >= 1, got {self.buckets}, {self.batch_rows}"
            raise ConfigError(msg)

    def norm(self) -> NormConfig:
        return NormConfig(self.nfkc, self.lowercase, self.punctuation, self.whitespace)


@dataclass
class FuzzyConfig(ExactConfig):
    """Options of `mixforge dedup fuzzy` (and the `dedup_fuzzy` pipeline section)."""

    input_stage: str | None = opt(None, "The document stage to deduplicate (default: "
                                  "dedup_exact, or ingest when the run has no dedup_exact).")
    output_stage: str = opt("dedup_fuzzy", "The stage folder to write.")
    threshold: float = opt(0.8, "Jaccard similarity of word shingles above which two "
                           "documents are duplicates.")
    num_perm: int = opt(128, "MinHash permutations.")
    bands: int | None = opt(None, "LSH bands (default: derived from threshold).")
    rows: int | None = opt(None, "Rows per band (default: derived from threshold).")
    ngram: int = opt(5, "Words per shingle.")
    seed: int = opt(1, "Seed of the MinHash permutations (datasketch-compatible).")
    fp_weight: float = opt(0.1, "Weight of false positives in the band/row search.")
    fn_weight: float = opt(0.9, "Weight of false negatives in the band/row search.")
    verify: bool = opt(True, "Check candidate pairs by exact Jaccard of shingle sets.")
    scheme: Literal["affine32", "affine64"] = opt(
        "affine32", "MinHash permutation scheme (datasketch's names); affine32 is ~6x "
        "faster on AVX2.")

    kind = "fuzzy"

    def validate(self) -> None:
        super().validate()
        if not 0 < self.threshold < 1:
            msg = f"threshold must be in (0, 1), got {self.threshold}"
            raise ConfigError(msg)
        if (self.bands is None) != (self.rows is None):
            msg = "give both bands and rows, or neither (to derive them from threshold)"
            raise ConfigError(msg)
        self.params().validate()

    def params(self) -> MinHashParams:
        if self.bands is not None and self.rows is not None:
            return MinHashParams(self.num_perm, self.bands, self.rows, self.ngram, self.seed,
                                 self.scheme)
        return MinHashParams.from_threshold(self.threshold, self.num_perm, self.ngram,
                                            self.seed, (self.fp_weight, self.fn_weight),
                                            self.scheme)


Config = ExactConfig | FuzzyConfig


@dataclass
class DedupReport:
    """What a dedup run did: the drop stage's report and the global stats."""

    stage: StageReport
    stats: dict[str, Any]


# --------------------------------------------------------------------------- map


def _source_files(path: str) -> list[Path]:
    p = Path(path)
    if has_run(p.parent, p.name):
        return stage_files(p)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*.parquet")
                       if REJECTS not in f.parts and not any(s.startswith(("_", "."))
                                                                for s in f.relative_to(p).parts))
        if files:
            return files
    elif p.is_file() and p.suffix == ".parquet":
        return [p]
    msg = (f"reference {path!r}: no parquet files there; give a stage folder, a folder "
           "of parquet files or a .parquet file")
    raise ConfigError(msg)


def _key_rows(text: pa.ChunkedArray, cfg: Config, idx0: int,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(h1, h2, idx) key rows of a batch and its shingle counts."""
    n = len(text)
    idx = np.arange(idx0, idx0 + n, dtype=np.int64)
    if isinstance(cfg, FuzzyConfig):
        p = cfg.params()
        sig, counts = signatures(text, p, cfg.norm())
        has = counts > 0  # no words -> no band rows (exact dedup handles empty texts)
        bh = band_hashes(sig[has], p)
        h2 = np.tile(np.arange(p.bands, dtype=np.uint64), int(has.sum()))
        return bh.ravel(), h2, np.repeat(idx[has], p.bands), counts
    hi, lo = exact_keys(text, cfg.norm())
    return hi, lo, idx, np.zeros(n, np.int64)


@dataclass(frozen=True)
class MapParams:
    """A map task's parameters (`ShardTask.params`): the config, the shard's first dense
    index, and whether it is a reference shard."""

    cfg: Config
    idx0: int
    is_ref: bool


def _map_shard(task: ShardTask[MapParams]) -> dict:
    cfg, idx0, is_ref = task.params.cfg, task.params.idx0, task.params.is_ref
    path = task.inputs[0]
    pf = pq.ParquetFile(path)
    missing = [c for c in ("id", "text") if c not in pf.schema_arrow.names]
    if missing:
        msg = f"{path}: missing column {missing[0]!r}; dedup needs 'id' and 'text' columns"
        raise ConfigError(msg)
    cols = ["id", "text"]
    use_score = cfg.keep == "score" and not is_ref
    if use_score:
        if cfg.score_column not in pf.schema_arrow.names:
            msg = f"{path}: no column {cfg.score_column!r} for keep=score; check --score-column"
            raise ConfigError(msg)
        cols.append(cfg.score_column)
    docs_path = task.output(".parquet", sub="docs")
    n = no_shingles = 0
    with lsh.BucketWriter(Path(task.stage_dir), task.shard, cfg.buckets) as bw, \
            atomic_path(docs_path) as tmp, pq.ParquetWriter(tmp, DOCS_SCHEMA) as dw:
        for batch in pf.iter_batches(batch_size=cfg.batch_rows, columns=cols):
            text = batch.column("text")
            h1, h2, idx, counts = _key_rows(text, cfg, idx0 + n)
            bw.write(h1, h2, idx)
            score = (pc.cast(batch.column(cfg.score_column), pa.float64()) if use_score
                     else pa.nulls(len(text), pa.float64()))
            dw.write_table(pa.table([
                pa.array(np.arange(idx0 + n, idx0 + n + len(text), dtype=np.int64)),
                pc.cast(batch.column("id"), pa.string()),
                pc.cast(pc.binary_length(text), pa.int64()), score, pa.array(counts),
            ], schema=DOCS_SCHEMA))
            n += len(text)
            if isinstance(cfg, FuzzyConfig) and not is_ref:
                no_shingles += int((counts == 0).sum())
    return {"counts": {"docs_in": n, "key_rows": bw.rows, "no_shingles": no_shingles},
            "outputs": [docs_path, *bw.paths]}


def _plan_map(run_dir: Path, cfg: Config) -> tuple[list[ShardTask], int]:
    in_dir = run_dir / cfg.input_stage
    files = stage_files(in_dir)
    ref = _source_files(cfg.reference) if cfg.reference else []
    map_dir = str(run_dir / cfg.output_stage / MAP)
    key_cfg = config_hash({k: v for k, v in to_dict(cfg).items()
                           if k not in ("output_stage", "input_stage", "reference")},
                          cfg.kind)
    tasks, idx0, n_input = [], 0, 0
    for i, path in enumerate([*files, *ref]):
        is_ref = i >= len(files)
        rows = pq.ParquetFile(path).metadata.num_rows
        shard = path.name[: -len(".parquet")]
        upstream = (input_key(in_dir, shard) if not is_ref
                    else config_hash(str(path.resolve()), path.stat().st_mtime_ns,
                                     path.stat().st_size))
        name = f"{REF_PREFIX}{i - len(files):05d}" if is_ref else shard
        tasks.append(ShardTask(map_dir, name, (str(path),),
                               config_hash(key_cfg, upstream, idx0, is_ref, rows, MAP_VERSION),
                               params=MapParams(cfg, idx0, is_ref)))
        idx0 += rows
        if not is_ref:
            n_input = idx0
    return tasks, n_input


# --------------------------------------------------------------------------- reduce


def _shingles_loader(tasks: list[ShardTask], offsets: np.ndarray, cfg: FuzzyConfig):
    """A function: sorted dense indexes -> their (shingle hashes, offsets), read by shard."""

    def load(involved: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shard_of = np.searchsorted(offsets, involved, side="right") - 1
        parts, counts = [], []
        for s in np.unique(shard_of):
            rows = involved[shard_of == s] - offsets[s]
            text = pq.read_table(tasks[s].inputs[0], columns=["text"])["text"].take(rows)
            h, o = shingle_hashes(text, cfg.ngram, cfg.norm())
            # keep each document's distinct shingles only (about 5% fewer, and sorted)
            h, o = lsh.shingle_sets(h, o, inplace=True)
            parts.append(h.copy())
            counts.append(np.diff(o))
            del text, h
        hashes = np.concatenate(parts)
        del parts
        off = np.zeros(len(involved) + 1, np.int64)
        np.cumsum(np.concatenate(counts), out=off[1:])
        return hashes, off

    return load


def _keep_order(keep: str) -> tuple[list[str], list[bool]]:
    """Sort keys (and descending flags) of the keep rule; ties by id, then input order."""
    if keep == "longest":
        return ["cluster", "is_ref", "length", "id", "idx"], [False, True, True, False, False]
    if keep == "score":
        return ["cluster", "is_ref", "score", "id", "idx"], [False, True, True, False, False]
    return ["cluster", "is_ref", "id", "idx"], [False, True, False, False]


def _representatives(df: pl.DataFrame, eu: np.ndarray, ev: np.ndarray, jac: np.ndarray,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy keep over the edges: (kept, representative position, its Jaccard).

    ``df`` holds the clustered documents sorted by the keep rule (its row position is
    the rank); ``(eu, ev, jac)`` are the edges between dense indexes. In rank order, a
    document is removed when one of its neighbours is already kept (its representative:
    the best-ranked such neighbour), else kept. Reference documents are always kept.
    """
    idx = df["idx"].to_numpy()
    order = np.argsort(idx, kind="stable")
    pos_u = np.searchsorted(idx, eu, sorter=order)
    pos_v = np.searchsorted(idx, ev, sorter=order)
    m = len(idx)
    ok = (pos_u < m) & (pos_v < m)
    pu = order[np.minimum(pos_u, m - 1)]
    pv = order[np.minimum(pos_v, m - 1)]
    ok &= (idx[pu] == eu) & (idx[pv] == ev)  # edges into dropped (reference-only) clusters
    a = np.concatenate([pu[ok], pv[ok]])
    b = np.concatenate([pv[ok], pu[ok]])
    j = np.concatenate([jac[ok], jac[ok]])
    srt = np.argsort(a, kind="stable")
    nbr_off = np.zeros(m + 1, np.int64)
    np.cumsum(np.bincount(a, minlength=m), out=nbr_off[1:])
    kept = np.zeros(m, np.bool_)
    rep = np.empty(m, np.int64)
    rep_j = np.empty(m, np.float64)
    K._greedy_keep(df["is_ref"].to_numpy(), nbr_off, np.ascontiguousarray(b[srt]),
                   np.ascontiguousarray(j[srt]), kept, rep, rep_j)
    return kept, rep, rep_j


def _check_ids(tasks: list[ShardTask], n_input_tasks: int) -> tuple[int, list[str]]:
    """(how many input rows repeat an earlier id, a few examples with their places)."""
    hashes = []
    for t in tasks[:n_input_tasks]:
        ids = pl.from_arrow(pq.read_table(t.output(".parquet", sub="docs"),
                                          columns=["id"])["id"])
        hashes.append(ids.hash(seed=0).to_numpy())
    h = np.concatenate(hashes) if hashes else np.empty(0, np.uint64)
    values, counts = np.unique(h, return_counts=True)
    dup = values[counts > 1]
    n_dup = int((counts[counts > 1] - 1).sum())
    examples: list[str] = []
    for t, th in zip(tasks[:n_input_tasks], hashes, strict=True):
        rows = np.flatnonzero(np.isin(th, dup[:3]))
        if len(rows):
            ids = pq.read_table(t.output(".parquet", sub="docs"), columns=["id"])["id"]
            examples += [f"{ids[int(r)].as_py()!r} ({t.shard} row {int(r)})" for r in rows[:3]]
        if len(examples) >= 3:
            break
    return n_dup, examples[:3]


EMPTY_CLUSTERS = {"idx": pl.Int64, "id": pl.String, "length": pl.Int64, "score": pl.Float64,
                  "cluster": pl.Int64, "shard": pl.String, "row": pl.Int64,
                  "is_ref": pl.Boolean, "kept": pl.Boolean, "kept_idx": pl.Int64,
                  "kept_id": pl.String, "kept_jaccard": pl.Float64}


def _reduce(run_dir: Path, cfg: Config, tasks: list[ShardTask], n_input: int,
            markers: list[dict]) -> dict[str, Any]:
    t0 = time.perf_counter()
    # map markers written before the count keys were unified say "docs"
    sizes = np.array([m["counts"].get("docs_in", m["counts"].get("docs")) for m in markers],
                     np.int64)
    offsets = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    n_total = int(offsets[-1])
    n_input_tasks = sum(1 for t in tasks if not t.params.is_ref)
    parent = lsh.union_find(n_total)
    map_dir = run_dir / cfg.output_stage / MAP
    stats: dict[str, Any] = {"candidate_edges": 0}
    fuzzy = isinstance(cfg, FuzzyConfig)
    verify = fuzzy and cfg.verify
    held_u, held_v = [], []
    for b in range(cfg.buckets):
        eu, ev = lsh.bucket_edges(*lsh.read_bucket(
            lsh.bucket_path(map_dir, b, t.shard) for t in tasks),
            all_pairs_max=lsh.ALL_PAIRS_MAX if fuzzy else 0)
        stats["candidate_edges"] += len(eu)
        if fuzzy:
            held_u.append(eu)
            held_v.append(ev)
        else:
            lsh.union(parent, eu, ev)
    eu = ev = np.empty(0, np.int64)
    jac = np.empty(0)
    if fuzzy:
        eu, ev = lsh.unique_edges(np.concatenate(held_u), np.concatenate(held_v))
        del held_u, held_v
        stats["candidate_pairs"] = len(eu)
        jac = np.full(len(eu), np.nan)
        if verify:
            eu, ev, all_jac = lsh.verify_edges(eu, ev, cfg.threshold,
                                               _shingles_loader(tasks, offsets, cfg))
            stats["verified_pairs"] = len(eu)
            stats["candidate_jaccard_below_threshold"] = int((all_jac < cfg.threshold).sum())
            jac = all_jac[all_jac >= cfg.threshold]
        lsh.union(parent, eu, ev)
    root = lsh.roots(parent)
    size = np.bincount(root, minlength=n_total)
    clustered = size[root] > 1
    del size
    stats["seconds_candidates"] = round(time.perf_counter() - t0, 3)

    frames = []
    for k, t in enumerate(tasks):
        d = pq.read_table(t.output(".parquet", sub="docs"), columns=["idx", "id", "length",
                                                                      "score"])
        idx = d["idx"].to_numpy()
        sel = np.flatnonzero(clustered[idx])
        if len(sel):
            frames.append(pl.from_arrow(d.take(sel)).with_columns(
                cluster=pl.Series(root[idx[sel]]), shard=pl.lit(t.shard),
                row=pl.Series(idx[sel] - offsets[k])))
    out_dir = run_dir / cfg.output_stage / CLUSTERS
    if frames:
        df = pl.concat(frames).with_columns(is_ref=pl.col("idx") >= n_input)
        # with a reference set, only clusters that hold an input document matter
        df = df.filter(pl.col("is_ref").not_().any().over("cluster"))
        by, desc = _keep_order(cfg.keep)
        df = df.sort(by, descending=desc, nulls_last=True)
        if fuzzy:
            # every removed document has a kept neighbour over a (verified) edge: no
            # removal through a chain of neighbours
            kept, rep, rep_j = _representatives(df, eu, ev, jac)
            rep_pos = np.where(kept, np.arange(df.height), rep)
            df = df.with_columns(kept=pl.Series(kept),
                                 kept_idx=pl.Series(df["idx"].to_numpy()[rep_pos]),
                                 kept_id=df["id"].gather(rep_pos),
                                 kept_jaccard=pl.Series(np.where(kept, 1.0, rep_j)))
        else:  # equal keys: the cluster is a group of equal texts, its first is kept
            df = df.with_columns(kept=pl.int_range(pl.len()).over("cluster") == 0,
                                 kept_idx=pl.col("idx").first().over("cluster"),
                                 kept_id=pl.col("id").first().over("cluster"),
                                 kept_jaccard=pl.lit(1.0))
        df = df.with_columns(kept_jaccard=pl.when(pl.col("kept_jaccard").is_nan())
                             .then(None).otherwise(pl.col("kept_jaccard")))
        df = df.sort(["cluster", "kept", "idx"], descending=[False, True, False])
    else:
        df = pl.DataFrame(schema=EMPTY_CLUSTERS)
    removed = df.filter(~pl.col("kept") & ~pl.col("is_ref"))
    n_dup_ids, examples = _check_ids(tasks, n_input_tasks)
    if n_dup_ids:
        log.warning("%s: %d documents share their id with an earlier one (e.g. %s); dedup "
                    "matches documents by position, so this changes nothing it removes, "
                    "but rejects and dup_kept_id name documents by that id",
                    cfg.input_stage, n_dup_ids, ", ".join(examples))
    cols = ["cluster", "id", "shard", "row", "idx", "length", "score", "is_ref", "kept",
            "kept_idx", "kept_id", "kept_jaccard"]
    with atomic_path(out_dir / "clusters.parquet") as tmp:
        pq.write_table(df.select(cols).cast(EMPTY_CLUSTERS).to_arrow(), tmp,
                       compression="zstd")
    with atomic_path(out_dir / "removed.parquet") as tmp:
        pq.write_table(removed.select(
            shard=pl.col("shard"), row=pl.col("row"), id=pl.col("id"),
            dup_cluster=pl.col("cluster"), dup_kept_id=pl.col("kept_id"),
            dup_jaccard=pl.col("kept_jaccard")).sort("shard", "row").to_arrow(), tmp,
            compression="zstd")
    inp = df.filter(~pl.col("is_ref"))
    stats.update({
        "docs_in": n_input, "reference_docs": n_total - n_input,
        "duplicate_ids": n_dup_ids,
        # fuzzy: documents without a word after normalization take no part (exact
        # dedup compares their raw bytes)
        "docs_without_shingles": sum(m["counts"].get("no_shingles", 0) for m in markers),
        "clusters": int(inp["cluster"].n_unique()),
        "docs_in_clusters": inp.height,
        "duplicates": removed.height,
        "seconds_reduce": round(time.perf_counter() - t0, 3),
    })
    return stats


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- drop


@dataclass(frozen=True)
class DropSpec:
    """The drop step's config: which removed-rows file (and its key) applies."""

    removed: str
    key: str


@lru_cache(maxsize=4)
def _removed(path: str, key: str, shard: str) -> pl.DataFrame:
    """The removed rows of one shard (row, dup_cluster, dup_kept_id, ...), sorted by row;
    read once per process and shard."""
    return (pl.scan_parquet(path).filter(pl.col("shard") == shard).collect()
            .sort("row"))


def drop_removed(table: pa.Table, spec: DropSpec, shard: str = "", row0: int = 0) -> DocResult:
    """Split a batch into kept documents and duplicates (reason, cluster, kept twin).

    Documents are matched by position (``shard``, ``row0`` + row in the batch), never
    by id, so ids that repeat cannot remove the wrong document.
    """
    rem = _removed(spec.removed, spec.key, shard)
    all_rows = rem["row"].to_numpy()
    lo, hi = np.searchsorted(all_rows, [row0, row0 + table.num_rows])
    n = int(hi - lo)
    if not n:
        return DocResult(table, None, {"duplicate": 0})
    mask = np.zeros(table.num_rows, np.bool_)
    mask[all_rows[lo:hi] - row0] = True
    info = rem.slice(int(lo), n)
    rej = table.filter(pa.array(mask))
    rej = (rej.append_column("reason", pa.array(["duplicate"] * n, pa.string()))
              .append_column("dup_cluster", info["dup_cluster"].to_arrow())
              .append_column("dup_kept_id", info["dup_kept_id"].to_arrow()))
    return DocResult(table.filter(pa.array(~mask)), rej, {"duplicate": n})


class _ShardDrop:
    """`drop_removed` bound to one shard, counting rows across its batches (the drop
    step streams a shard's batches through one instance, in order)."""

    __module__ = __name__

    def __init__(self, shard: str) -> None:
        self.shard = shard
        self.row0 = 0

    def __call__(self, table: pa.Table, spec: DropSpec) -> DocResult:
        step = drop_removed(table, spec, self.shard, self.row0)
        self.row0 += table.num_rows
        return step


def _drop(run_dir: Path, cfg: Config, spec: DropSpec, executor: Executor,
          on_result: OnResult | None) -> StageReport:
    # the key names the removed-rows file relative to the run: a run read from another
    # place (a store's mirror on another machine) keeps its keys
    keyed = dataclasses.replace(spec, removed=os.path.relpath(spec.removed, run_dir))
    tasks = plan_documents(run_dir, cfg.input_stage, cfg.output_stage, drop_removed, keyed)
    tasks = [dataclasses.replace(t, params=dataclasses.replace(t.params, fn=_ShardDrop(t.shard),
                                                               cfg=spec)) for t in tasks]
    summary = {"config": to_dict(spec), "input_stage": cfg.input_stage}
    return run_stage(tasks, document_shard, executor, on_result, summary)


# --------------------------------------------------------------------------- stage


def resolve_input(run_dir: str | Path, cfg: Config) -> Config:
    """``cfg`` with its input stage resolved by `mixforge.documents.input_stage`: the one
    named, else the latest document stage before this dedup (exact: ingest; fuzzy:
    dedup_exact, or ingest when the run has none)."""
    stage = "dedup_fuzzy" if isinstance(cfg, FuzzyConfig) else "dedup_exact"
    return dataclasses.replace(cfg, input_stage=input_stage(run_dir, stage, cfg.input_stage))


def dedup(cfg: Config, run_dir: str | Path, executor: Executor | None = None,
          on_result: OnResult | None = None) -> DedupReport:
    """Run exact (``ExactConfig``) or fuzzy (``FuzzyConfig``) dedup of a run's stage.

    Examples
    --------
    >>> report = dedup(FuzzyConfig(threshold=0.8), "runs/r1")  # doctest: +SKIP
    >>> report.stats["duplicates"]  # doctest: +SKIP
    """
    run_dir = storage.local(run_dir)
    cfg = resolve_input(run_dir, cfg)
    cfg.validate()
    executor = executor or get_executor()
    t0 = time.perf_counter()
    tasks, n_input = _plan_map(run_dir, cfg)
    announce_compile(f"dedup {cfg.kind}", "mixforge.curate._kernels")
    mapped = run_stage(tasks, _map_shard, executor, None, {"config": to_dict(cfg)})
    t_map = time.perf_counter() - t0
    out_dir = run_dir / cfg.output_stage / CLUSTERS
    key = config_hash(to_dict(cfg), cfg.kind, [m.get("key") for m in mapped.markers])
    prev = read_marker(out_dir / "_reduce.json") or {}
    if prev.get("key") == key and (out_dir / "removed.parquet").exists():
        stats = prev["stats"]
        log.info("%s: clusters up to date, reduce skipped", cfg.output_stage)
    else:
        stats = _reduce(run_dir, cfg, tasks, n_input, mapped.markers)
        write_json(out_dir / "_reduce.json", {"key": key, "stats": stats})
    t1 = time.perf_counter()
    spec = DropSpec(str(out_dir / "removed.parquet"), key)
    report = _drop(run_dir, cfg, spec, executor, on_result)
    stats = {**stats, "kind": cfg.kind, "input_stage": cfg.input_stage,
             "kept": report.totals.get("kept", 0), "rejected": report.totals.get("rejected", 0),
             "seconds_map": round(t_map, 3), "seconds_drop": round(time.perf_counter() - t1, 3),
             "peak_rss_mb_main": round(_peak_rss_mb(), 1)}
    if isinstance(cfg, FuzzyConfig):
        p = cfg.params()
        stats.update(num_perm=p.num_perm, bands=p.bands, rows=p.rows, ngram=p.ngram)
    write_json(run_dir / cfg.output_stage / "_dedup.json", {"config": to_dict(cfg), **stats})
    return DedupReport(report, stats)
