"""The document-stage contract: map a pure document function over a previous stage's shards.

A document stage (dedup's drop step, filter) is ``fn(table, cfg) -> DocResult`` over a
`pa.Table` of documents: the kept documents, the rejected ones (with a ``reason``
column), counts, and optional side tables (filter's ``scores``). This module does all
the I/O around it, the same for every such stage: one task per input shard, record
batches streamed through, every output streamed to a temp file and renamed into place:

- ``<run>/<stage>/<shard>.parquet``: kept documents;
- ``<run>/<stage>/rejects/<shard>.parquet``: rejected documents with their reason;
- ``<run>/<stage>/<side>/<shard>.parquet``: each side table (e.g. ``scores``);
- ``<run>/<stage>/samples/<shard>.parquet``: the first ``samples_per_reason`` rejects
  per domain and reason (when asked for),

then markers and resume from `rundir`. Every shard's counts hold ``docs_in``, ``kept``
and ``rejected`` (docs_in = kept + rejected, checked) plus the function's own counts.

It also holds the one rule for "which document stage does a stage read"
(`input_stage`): the one the user names, else the latest stage upstream of it in the
pipeline that has run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .config import config_hash, to_dict
from .errors import ConfigError
from .executor import Executor, OnResult, get_executor
from .ingest import PARQUET_OPTS
from .layout import (
    DOCUMENT_STAGES,
    MARKERS,
    PIPELINE,
    REJECTS,
    SAMPLES,
    STAGE_JSON,
    has_run,
    marker_path,
)
from .rundir import ShardTask, StageReport, atomic_path, read_marker, run_stage
from .stats import stage_files

log = logging.getLogger(__name__)
COUNT_KEYS = ("docs_in", "kept", "rejected")  # every stage's marker and report


@dataclass
class DocResult:
    """What a document function returns for one table of documents."""

    kept: pa.Table
    rejected: pa.Table | None = None  # rejected documents plus a 'reason' column
    counts: dict[str, int] = field(default_factory=dict)  # docs_in/kept/rejected: ignored
    side: dict[str, pa.Table] = field(default_factory=dict)  # -> <stage>/<name>/<shard>


DocFn = Callable[[pa.Table, Any], DocResult]


@dataclass(frozen=True)
class DocParams:
    """The per-shard parameters of a document stage's task (`ShardTask.params`)."""

    fn: DocFn
    cfg: Any
    extra: Any = None  # hashed into the key: e.g. the global step's result it depends on
    batch_rows: int = 8192
    samples_per_reason: int = 0  # write the first N rejects per reason to samples/


def input_key(stage_dir: Path, shard: str) -> str:
    """The marker key of an upstream shard (changes when that shard was redone)."""
    return (read_marker(marker_path(stage_dir, shard)) or {}).get("key", "")


def upstream_document_stages(stage: str) -> tuple[str, ...]:
    """The document stages before ``stage`` in the pipeline, latest first."""
    order = [s.section for s in PIPELINE]
    before = order[: order.index(stage)] if stage in order else order
    return tuple(s for s in DOCUMENT_STAGES if s in before)


def input_stage(run_dir: str | Path, stage: str, requested: str | None = None) -> str:
    """The document stage ``stage`` reads: ``requested`` if given (it must have run), else
    the latest stage upstream of ``stage`` that has run in ``run_dir``.

    Every document-reading stage (dedup, filter, tokenizer, tokenize) resolves its input
    here. Raises `ConfigError` when the stage named has not run, or none has.

    Examples
    --------
    >>> upstream_document_stages("dedup_fuzzy")
    ('dedup_exact', 'ingest')
    """
    run_dir = Path(run_dir)
    candidates = upstream_document_stages(stage)
    if requested:
        if not has_run(run_dir, requested):
            msg = (f"stage {requested!r} has not run in {run_dir} (no finished stage there); "
                   f"run it first or pass another --input-stage, e.g. one of "
                   f"{list(candidates)}")
            raise ConfigError(msg)
        return requested
    for name in candidates:
        if has_run(run_dir, name):
            _warn_if_stale(run_dir, name)
            return name
    msg = f"{run_dir}: none of {list(candidates)} has run; run `mixforge ingest` first"
    raise ConfigError(msg)


def _warn_if_stale(run_dir: Path, name: str) -> None:
    """Log a warning when a stage upstream of ``name`` finished after it: ``name`` then
    holds documents of an earlier run of that stage (e.g. ingest was rerun on new inputs)."""
    mine = run_dir / name / STAGE_JSON
    if not mine.exists():
        return
    for up in upstream_document_stages(name):
        # a shard's marker is rewritten only when the shard is redone (a rerun that skips
        # every shard leaves them), so a newer upstream marker means new upstream documents
        newest = max((m.stat().st_mtime for m in (run_dir / up / MARKERS).glob("*.json")),
                     default=0.0)
        if newest > mine.stat().st_mtime:
            log.warning("%s finished after %s: %s holds documents of an earlier %s; rerun "
                        "%s (or pass --input-stage %s) to read the new ones", up, name, name,
                        up, name, up)
            return


def plan_documents(run_dir: str | Path, in_stage: str, out_stage: str, fn: DocFn,
                   cfg: Any, extra: Any = None, batch_rows: int = 8192,
                   samples_per_reason: int = 0) -> list[ShardTask[DocParams]]:
    """One task per finished shard of ``in_stage``; the key covers cfg and upstream keys."""
    in_dir = Path(run_dir) / in_stage
    cfg_key = config_hash(to_dict(cfg) if hasattr(cfg, "__dataclass_fields__") else cfg,
                          fn.__module__, getattr(fn, "__qualname__", type(fn).__qualname__))
    params = DocParams(fn, cfg, extra, batch_rows, samples_per_reason)
    tasks = []
    for path in stage_files(in_dir):
        shard = path.name[: -len(".parquet")]
        key = config_hash(cfg_key, input_key(in_dir, shard), extra)
        tasks.append(ShardTask(str(Path(run_dir) / out_stage), shard, (str(path),), key,
                               params=params))
    return tasks


def _first_per_reason(rejected: pa.Table, per_reason: int, have: dict[tuple, int]
                      ) -> pa.Table | None:
    """The rows of ``rejected`` whose (domain, reason) has fewer than ``per_reason`` in
    ``have`` (counted there)."""
    idx = []
    domains = (rejected["domain"].to_pylist() if "domain" in rejected.column_names
               else [None] * rejected.num_rows)
    for i, key in enumerate(zip(domains, rejected["reason"].to_pylist(), strict=True)):
        if have.get(key, 0) < per_reason:
            have[key] = have.get(key, 0) + 1
            idx.append(i)
    return rejected.take(idx) if idx else None


class _Writers:
    """Parquet writers opened on first use, each on a temp file renamed on `commit`."""

    def __init__(self) -> None:
        self._open: dict[Path, tuple[Any, pq.ParquetWriter]] = {}
        self._order: list[Path] = []

    def write(self, path: Path, table: pa.Table | None) -> None:
        if table is None:
            return
        if path not in self._open:
            ctx = atomic_path(path)
            tmp = ctx.__enter__()
            self._open[path] = (ctx, pq.ParquetWriter(tmp, table.schema, **PARQUET_OPTS))
            self._order.append(path)
        self._open[path][1].write_table(table)

    def commit(self, last: Path) -> list[Path]:
        """Close and rename every file (``last`` after the others); return their paths."""
        order = [p for p in self._order if p != last] + [p for p in self._order if p == last]
        for p in order:
            ctx, writer = self._open.pop(p)
            writer.close()
            ctx.__exit__(None, None, None)
        return [p for p in self._order if p == last] + [p for p in self._order if p != last]

    def abort(self) -> None:
        for ctx, writer in self._open.values():
            writer.close()
            ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
        self._open.clear()


def document_shard(task: ShardTask[DocParams]) -> dict:
    """Stream one input shard through ``fn``; write kept, rejects, side tables, samples."""
    p = task.params
    src = pq.ParquetFile(task.inputs[0])
    kept_path = task.output(".parquet")
    counts: dict[str, int] = dict.fromkeys(COUNT_KEYS, 0)
    writers = _Writers()
    sampled: dict[tuple, int] = {}
    try:
        empty = True
        for batch in src.iter_batches(batch_size=p.batch_rows):
            empty = False
            table = pa.Table.from_batches([batch])
            res = p.fn(table, p.cfg)
            writers.write(kept_path, res.kept)
            for name, side in res.side.items():
                writers.write(task.output(".parquet", sub=name), side)
            counts["docs_in"] += table.num_rows
            counts["kept"] += res.kept.num_rows
            if res.rejected is not None and res.rejected.num_rows:
                counts["rejected"] += res.rejected.num_rows
                writers.write(task.output(".parquet", sub=REJECTS), res.rejected)
                if p.samples_per_reason > 0:
                    writers.write(task.output(".parquet", sub=SAMPLES), _first_per_reason(
                        res.rejected, p.samples_per_reason, sampled))
            for k, v in res.counts.items():
                if k not in COUNT_KEYS:
                    counts[k] = counts.get(k, 0) + int(v)
        if empty:  # an empty input shard still yields valid, empty kept (and side) files
            res = p.fn(src.schema_arrow.empty_table(), p.cfg)
            writers.write(kept_path, res.kept)
            for name, side in res.side.items():
                writers.write(task.output(".parquet", sub=name), side)
        if counts["docs_in"] != counts["kept"] + counts["rejected"]:
            msg = f"{task.shard}: {counts} does not add up (docs_in != kept + rejected)"
            raise AssertionError(msg)
        outputs = writers.commit(last=kept_path)  # the kept file last: it marks progress
    except BaseException:
        writers.abort()
        raise
    return {"counts": counts, "outputs": outputs}


def map_documents(run_dir: str | Path, in_stage: str, out_stage: str, fn: DocFn, cfg: Any,
                  executor: Executor | None = None, on_result: OnResult | None = None,
                  extra: Any = None, batch_rows: int = 8192,
                  samples_per_reason: int = 0) -> StageReport:
    """Run ``fn`` over every shard of ``in_stage`` into ``out_stage``; resumable.

    ``extra`` is handed to tasks and hashed into their keys (e.g. the path and key of a
    global step's result, such as the set of duplicate ids to drop).
    """
    tasks = plan_documents(run_dir, in_stage, out_stage, fn, cfg, extra, batch_rows,
                           samples_per_reason)
    summary = {"config": to_dict(cfg) if hasattr(cfg, "__dataclass_fields__") else cfg,
               "input_stage": in_stage}
    return run_stage(tasks, document_shard, executor or get_executor(), on_result, summary)
