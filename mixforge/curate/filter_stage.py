"""The `filter` stage: quality filters + language ID over a document stage, into `<run>/filter`.

Per input shard, record batches stream through `filter_table`: one Numba pass computes
every statistic (`textstats`), py3langid adds ``language``/``language_score``, and the
rules (`filters`) assign each document its first failing rule or none. Outputs:

- ``filter/<shard>.parquet``: kept documents, columns untouched;
- ``filter/scores/<shard>.parquet``: every document's statistics, keyed by ``id`` (score
  once, mix many: mixers and reports read these, and re-thresholding needs no recompute);
- ``filter/rejects/<shard>.parquet``: dropped documents with ``reason`` and a ``scores``
  struct;
- ``filter/samples/<shard>.parquet`` and, after the stage, ``filter/dropped_samples.parquet``:
  the first ``sample_per_reason`` dropped documents per reason, for the report.

Counts per shard (in its marker and ``_stage.json``): docs_in = kept + rejected, and
``dropped_<reason>`` per rule (the first failing one), ``flagged_<group>`` per rule group
(what that group alone would drop, as each datatrove filter run alone would). Memory:
one batch of documents plus its statistics (35 int64 per document) and the kernel's
scratch (~180 bytes per UTF-8 byte of the batch's longest document).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ..config import to_dict
from ..executor import Executor, OnResult, get_executor
from ..ingest import PARQUET_OPTS
from ..jit import announce_compile
from ..rundir import ShardTask, StageReport, atomic_path, run_stage
from ..schema import check_documents
from ..stage import latest_document_stage, plan_documents
from .filters import GROUPS, FilterConfig, drop_reasons
from .textstats import compute_stats

log = logging.getLogger(__name__)
STAGE = "filter"
INPUT_STAGES = ("dedup_fuzzy", "dedup_exact", "ingest")
SAMPLES = "dropped_samples.parquet"


@dataclass
class FilterResult:
    """What `filter_table` returns for one table of documents."""

    kept: pa.Table
    rejected: pa.Table  # dropped documents + 'reason' + 'scores' (struct)
    scores: pa.Table  # id + every statistic (+ language, language_score)
    counts: dict[str, int] = field(default_factory=dict)


def resolve_input_stage(run_dir: str | Path, input_stage: str | None = None) -> str:
    """The stage to filter: ``input_stage``, else the latest of dedup_fuzzy/dedup_exact/ingest."""
    return latest_document_stage(run_dir, input_stage, INPUT_STAGES)


def score_table(table: pa.Table, cfg: FilterConfig) -> pa.Table:
    """``id`` plus every statistic (and language columns when language ID is on)."""
    stats = compute_stats(table["text"], cfg.stats_params())
    cols = {"id": table["id"], **{n: stats[n] for n in stats.column_names}}
    if cfg.language.enabled:
        from .langid import LanguageIdentifier

        lang, score = LanguageIdentifier(cfg.language.max_chars).classify_column(table["text"])
        cols["language"] = lang
        cols["language_score"] = score
    return pa.table(cols)


def filter_table(table: pa.Table, cfg: FilterConfig) -> FilterResult:
    """Score ``table`` and split it into kept and rejected documents (pure: no I/O).

    Examples
    --------
    >>> import pyarrow as pa
    >>> docs = pa.table({"id": ["a"], "text": ["Too short to keep."], "domain": ["d"],
    ...                  "source": ["s"]})
    >>> r = filter_table(docs, FilterConfig())
    >>> r.kept.num_rows, r.rejected["reason"].to_pylist()
    (0, ['gopher_short_doc'])
    """
    check_documents(table)
    scores = score_table(table, cfg)
    stats = pl.from_arrow(scores)
    reasons = drop_reasons(stats, cfg)
    keep = reasons.is_null().to_arrow()
    kept = table.filter(keep)
    drop = pa.compute.invert(keep)
    rejected = table.filter(drop)
    rej_scores = scores.filter(drop).drop_columns(["id"])
    rejected = rejected.append_column("reason", reasons.filter(~reasons.is_null()).to_arrow()
                                      .cast(pa.string()))
    rejected = rejected.append_column(
        "scores", pa.StructArray.from_arrays(
            [c.combine_chunks() for c in rej_scores.columns], names=rej_scores.column_names)
        if rej_scores.num_rows else pa.array([], pa.struct(
            [pa.field(n, t) for n, t in zip(rej_scores.column_names,
                                            rej_scores.schema.types, strict=True)])))
    counts = {"docs_in": table.num_rows, "kept": kept.num_rows, "rejected": rejected.num_rows}
    for reason, n in (reasons.drop_nulls().value_counts(sort=True).iter_rows()):
        counts[f"dropped_{reason}"] = int(n)
    for group in GROUPS:  # what each group alone would drop (as each datatrove filter would)
        if getattr(cfg, group).enabled and (group != "language" or cfg.language.languages):
            alone = drop_reasons(stats, cfg, (group,))
            counts[f"flagged_{group}"] = alone.len() - alone.null_count()
    return FilterResult(kept, rejected, scores, counts)


def _sample(rejected: pa.Table, per_reason: int, have: dict[str, int]) -> pa.Table | None:
    """The first rows per reason not yet sampled (``have`` counts what is kept so far)."""
    if not rejected.num_rows or per_reason <= 0:
        return None
    idx = []
    for i, r in enumerate(rejected["reason"].to_pylist()):
        if have.get(r, 0) < per_reason:
            have[r] = have.get(r, 0) + 1
            idx.append(i)
    return rejected.take(idx) if idx else None


def filter_shard(task: ShardTask) -> dict:
    """Stream one input shard through `filter_table`; write kept, scores, rejects, samples."""
    _, cfg, _ = task.params
    src = pq.ParquetFile(task.inputs[0])
    paths = {"kept": task.output(".parquet"), "scores": task.output(".parquet", "scores"),
             "rejects": task.output(".parquet", "rejects"),
             "samples": task.output(".parquet", "samples")}
    tmp = {k: p.with_name(f".{p.name}.tmp-{os.getpid()}") for k, p in paths.items()}
    counts: dict[str, int] = {"docs_in": 0, "kept": 0, "rejected": 0}
    writers: dict[str, pq.ParquetWriter] = {}
    sampled: dict[str, int] = {}

    def write(kind: str, table: pa.Table | None) -> None:
        if table is None:
            return
        if kind not in writers:
            tmp[kind].parent.mkdir(parents=True, exist_ok=True)
            writers[kind] = pq.ParquetWriter(tmp[kind], table.schema, **PARQUET_OPTS)
        writers[kind].write_table(table)

    try:
        empty = True
        for batch in src.iter_batches(batch_size=cfg.batch_rows):
            empty = False
            res = filter_table(pa.Table.from_batches([batch]), cfg)
            write("kept", res.kept)
            write("scores", res.scores)
            if res.rejected.num_rows:
                write("rejects", res.rejected)
                write("samples", _sample(res.rejected, cfg.sample_per_reason, sampled))
            for k, v in res.counts.items():
                counts[k] = counts.get(k, 0) + v
        if empty:  # an empty shard still yields valid, empty kept and scores files
            res = filter_table(src.schema_arrow.empty_table(), cfg)
            write("kept", res.kept)
            write("scores", res.scores)
        for w in writers.values():
            w.close()
        if counts["docs_in"] != counts["kept"] + counts["rejected"]:
            msg = f"{task.shard}: {counts} does not add up (docs_in != kept + rejected)"
            raise AssertionError(msg)
        outputs = []
        for kind, path in paths.items():  # the kept file last: it is what marks progress
            if kind in writers:
                os.replace(tmp[kind], path)
                outputs.append(path)
            else:
                path.unlink(missing_ok=True)
    finally:
        for t in tmp.values():
            t.unlink(missing_ok=True)
    return {"counts": counts, "outputs": outputs}


def plan_filter(cfg: FilterConfig, run_dir: str | Path) -> tuple[str, list[ShardTask]]:
    """(input stage, one task per input shard); validates before any work starts."""
    cfg.validate()
    in_stage = resolve_input_stage(run_dir, cfg.input_stage)
    return in_stage, plan_documents(run_dir, in_stage, STAGE, filter_table, cfg)


def merge_samples(stage_dir: Path, per_reason: int) -> Path | None:
    """The first ``per_reason`` dropped documents per reason over all shards, in shard order."""
    files = sorted((stage_dir / "samples").glob("*.parquet"))
    out = stage_dir / SAMPLES
    if not files:
        out.unlink(missing_ok=True)
        return None
    df = pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")
    df = df.with_row_index("_order").filter(
        pl.int_range(pl.len()).over("reason") < per_reason).drop("_order")
    with atomic_path(out) as tmp:
        df.write_parquet(tmp, compression="zstd")
    return out


def run_filter(cfg: FilterConfig, run_dir: str | Path, executor: Executor | None = None,
               on_result: OnResult | None = None) -> StageReport:
    """Filter the run's latest document stage into ``run_dir/filter``; resumes by shard.

    Examples
    --------
    >>> report = run_filter(FilterConfig(), "runs/r1")  # doctest: +SKIP
    >>> report.totals["kept"], report.totals.get("dropped_gopher_short_doc")  # doctest: +SKIP
    """
    in_stage, tasks = plan_filter(cfg, run_dir)
    if tasks:
        announce_compile("filter", "mixforge.curate._textstats_kernels")
    report = run_stage(tasks, filter_shard, executor or get_executor(), on_result,
                       summary={"config": to_dict(cfg), "input_stage": in_stage})
    merge_samples(Path(run_dir) / STAGE, cfg.sample_per_reason)
    return report


def _dry_shard(task: ShardTask) -> dict[str, int]:
    _, cfg, _ = task.params
    counts: dict[str, int] = {}
    for batch in pq.ParquetFile(task.inputs[0]).iter_batches(batch_size=cfg.batch_rows):
        res = filter_table(pa.Table.from_batches([batch]), cfg)
        for k, v in res.counts.items():
            counts[k] = counts.get(k, 0) + v
    return counts


def dry_run(cfg: FilterConfig, run_dir: str | Path, executor: Executor | None = None,
            on_result: OnResult | None = None) -> dict[str, int]:
    """What `run_filter` would drop, per reason, without writing anything."""
    _, tasks = plan_filter(cfg, run_dir)
    totals: dict[str, int] = {}
    for counts in (executor or get_executor()).map(_dry_shard, tasks, on_result):
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
    return totals
