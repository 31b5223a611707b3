"""Map a pure document function over the shards of a previous stage.

A curate step is ``fn(table, cfg) -> Step`` over a `pa.Table` of documents: it returns
the kept documents, the rejected ones (with a ``reason`` column) and counts. This module
does the I/O around it: one task per input shard, record batches streamed through, kept
documents to ``<run>/<stage>/<shard>.parquet``, rejects to ``<run>/<stage>/rejects/``,
markers and resume from `rundir`. In every shard, docs in = kept + rejected.
"""

from __future__ import annotations

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
from .rundir import ShardTask, StageReport, atomic_path, read_marker, run_stage
from .stats import stage_files


@dataclass
class Step:
    """What a document function returns for one table."""

    kept: pa.Table
    rejected: pa.Table | None = None  # rejected documents plus a 'reason' column
    counts: dict[str, int] = field(default_factory=dict)


DocFn = Callable[[pa.Table, Any], Step]


def input_key(stage_dir: Path, shard: str) -> str:
    """The marker key of an upstream shard (changes when that shard was redone)."""
    return (read_marker(stage_dir / "_markers" / f"{shard}.json") or {}).get("key", "")


def plan_documents(run_dir: str | Path, in_stage: str, out_stage: str, fn: DocFn,
                   cfg: Any, extra: Any = None) -> list[ShardTask]:
    """One task per finished shard of ``in_stage``; the key covers cfg and upstream keys."""
    in_dir = Path(run_dir) / in_stage
    cfg_key = config_hash(to_dict(cfg) if hasattr(cfg, "__dataclass_fields__") else cfg,
                          fn.__module__, fn.__qualname__)
    tasks = []
    for path in stage_files(in_dir):
        shard = path.name[: -len(".parquet")]
        key = config_hash(cfg_key, input_key(in_dir, shard), extra)
        tasks.append(ShardTask(str(Path(run_dir) / out_stage), shard, (str(path),), key,
                               params=(fn, cfg, extra)))
    return tasks


def document_shard(task: ShardTask, batch_rows: int = 8192) -> dict:
    """Stream one input shard through ``fn``; write kept and rejected documents."""
    fn, cfg, _ = task.params
    src = pq.ParquetFile(task.inputs[0])
    out, rej_path = task.output(".parquet"), task.output(".parquet", sub="rejects")
    counts: dict[str, int] = {"docs_in": 0, "kept": 0, "rejected": 0}
    rejected: list[pa.Table] = []
    writer = None
    with atomic_path(out) as tmp:
        for batch in src.iter_batches(batch_size=batch_rows):
            table = pa.Table.from_batches([batch])
            step = fn(table, cfg)
            if writer is None:
                writer = pq.ParquetWriter(tmp, step.kept.schema, **PARQUET_OPTS)
            writer.write_table(step.kept)
            counts["docs_in"] += table.num_rows
            counts["kept"] += step.kept.num_rows
            if step.rejected is not None and step.rejected.num_rows:
                counts["rejected"] += step.rejected.num_rows
                rejected.append(step.rejected)
            for k, v in step.counts.items():
                counts[k] = counts.get(k, 0) + int(v)
        if writer is None:  # an empty input shard still yields a (valid, empty) output
            empty = fn(src.schema_arrow.empty_table(), cfg).kept
            writer = pq.ParquetWriter(tmp, empty.schema, **PARQUET_OPTS)
        writer.close()
    outputs = [out]
    if rejected:
        with atomic_path(rej_path) as tmp:
            pq.write_table(pa.concat_tables(rejected, promote_options="default"), tmp,
                           **PARQUET_OPTS)
        outputs.append(rej_path)
    if counts["docs_in"] != counts["kept"] + counts["rejected"]:
        msg = f"{task.shard}: {counts} does not add up (docs_in != kept + rejected)"
        raise AssertionError(msg)
    return {"counts": counts, "outputs": outputs}


def map_documents(run_dir: str | Path, in_stage: str, out_stage: str, fn: DocFn, cfg: Any,
                  executor: Executor | None = None, on_result: OnResult | None = None,
                  extra: Any = None) -> StageReport:
    """Run ``fn`` over every shard of ``in_stage`` into ``out_stage``; resumable.

    ``extra`` is handed to tasks and hashed into their keys (e.g. the path and key of a
    global step's result, such as the set of duplicate ids to drop).
    """
    tasks = plan_documents(run_dir, in_stage, out_stage, fn, cfg, extra)
    summary = {"config": to_dict(cfg) if hasattr(cfg, "__dataclass_fields__") else cfg,
               "input_stage": in_stage}
    return run_stage(tasks, document_shard, executor or get_executor(), on_result, summary)


DOCUMENT_STAGES = ("filter", "dedup_fuzzy", "dedup_exact", "ingest")  # latest first


def latest_document_stage(run_dir: str | Path, requested: str | None = None,
                          candidates: tuple[str, ...] = DOCUMENT_STAGES) -> str:
    """``requested`` if given, else the first of ``candidates`` (latest first) the run has
    finished: what a stage reads when the user does not say."""
    run_dir = Path(run_dir)
    if requested:
        if not (run_dir / requested / "_markers").is_dir():
            msg = (f"stage {requested!r} has not run in {run_dir}; run it first or choose "
                   f"one of {list(candidates)}")
            raise ConfigError(msg)
        return requested
    for name in candidates:
        if (run_dir / name / "_markers").is_dir():
            return name
    msg = f"{run_dir}: none of {list(candidates)} has run; run `mixforge ingest` first"
    raise ConfigError(msg)
