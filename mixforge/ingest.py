"""Ingest: sources -> document table shards in ``<run>/ingest/``.

Small files are grouped into shards of about ``shard_mb`` MB so a folder of thousands of
files does not become thousands of tasks; a large file is one shard, streamed in record
batches (memory stays flat whatever the file size: see docs/benchmarks.md).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import storage
from .config import check_regex, config_hash, opt, to_dict
from .errors import ConfigError
from .executor import Executor, OnResult, get_executor
from .layout import REJECTS
from .readers import (
    CorruptFile,
    ReadOptions,
    ReadResult,
    Reject,
    Source,
    discover,
    read_batches,
    rejects_table,
)
from .rundir import (
    ShardTask,
    StageReport,
    atomic_path,
    fingerprint,
    run_lock,
    run_stage,
    write_json,
)
from .schema import doc_schema

log = logging.getLogger(__name__)

STAGE = "ingest"
PARQUET_OPTS = {"compression": "zstd", "compression_level": 3}


@dataclass
class IngestConfig:
    """Options of `mixforge ingest` (and the `ingest` section of a pipeline config)."""

    inputs: list[str] = opt([], "Input files, folders or hf:NAME[@CONFIG][:SPLIT] datasets.")
    text_field: str = opt("text", "The field/column that holds the document text.")
    id_field: str | None = opt(None, "Keep this field's value as the user_id column (checked "
                               "for repeats); the document id is always a hash of the input "
                               "path and line/row, unique in the run and stable across reruns.")
    domain: str | None = opt(None, "Put every document in this domain.")
    domain_field: str | None = opt(None, "Take each document's domain from this field.")
    domain_pattern: str | None = opt(None, "Regex over the input's relative path; group 1 is "
                                     "the domain (default: first folder, else the file stem).")
    on_error: Literal["raise", "reject"] = opt(
        "raise", "Bad records: stop with an error naming file and line, or count them and "
        "write them to ingest/rejects/.")
    batch_rows: int = opt(4096, "Documents per record batch (bounds memory).")
    shard_mb: float = opt(64.0, "Group small input files into shards of about this many MB.")
    html_extractor: Literal["resiliparse", "trafilatura"] = opt(
        "resiliparse", "HTML to text for WARC files: Resiliparse (fast, DCLM's choice) or "
        "trafilatura (datatrove's default).")

    def validate(self) -> None:
        if self.batch_rows < 1:
            msg = f"batch_rows must be >= 1, got {self.batch_rows}"
            raise ConfigError(msg)
        check_regex(self.domain_pattern, "domain_pattern")
        if self.domain and (self.domain_field or self.domain_pattern):
            msg = "give one of domain, domain_field, domain_pattern"
            raise ConfigError(msg)

    def read_options(self) -> ReadOptions:
        return ReadOptions(self.text_field, self.id_field, self.domain, self.domain_field,
                           self.domain_pattern, self.on_error, self.batch_rows,
                           html_extractor=self.html_extractor)


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
                               key=config_hash(key_cfg, [s.label for s in group],
                                               fingerprint(paths)),
                               params=IngestParams(tuple(group), cfg.read_options())))
    return tasks


class _Restart(Exception):
    """Source ``args[0]`` of the shard is a corrupt file: write the shard again without it."""


def _write_shard(path: Path, group: list[Source], opts: ReadOptions,
                 corrupt: dict[int, Reject]) -> tuple[int, list[Reject], list[str]]:
    kept, rejects, empty = 0, [], []
    with pq.ParquetWriter(path, doc_schema(opts.id_field is not None), **PARQUET_OPTS) as w:
        for i, src in enumerate(group):
            if i in corrupt:
                rejects.append(corrupt[i])
                continue
            result = ReadResult()
            try:
                for batch in read_batches(src, opts, result):
                    w.write_batch(batch)
            except CorruptFile as e:
                if opts.on_error != "reject":
                    raise
                corrupt[i] = e.reject
                raise _Restart(i) from None
            kept += result.kept
            rejects.extend(result.rejects)
            empty.extend(result.empty_files)
    return kept, rejects, empty


@dataclass(frozen=True)
class IngestParams:
    """An ingest task's parameters (`ShardTask.params`): its sources and how to read them."""

    sources: tuple[Source, ...]
    options: ReadOptions


def ingest_shard(task: ShardTask[IngestParams]) -> dict:
    """Read the shard's sources and write its document parquet (and rejects) atomically.

    A corrupt file (with ``on_error="reject"``) is found only while reading it, after
    some of its records went to the shard: the shard is then written again without it
    (the file counts as one ``corrupt_file`` reject), so damaged data is never kept.
    """
    group, opts = list(task.params.sources), task.params.options
    out = task.output(".parquet")
    corrupt: dict[int, Reject] = {}
    with atomic_path(out) as tmp:
        while True:
            try:
                kept, rejects, empty = _write_shard(tmp, group, opts, corrupt)
                break
            except _Restart as e:
                log.warning("%s: corrupt file, none of its records are kept; rewriting %s "
                            "without it", group[e.args[0]].label, task.shard)
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
              "files": len(group), "empty_files": len(empty), **reasons}
    return {"counts": counts, "outputs": outputs, "notes": {"empty_files": empty} if empty else {}}


def check_user_ids(shards: list[Path]) -> dict:
    """Find ``user_id`` values given to more than one document across ``shards``.

    Returns ``{"duplicate_user_ids": n, "examples": [[value, source, source], ...]}``:
    ``n`` documents repeat a user id seen before (nulls, records without the field, are
    not counted). Memory: the ``user_id`` column of the whole run (about its string bytes
    plus 16 bytes a document), then the sources of the repeated values only.
    """
    ids = [pq.read_table(p, columns=["user_id"])["user_id"] for p in shards]
    if not ids:
        return {"duplicate_user_ids": 0, "examples": []}
    col = pa.chunked_array([c for a in ids for c in a.chunks], pa.string()).drop_null()
    counts = pa.table({"u": col}).group_by("u").aggregate([("u", "count")])
    dup = counts.filter(pc.greater(counts["u_count"], 1))
    n = int(pc.sum(dup["u_count"]).as_py() or 0) - dup.num_rows
    examples: list[list[str]] = []
    if n:
        wanted = dup["u"].slice(0, 5).combine_chunks()
        where: dict[str, list[str]] = {}
        for p in shards:
            t = pq.read_table(p, columns=["user_id", "source"])
            t = t.filter(pc.is_in(t["user_id"], value_set=wanted))
            for u, src in zip(t["user_id"].to_pylist(), t["source"].to_pylist(), strict=True):
                where.setdefault(u, []).append(src)
        examples = [[u, *where[u][:2]] for u in sorted(where)]
    return {"duplicate_user_ids": n, "examples": examples}


def ingest(cfg: IngestConfig, run_dir: str | Path, executor: Executor | None = None,
           on_result: OnResult | None = None) -> StageReport:
    """Ingest ``cfg.inputs`` into ``run_dir/ingest``; resumes shard by shard.

    Examples
    --------
    >>> report = ingest(IngestConfig(inputs=["corpus/"]), "runs/r1")  # doctest: +SKIP
    >>> report.totals["kept"]  # doctest: +SKIP
    """
    run_dir = storage.local(run_dir)  # a store URL: checked before any work, mirrored
    tasks = plan_ingest(cfg, run_dir)
    with run_lock(run_dir):  # the stage and its user-id check, as one writer
        return _ingest(cfg, run_dir, tasks, executor, on_result)


def _ingest(cfg: IngestConfig, run_dir: str | Path, tasks: list[ShardTask],
            executor: Executor | None, on_result: OnResult | None) -> StageReport:
    report = run_stage(tasks, ingest_shard, executor or get_executor(), on_result,
                       summary={"config": to_dict(cfg)})
    if cfg.id_field is not None:
        check = check_user_ids([p for p in report.outputs(".parquet")
                                if p.parent == report.stage_dir])
        report.notes["user_ids"] = check
        stage = Path(run_dir) / STAGE / "_stage.json"
        write_json(stage, {**json.loads(stage.read_text()), "user_ids": check})
        if check["duplicate_user_ids"]:
            u, a, b = check["examples"][0]
            log.warning("--id-field %s: %d documents repeat a user id seen before (e.g. %r at "
                        "%s and %s); they are kept, with unique ids of their own, and the "
                        "value stays in column user_id", cfg.id_field,
                        check["duplicate_user_ids"], u, a, b)
    for m in report.markers:
        for name in m.get("notes", {}).get("empty_files", []):
            log.warning("%s: empty file, 0 records", name)
    return report
