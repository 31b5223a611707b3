"""Ingest: sources -> document table shards in ``<run>/ingest/``.

Small files are grouped into shards of about ``shard_mb`` MB so a folder of thousands of
files does not become thousands of tasks; a large file is one shard, streamed in record
batches (memory stays flat whatever the file size: see docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow.parquet as pq

from .config import check_regex, config_hash, opt, to_dict
from .errors import ConfigError
from .executor import Executor, OnResult, get_executor
from .layout import REJECTS
from .readers import ReadOptions, ReadResult, Source, discover, read_batches, rejects_table
from .rundir import ShardTask, StageReport, atomic_path, fingerprint, run_stage
from .schema import DOC_SCHEMA

STAGE = "ingest"
PARQUET_OPTS = {"compression": "zstd", "compression_level": 3}


@dataclass
class IngestConfig:
    """Options of `mixforge ingest` (and the `ingest` section of a pipeline config)."""

    inputs: list[str] = opt([], "Input files, folders or hf:NAME[@CONFIG][:SPLIT] datasets.")
    text_field: str = opt("text", "The field/column that holds the document text.")
    id_field: str | None = opt(None, "Take document ids from this field (default: a hash of "
                               "the source file and line/row, stable across runs).")
    domain: str | None = opt(None, "Put every document in this domain.")
    domain_field: str | None = opt(None, "Take each document's domain from this field.")
    domain_pattern: str | None = opt(None, "Regex over the input's relative path; group 1 is "
                                     "the domain (default: first folder, else the file stem).")
    on_error: Literal["raise", "reject"] = opt(
        "raise", "Bad records: stop with an error naming file and line, or count them and "
        "write them to ingest/rejects/.")
    batch_rows: int = opt(4096, "Documents per record batch (bounds memory).")
    shard_mb: float = opt(64.0, "Group small input files into shards of about this many MB.")

    def validate(self) -> None:
        if self.batch_rows < 1:
            msg = f"batch_rows must be >= 1, got {self.batch_rows}"
            raise ConfigError(msg)
        if self.domain and (self.domain_field or self.domain_pattern):
            msg = "give one of domain, domain_field, domain_pattern"
            raise ConfigError(msg)
        check_regex(self.domain_pattern, "domain_pattern")

    def read_options(self) -> ReadOptions:
        return ReadOptions(self.text_field, self.id_field, self.domain, self.domain_field,
                           self.domain_pattern, self.on_error, self.batch_rows)


def group_sources(sources: list[Source], shard_bytes: float) -> list[list[Source]]:
    """Consecutive sources grouped up to ``shard_bytes``; a large source stands alone."""
    groups: list[list[Source]] = []
    size = 0.0
    for src in sources:
        s = src.size
        if not groups or size + s > shard_bytes or src.kind in ("hf", "hf_disk"):
            groups.append([])
            size = 0.0
        groups[-1].append(src)
        size += s
    return groups


def plan_ingest(cfg: IngestConfig, run_dir: str | Path) -> list[ShardTask]:
    """The ingest shards of a run (validates inputs before any work starts)."""
    if not cfg.inputs:
        msg = "no inputs: give files, folders or hf:NAME datasets to ingest"
        raise ConfigError(msg)
    sources = discover(cfg.inputs)
    stage_dir = str(Path(run_dir) / STAGE)
    key_cfg = config_hash({k: v for k, v in to_dict(cfg).items() if k != "inputs"})
    tasks = []
    for i, group in enumerate(group_sources(sources, cfg.shard_mb * 1e6)):
        paths = tuple(s.path for s in group)
        tasks.append(ShardTask(stage_dir, f"shard-{i:05d}", paths,
                               key=config_hash(key_cfg, [s.rel for s in group],
                                               fingerprint(paths)),
                               params=IngestParams(tuple(group), cfg.read_options())))
    return tasks


@dataclass(frozen=True)
class IngestParams:
    """An ingest task's parameters (`ShardTask.params`): its sources and how to read them."""

    sources: tuple[Source, ...]
    options: ReadOptions


def ingest_shard(task: ShardTask[IngestParams]) -> dict:
    """Read the shard's sources and write its document parquet (and rejects) atomically."""
    group, opts = task.params.sources, task.params.options
    out = task.output(".parquet")
    kept, rejects = 0, []
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, DOC_SCHEMA, **PARQUET_OPTS) as w:
        for src in group:
            result = ReadResult()
            for batch in read_batches(src, opts, result):
                w.write_batch(batch)
            kept += result.kept
            rejects.extend(result.rejects)
    outputs = [out]
    if rejects:
        rej = task.output(".parquet", sub=REJECTS)
        with atomic_path(rej) as tmp:
            pq.write_table(rejects_table(rejects), tmp, **PARQUET_OPTS)
        outputs.append(rej)
    reasons: dict[str, int] = {}
    for r in rejects:
        reasons[f"rejected_{r[1]}"] = reasons.get(f"rejected_{r[1]}", 0) + 1
    counts = {"docs_in": kept + len(rejects), "kept": kept, "rejected": len(rejects),
              "files": len(group), **reasons}
    return {"counts": counts, "outputs": outputs}


def ingest(cfg: IngestConfig, run_dir: str | Path, executor: Executor | None = None,
           on_result: OnResult | None = None) -> StageReport:
    """Ingest ``cfg.inputs`` into ``run_dir/ingest``; resumes shard by shard.

    Examples
    --------
    >>> report = ingest(IngestConfig(inputs=["corpus/"]), "runs/r1")  # doctest: +SKIP
    >>> report.totals["kept"]  # doctest: +SKIP
    """
    tasks = plan_ingest(cfg, run_dir)
    return run_stage(tasks, ingest_shard, executor or get_executor(), on_result,
                     summary={"config": to_dict(cfg)})
