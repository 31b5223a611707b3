"""The `filter` stage: quality filters + language ID over a document stage, into `<run>/filter`.

Per input shard, record batches stream through `filter_table`: one Numba pass computes
every statistic (`textstats`), py3langid adds ``language``/``language_score``, and the
rules (`filters`) assign each document its first failing rule or none. The shard I/O is
the document-stage mapper's (`mixforge.documents`), as for every document stage. Outputs:

- ``filter/<shard>.parquet``: kept documents, columns untouched;
- ``filter/scores/<shard>.parquet``: every document's statistics, keyed by ``id`` (score
  once, mix many: mixers and reports read these, and re-thresholding needs no recompute);
- ``filter/rejects/<shard>.parquet``: dropped documents with ``reason`` and a ``scores``
  struct;
- ``filter/samples/<shard>.parquet`` and, after the stage, ``filter/samples/_all.parquet``:
  the first ``sample_per_reason`` dropped documents per domain and reason.

Counts per shard (in its marker and ``_stage.json``): docs_in = kept + rejected, and
``dropped_<reason>`` per rule (the first failing one), ``flagged_<group>`` per rule group
(what that group alone would drop, as each datatrove filter run alone would), and per
domain ``domain_in:<domain>``, ``domain_kept:<domain>`` and
``domain_dropped:<domain>:<reason>``. Memory:
one batch of documents plus its statistics (35 int64 per document) and the kernel's
scratch (~180 bytes per UTF-8 byte of the batch's longest document).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .. import storage
from ..config import to_dict
from ..documents import DocParams, DocResult, document_shard, input_stage, plan_documents
from ..executor import Executor, OnResult, get_executor
from ..jit import announce_compile
from ..layout import DROPPED_SAMPLES, SAMPLES
from ..rundir import ShardTask, StageReport, atomic_path, run_stage
from ..schema import check_documents
from .filters import GROUPS, FilterConfig, code_stats, drop_reasons, policy_of, policy_reasons
from .quality import QualityClassifier, prepare_quality
from .textstats import compute_stats

log = logging.getLogger(__name__)
STAGE = "filter"


@dataclass
class FilterResult(DocResult):
    """What `filter_table` returns: kept, rejected (+ 'reason' and a 'scores' struct),
    counts, and ``side["scores"]``: id + every statistic (+ language, language_score)."""

    @property
    def scores(self) -> pa.Table:
        return self.side["scores"]


def resolve_input_stage(run_dir: str | Path, requested: str | None = None) -> str:
    """The stage to filter: ``requested``, else the latest document stage before filter
    that has run (`mixforge.documents.input_stage`)."""
    return input_stage(run_dir, STAGE, requested)


def score_table(table: pa.Table, cfg: FilterConfig) -> pa.Table:
    """``id`` plus every statistic (and language columns when language ID is on)."""
    stats = compute_stats(table["text"], cfg.stats_params())
    cols = {"id": table["id"], **{n: stats[n] for n in stats.column_names}}
    if any(preset == "code" for _, preset in cfg.policies()):
        code = code_stats(table["text"]).to_arrow()
        cols.update({n: code[n] for n in code.column_names})
    if cfg.language.enabled:
        from .langid import LanguageIdentifier

        lang, score = LanguageIdentifier(cfg.language.max_chars).classify_column(table["text"])
        cols["language"] = lang
        cols["language_score"] = score
    return pa.table(cols)


def filter_table(table: pa.Table, cfg: FilterConfig,
                 quality: tuple[QualityClassifier, float | None] | None = None) -> FilterResult:
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
    if quality is not None:  # the classifier toward the target: a score column, a rule
        scores = scores.append_column("quality", pa.array(quality[0].score(table["text"])))
    stats = pl.from_arrow(scores)
    policy = cfg.policies()
    domains = pl.from_arrow(table["domain"]).cast(pl.String)
    if policy:  # per-domain presets (`filters.PRESETS`)
        of = {d: policy_of(d, policy) for d in domains.unique().to_list()}
        reasons = policy_reasons(stats, cfg, domains.replace_strict(of))
    else:
        reasons = drop_reasons(stats, cfg)
    if quality is not None and quality[1] is not None:
        low = stats["quality"] < quality[1]
        reasons = pl.select(pl.when(reasons.is_null() & low).then(pl.lit("quality_below_target"))
                            .otherwise(reasons).alias("reason")).to_series()
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
    # per domain: documents in, kept, and dropped per rule (filter --dry-run prints them)
    doms = pl.DataFrame({"d": domains, "reason": reasons})
    for d, n_in, n_kept in doms.group_by("d").agg(
            pl.len(), pl.col("reason").is_null().sum()).rows():
        counts[f"domain_in:{d}"] = int(n_in)
        counts[f"domain_kept:{d}"] = int(n_kept)
    for d, reason, n in doms.drop_nulls("reason").group_by("d", "reason").len().rows():
        counts[f"domain_dropped:{d}:{reason}"] = int(n)
    for group in () if policy else GROUPS:  # what each group alone would drop (as each
        # datatrove filter would); with per-domain policies the per-domain table says it
        if getattr(cfg, group).enabled and (group != "language" or cfg.language.languages):
            alone = drop_reasons(stats, cfg, (group,))
            counts[f"flagged_{group}"] = alone.len() - alone.null_count()
    return FilterResult(kept, rejected, counts, {"scores": scores})


class _WithQuality:
    """`filter_table` with the stage's trained classifier (loaded once per process)."""

    __module__ = __name__

    def __init__(self, model: str, threshold: float | None) -> None:
        self.model, self.threshold, self._clf = model, threshold, None

    def __call__(self, table: pa.Table, cfg: FilterConfig) -> FilterResult:
        if self._clf is None:
            self._clf = QualityClassifier.load(self.model)
        return filter_table(table, cfg, (self._clf, self.threshold))


def plan_filter(cfg: FilterConfig, run_dir: str | Path) -> tuple[str, list[ShardTask]]:
    """(input stage, one task per input shard); validates before any work starts.

    With ``cfg.quality.target``, the classifier is trained first (a global step, reused
    when its inputs are unchanged: `curate.quality.prepare_quality`) into
    ``filter/_quality/``; its file and threshold are part of every shard's key.
    """
    cfg.validate()
    in_stage = resolve_input_stage(run_dir, cfg.input_stage)
    fn, extra = filter_table, None
    if cfg.quality.target:
        from ..stats import stage_files

        model, threshold = prepare_quality(cfg.quality, stage_files(Path(run_dir) / in_stage),
                                           Path(run_dir) / STAGE / "_quality")
        fn, extra = _WithQuality(str(model), threshold), (model.name, threshold)
    return in_stage, plan_documents(run_dir, in_stage, STAGE, fn, cfg, extra=extra,
                                    batch_rows=cfg.batch_rows,
                                    samples_per_reason=cfg.sample_per_reason)


def merge_samples(stage_dir: Path, per_reason: int) -> Path | None:
    """The first ``per_reason`` dropped documents per domain and reason over all shards, in
    shard order."""
    files = sorted((stage_dir / SAMPLES).glob("[!_]*.parquet"))
    out = stage_dir / DROPPED_SAMPLES
    if not files:
        out.unlink(missing_ok=True)
        storage.remove(out)
        return None
    df = pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")
    df = df.with_row_index("_order").filter(
        pl.int_range(pl.len()).over("domain", "reason") < per_reason).drop("_order")
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
    run_dir = storage.local(run_dir)
    in_stage, tasks = plan_filter(cfg, run_dir)
    if tasks:
        announce_compile("filter", "mixforge.curate._textstats_kernels")
    report = run_stage(tasks, document_shard, executor or get_executor(), on_result,
                       summary={"config": to_dict(cfg), "input_stage": in_stage})
    merge_samples(Path(run_dir) / STAGE, cfg.sample_per_reason)
    return report


def _dry_shard(task: ShardTask[DocParams]) -> dict[str, int]:
    cfg = task.params.cfg
    counts: dict[str, int] = {}
    for batch in pq.ParquetFile(task.inputs[0]).iter_batches(batch_size=cfg.batch_rows):
        res = task.params.fn(pa.Table.from_batches([batch]), cfg)
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
