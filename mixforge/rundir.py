"""The run directory: one folder per run, one sub-folder per stage, resumable by shard.

Every shard's outputs are written to a temp file and renamed into place; then a marker
``<stage>/_markers/<shard>.json`` records the row counts, the outputs and a key (a hash
of the stage config and the inputs' fingerprints). A rerun skips shards whose marker key
matches and redoes those whose config or inputs changed; an interrupted shard has no
marker and simply runs again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from .executor import Executor, OnResult
from .layout import MARKERS, STAGE_JSON, marker_path

log = logging.getLogger(__name__)
P = TypeVar("P")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def fingerprint(inputs: Sequence[str | os.PathLike]) -> str:
    """A cheap hash of input files (path, size, mtime); non-file inputs hash as strings."""
    h = hashlib.blake2b(digest_size=8)
    for item in inputs:
        p = Path(item)
        if p.is_file():
            st = p.stat()
            h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        elif p.is_dir():
            for sub in sorted(q for q in p.rglob("*") if q.is_file()):
                st = sub.stat()
                h.update(f"{sub.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        else:
            h.update(f"{item}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class ShardTask(Generic[P]):
    """One unit of a stage's work: a shard name, its inputs, where it writes, and its key.

    ``params`` is the stage's own small frozen dataclass (e.g. `documents.DocParams`,
    `ingest.IngestParams`): what the worker needs besides the inputs, never in the key.
    """

    stage_dir: str
    shard: str
    inputs: tuple[str, ...]
    key: str
    params: P | None = None

    @property
    def marker(self) -> Path:
        return marker_path(self.stage_dir, self.shard)

    def output(self, suffix: str, sub: str = "") -> Path:
        """The path of this shard's output with ``suffix`` (in sub-folder ``sub``)."""
        return Path(self.stage_dir) / sub / f"{self.shard}{suffix}"


def read_marker(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def is_done(task: ShardTask) -> bool:
    marker = read_marker(task.marker)
    return bool(marker and marker.get("key") == task.key
                and all((Path(task.stage_dir) / o).exists() for o in marker.get("outputs", [])))


def _run_and_mark(job: tuple[Callable[[ShardTask], dict], ShardTask]) -> dict:
    fn, task = job
    start = time.perf_counter()
    previous = (read_marker(task.marker) or {}).get("outputs", [])
    result = fn(task)
    marker = {
        "shard": task.shard,
        "key": task.key,
        "inputs": list(task.inputs),
        "counts": result.get("counts", {}),
        "outputs": [os.path.relpath(o, task.stage_dir) for o in result.get("outputs", [])],
        "seconds": round(time.perf_counter() - start, 3),
    }
    write_json(task.marker, marker)
    for stale in set(previous) - set(marker["outputs"]):  # e.g. a rejects file now empty
        (Path(task.stage_dir) / stale).unlink(missing_ok=True)
    return marker


@dataclass
class StageReport:
    """What a stage did: per-shard markers, which shards ran and which were skipped."""

    stage_dir: Path
    markers: list[dict] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.markers:
            for k, v in m["counts"].items():
                if isinstance(v, int | float):
                    out[k] = out.get(k, 0) + v
        return out

    def outputs(self, suffix: str = "") -> list[Path]:
        return [self.stage_dir / o for m in self.markers for o in m.get("outputs", [])
                if o.endswith(suffix)]


def run_stage(tasks: Sequence[ShardTask], fn: Callable[[ShardTask], dict],
              executor: Executor, on_result: OnResult | None = None,
              summary: dict | None = None) -> StageReport:
    """Run ``fn`` over the shards that are not done yet; return every shard's marker.

    ``fn(task)`` writes its outputs atomically and returns ``{"counts": {...},
    "outputs": [paths]}``. Shards left over from an earlier run with other inputs (their
    names are not among ``tasks``) are removed, so the stage folder always matches the run.
    """
    if not tasks:
        return StageReport(Path("."))
    stage_dir = Path(tasks[0].stage_dir)
    _remove_stale(stage_dir, {t.shard for t in tasks})
    todo = [t for t in tasks if not is_done(t)]
    done = {t.shard for t in tasks} - {t.shard for t in todo}
    if done:
        log.info("%s: %d of %d shards already done, skipping them",
                 stage_dir.name, len(done), len(tasks))
        if on_result:
            for t in tasks:
                if t.shard in done:
                    on_result(-1, None)
    executor.map(_run_and_mark, [(fn, t) for t in todo], on_result)
    _remove_temp(stage_dir)  # a retried task (its worker killed) leaves its temp file
    report = StageReport(stage_dir, ran=[t.shard for t in todo],
                         skipped=sorted(done))
    report.markers = [read_marker(t.marker) or {} for t in tasks]
    write_json(stage_dir / STAGE_JSON, {
        "shards": len(tasks), "ran": len(todo), "skipped": len(done),
        "totals": report.totals, **(summary or {}),
    })
    return report


def _remove_temp(stage_dir: Path) -> None:
    for tmp in stage_dir.rglob(".*.tmp-*"):
        tmp.unlink(missing_ok=True)


def _remove_stale(stage_dir: Path, keep: set[str]) -> None:
    """Drop temp files of killed runs and shards that are no longer part of the stage."""
    _remove_temp(stage_dir)
    for path in sorted((stage_dir / MARKERS).glob("*.json")):
        if path.stem in keep:
            continue
        marker = read_marker(path) or {}
        for out in marker.get("outputs", []):
            (stage_dir / out).unlink(missing_ok=True)
        path.unlink()
        log.info("%s: removed stale shard %s", stage_dir.name, path.stem)
