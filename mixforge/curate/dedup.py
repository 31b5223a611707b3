"""Exact and MinHash-LSH fuzzy deduplication of a document stage, in bounded memory.

Both stages are three steps over a run directory:

1. **map** (per input shard, in parallel): normalize, hash (exact: a 128-bit key of the
   normalized text; fuzzy: a MinHash signature and its band hashes), write the key rows
   to bucket files under ``<run>/<stage>/_map/buckets/`` and a small per-document table
   (id, length, score) under ``_map/docs/``.
2. **reduce** (one process, one bucket at a time): candidate pairs -> union-find ->
   clusters; optional exact-Jaccard verification of the fuzzy candidates; the keep rule
   picks one document per cluster (``first``: smallest id; ``longest``; ``score``: the
   highest value of a score column; ties by smallest id). Writes
   ``_clusters/clusters.parquet`` (every member of every cluster, for inspection) and
   ``_clusters/removed.parquet``.
3. **drop** (per shard, `map_documents`): removed documents become rejects with reason
   ``duplicate``, their cluster (``dup_cluster``) and the id of the kept twin
   (``dup_kept_id``); the rest is written unchanged to ``<run>/<stage>/``.

Against a reference set (``reference``: a stage folder or parquet files with ``id`` and
``text``), the reference documents join the map and reduce; a cluster holding one keeps
the reference document (which is never written out) and removes every input member.

Memory bound of the global steps, per input document: map — none (one record batch at a
time: about ``batch_rows`` x (text bytes + 8 x num_perm)); shuffle on disk — 24 B x
bands (fuzzy, 14 bands: 336 B, 202 B after lz4) or 24 B (exact); reduce — about 45 B
(see `lsh`) plus ~100 B per document that is in a cluster, plus, when verifying, 8 B per
distinct shingle of each document with a candidate: measured 540 B per document in all
(slope of peak RSS between 250k and 1M synthetic documents, verification on); drop —
each worker holds the removed ids (~70 B per removed document). The measurements are in
docs/benchmarks.md (1M documents: 1.3 GB peak over all processes).

Re-running resumes: map shards and drop shards have markers; the reduce is skipped when
its key (config + every map shard's key) matches ``_clusters/_reduce.json``. Same input
and config give byte-identical outputs.
"""

from __future__ import annotations

import dataclasses
import logging
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

from ..config import config_hash, opt, to_dict
from ..documents import DocResult, input_key, input_stage, map_documents
from ..errors import ConfigError
from ..executor import Executor, OnResult, get_executor
from ..jit import announce_compile
from ..layout import REJECTS, has_run
from ..rundir import ShardTask, StageReport, atomic_path, read_marker, run_stage, write_json
from ..stats import stage_files
from . import lsh
from .minhash import MinHashParams, band_hashes, signatures
from .normalize import NormConfig, exact_keys, shingle_hashes

log = logging.getLogger(__name__)
MAP, CLUSTERS = "_map", "_clusters"
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
    n = 0
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
    return {"counts": {"docs_in": n, "key_rows": bw.rows}, "outputs": [docs_path, *bw.paths]}


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
        name = f"ref-{i - len(files):05d}" if is_ref else shard
        tasks.append(ShardTask(map_dir, name, (str(path),),
                               config_hash(key_cfg, upstream, idx0, is_ref, rows),
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
    if keep == "longest":
        return ["cluster", "is_ref", "length", "id"], [False, True, True, False]
    if keep == "score":
        return ["cluster", "is_ref", "score", "id"], [False, True, True, False]
    return ["cluster", "is_ref", "id"], [False, True, False]


def _reduce(run_dir: Path, cfg: Config, tasks: list[ShardTask], n_input: int,
            markers: list[dict]) -> dict[str, Any]:
    t0 = time.perf_counter()
    # map markers written before the count keys were unified say "docs"
    sizes = np.array([m["counts"].get("docs_in", m["counts"].get("docs")) for m in markers],
                     np.int64)
    offsets = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    n_total = int(offsets[-1])
    parent = lsh.union_find(n_total)
    map_dir = run_dir / cfg.output_stage / MAP
    stats: dict[str, Any] = {"candidate_edges": 0}
    held_u, held_v = [], []
    verify = isinstance(cfg, FuzzyConfig) and cfg.verify
    for b in range(cfg.buckets):
        eu, ev = lsh.bucket_edges(*lsh.read_bucket(
            lsh.bucket_path(map_dir, b, t.shard) for t in tasks))
        stats["candidate_edges"] += len(eu)
        if verify:
            held_u.append(eu)
            held_v.append(ev)
        else:
            lsh.union(parent, eu, ev)
    if verify:
        eu, ev = lsh.unique_edges(np.concatenate(held_u), np.concatenate(held_v))
        del held_u, held_v
        stats["candidate_pairs"] = len(eu)
        eu, ev, jac = lsh.verify_edges(eu, ev, cfg.threshold,
                                       _shingles_loader(tasks, offsets, cfg))
        stats["verified_pairs"] = len(eu)
        stats["candidate_jaccard_below_threshold"] = int((jac < cfg.threshold).sum())
        lsh.union(parent, eu, ev)
    root = lsh.roots(parent)
    size = np.bincount(root, minlength=n_total)
    clustered = size[root] > 1
    del size
    stats["seconds_candidates"] = round(time.perf_counter() - t0, 3)

    frames = []
    for t in tasks:
        d = pq.read_table(t.output(".parquet", sub="docs"), columns=["idx", "id", "length",
                                                                      "score"])
        idx = d["idx"].to_numpy()
        sel = np.flatnonzero(clustered[idx])
        if len(sel):
            frames.append(pl.from_arrow(d.take(sel)).with_columns(
                cluster=pl.Series(root[idx[sel]]), shard=pl.lit(t.shard)))
    out_dir = run_dir / cfg.output_stage / CLUSTERS
    if frames:
        df = pl.concat(frames).with_columns(is_ref=pl.col("idx") >= n_input)
        # with a reference set, only clusters that hold an input document matter
        df = df.filter(pl.col("is_ref").not_().any().over("cluster"))
        by, desc = _keep_order(cfg.keep)
        df = df.sort(by, descending=desc, nulls_last=True)
        df = df.with_columns(kept_id=pl.col("id").first().over("cluster"),
                             kept=pl.int_range(pl.len()).over("cluster") == 0)
        df = df.sort(["cluster", "kept", "id"], descending=[False, True, False])
    else:
        df = pl.DataFrame(schema={"idx": pl.Int64, "id": pl.String, "length": pl.Int64,
                                  "score": pl.Float64, "cluster": pl.Int64,
                                  "shard": pl.String, "is_ref": pl.Boolean,
                                  "kept_id": pl.String, "kept": pl.Boolean})
    removed = df.filter(~pl.col("kept") & ~pl.col("is_ref"))
    clash = removed.join(df.filter(pl.col("kept")), on="id", how="semi").height
    if clash:
        msg = (f"{clash} removed documents share their id with a kept document: document "
               f"ids in {cfg.input_stage} are not unique; re-ingest without --id-field")
        raise ConfigError(msg)
    cols = ["cluster", "id", "shard", "idx", "length", "score", "is_ref", "kept", "kept_id"]
    with atomic_path(out_dir / "clusters.parquet") as tmp:
        pq.write_table(df.select(cols).to_arrow(), tmp, compression="zstd")
    with atomic_path(out_dir / "removed.parquet") as tmp:
        pq.write_table(removed.select(id=pl.col("id"), dup_cluster=pl.col("cluster"),
                                      dup_kept_id=pl.col("kept_id")).to_arrow(), tmp,
                       compression="zstd")
    inp = df.filter(~pl.col("is_ref"))
    stats.update({
        "docs_in": n_input, "reference_docs": n_total - n_input,
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
    """The drop step's config: which removed-ids file (and its key) applies."""

    removed: str
    key: str


@lru_cache(maxsize=2)
def _removed(path: str, key: str) -> tuple[pa.Array, pa.Table]:
    """The removed ids (large_string, one chunk) and their table, once per process."""
    removed = pq.read_table(path)
    return pc.cast(removed["id"], pa.large_string()).combine_chunks(), removed


def drop_removed(table: pa.Table, spec: DropSpec) -> DocResult:
    """Split a batch into kept documents and duplicates (reason, cluster, kept twin)."""
    removed_ids, removed = _removed(spec.removed, spec.key)
    pos = pc.index_in(pc.cast(table["id"], pa.large_string()), value_set=removed_ids)
    mask = pc.is_valid(pos)
    n = int(pc.sum(mask).as_py() or 0)
    if not n:
        return DocResult(table, None, {"duplicate": 0})
    hit = pc.drop_null(pos)
    rej = table.filter(mask)
    rej = (rej.append_column("reason", pa.array(["duplicate"] * n, pa.string()))
              .append_column("dup_cluster", removed["dup_cluster"].take(hit))
              .append_column("dup_kept_id", removed["dup_kept_id"].take(hit)))
    return DocResult(table.filter(pc.invert(mask)), rej, {"duplicate": n})


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
    run_dir = Path(run_dir)
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
    report = map_documents(run_dir, cfg.input_stage, cfg.output_stage, drop_removed, spec,
                           executor, on_result)
    stats = {**stats, "kind": cfg.kind, "input_stage": cfg.input_stage,
             "kept": report.totals.get("kept", 0), "rejected": report.totals.get("rejected", 0),
             "seconds_map": round(t_map, 3), "seconds_drop": round(time.perf_counter() - t1, 3),
             "peak_rss_mb_main": round(_peak_rss_mb(), 1)}
    if isinstance(cfg, FuzzyConfig):
        p = cfg.params()
        stats.update(num_perm=p.num_perm, bands=p.bands, rows=p.rows, ngram=p.ngram)
    write_json(run_dir / cfg.output_stage / "_dedup.json", {"config": to_dict(cfg), **stats})
    return DedupReport(report, stats)
