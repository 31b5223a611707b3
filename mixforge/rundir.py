"""The run directory: one folder per run, one sub-folder per stage, resumable by shard.

Every shard's outputs are written to a temp file and renamed into place; then a marker
``<stage>/_markers/<shard>.json`` records the row counts, the outputs and a key (a hash
of the stage config and the inputs' fingerprints). A rerun skips shards whose marker key
matches and redoes those whose config or inputs changed; an interrupted shard has no
marker and simply runs again.

One process writes a run directory at a time: `run_lock` holds ``RUN/.mixforge.lock``
(an ``flock`` on it, and the holder's pid, host and command written in it) for as long
as a stage runs; a second process gets `RunDirBusy` naming the holder. The kernel drops
the ``flock`` when its holder dies however it dies, so a lock left by a killed process is
taken over, with a warning naming it.

A run directory may be a store URL (``s3://bucket/run``): `mixforge.storage` mirrors it
locally, each `atomic_path` write is uploaded whole once renamed, and markers (written
last) say a shard is complete on the store as on disk. There is no ``flock`` on an object
store: the lock is an object ``RUN/.mixforge.lock`` holding the same holder info, checked
before it is written and read back after; the rule is one writer per run directory (see
docs/storage.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from . import storage
from .errors import FatalError
from .executor import Executor, OnResult
from .layout import LOCK, MARKERS, STAGE_JSON, marker_path

log = logging.getLogger(__name__)
P = TypeVar("P")


class RunDirBusy(FatalError):
    """Another process is writing the run directory (its lock names it)."""


_held: dict[str, list] = {}  # resolved run dir -> [fd, depth, pid]: re-entrant per process


def _holder(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _busy(run_dir: Path, info: dict[str, Any]) -> RunDirBusy:
    who = (f"pid {info.get('pid', '?')} on {info.get('host', '?')} "
           f"({info.get('command', '?')}, since {info.get('started', '?')})")
    msg = (f"run directory {run_dir} is in use by {who}. Wait for it to finish (reruns "
           "resume), stop it, or use another --run-dir")
    return RunDirBusy(msg)


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike, command: str | None = None) -> Iterator[Path]:
    """Hold the run directory's lock for the block (re-entrant within one process).

    Creates ``run_dir`` if needed, and removes it again if the block left it empty (a
    command that stopped on a config error leaves nothing behind). Raises `RunDirBusy`
    naming the holder (pid, host, command, start time) when another live process holds
    it. A lock file left by a dead process (its ``flock`` gone with it) is taken over with
    a warning.
    """
    run_dir = storage.local(run_dir)
    key = str(run_dir.resolve())
    held = _held.get(key)
    if held and held[2] == os.getpid():
        held[1] += 1
        try:
            yield run_dir / LOCK
        finally:
            held[1] -= 1
        return
    if storage.url_of(run_dir):
        with _store_lock(run_dir, key, command) as path:
            yield path
        return
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _busy(run_dir, _holder(path)) from None
        try:  # the holder before us may have unlinked the file between our open and flock
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    old = _holder(path)
    if old.get("pid") and old.get("pid") != os.getpid():
        # the flock is ours, so its holder is gone (killed, or its machine rebooted)
        log.warning("%s: taking over a stale lock of pid %s on %s (%s), which is no longer "
                    "running; its unfinished shards are redone", run_dir, old.get("pid"),
                    old.get("host"), old.get("command"))
    info = _holder_info(command)
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    _held[key] = [fd, 1, os.getpid()]
    try:
        yield path
    finally:
        _held.pop(key, None)
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                run_dir.rmdir()  # only if the block wrote nothing into it


def _holder_info(command: str | None) -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


@contextlib.contextmanager
def _store_lock(run_dir: Path, key: str, command: str | None) -> Iterator[Path]:
    """The lock of a run directory on an object store: the object ``RUN/.mixforge.lock``.

    No ``flock`` exists there, so: an existing lock object refuses the run (`RunDirBusy`,
    naming the holder), unless its holder is a dead process on this same host (taken over
    with a warning); then ours is written and read back (two starters at once: the one
    whose info is not read back stops). A holder killed on another machine leaves its
    object: the message says to delete it once that process is known to be gone.
    """
    path = run_dir / LOCK
    url = storage.url_of(path)
    assert url is not None
    old = json.loads(storage.read_text(url) or "{}")
    if old:
        if old.get("host") != socket.gethostname() or _alive(old.get("pid")):
            busy = _busy(run_dir, old)
            msg = (f"{busy} (object store lock {url}: if that process is gone, delete the "
                   "object and rerun)")
            raise RunDirBusy(msg)
        log.warning("%s: taking over a stale lock of pid %s on %s (%s), which is no longer "
                    "running; its unfinished shards are redone", url, old.get("pid"),
                    old.get("host"), old.get("command"))
    info = _holder_info(command)
    storage.write_text(url, json.dumps(info) + "\n")
    if json.loads(storage.read_text(url) or "{}") != info:
        raise _busy(run_dir, json.loads(storage.read_text(url) or "{}"))
    _held[key] = [None, 1, os.getpid()]
    try:
        yield path
    finally:
        _held.pop(key, None)
        storage.remove(path)


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it into place only if the block succeeds.

    In a store's mirror (`mixforge.storage`) the file is then uploaded whole, as one object.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
        storage.push(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def fingerprint(inputs: Sequence[str | os.PathLike]) -> str:
    """A cheap hash of input files (path, size, mtime); non-file inputs hash as strings.

    A file mirrored from a store hashes as its URL (`mixforge.storage.display`), with the
    object's size and modification time, so keys agree on every machine."""
    h = hashlib.blake2b(digest_size=8)
    for item in inputs:
        p = Path(item)
        if p.is_file():
            st = p.stat()
            h.update(f"{storage.display(p)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        elif p.is_dir():
            for sub in sorted(q for q in p.rglob("*") if q.is_file()):
                st = sub.stat()
                h.update(f"{storage.display(sub)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
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
    storage.fetch(task.inputs)  # a worker that does not share the driver's disk
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
    if result.get("notes"):
        marker["notes"] = result["notes"]
    write_json(task.marker, marker)
    for stale in set(previous) - set(marker["outputs"]):  # e.g. a rejects file now empty
        _unlink_output(Path(task.stage_dir), stale)
    return marker


def _unlink_output(stage_dir: Path, rel: str) -> None:
    """Delete a shard output a marker lists, only if it lies inside ``stage_dir`` (a
    hand-edited or foreign marker must not reach anything else)."""
    path = Path(os.path.abspath(stage_dir / rel))
    if Path(os.path.abspath(stage_dir)) not in path.parents:
        log.warning("%s: marker lists %s, outside the stage folder; not deleted",
                    stage_dir, rel)
        return
    path.unlink(missing_ok=True)
    storage.remove(path)


@dataclass
class StageReport:
    """What a stage did: per-shard markers, which shards ran and which were skipped."""

    stage_dir: Path
    markers: list[dict] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)  # stage-wide checks (e.g. user ids)

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
    with run_lock(run_dir_of(stage_dir)):
        return _run_stage(stage_dir, tasks, fn, executor, on_result, summary)


def run_dir_of(stage_dir: str | os.PathLike) -> Path:
    """The run directory of a stage folder: ``RUN/STAGE`` -> ``RUN``; a stage's private
    sub-folder (``RUN/dedup_exact/_map``, names starting with ``_``) -> ``RUN`` too."""
    stage_dir = Path(stage_dir)
    while stage_dir.name.startswith("_") and stage_dir.parent != stage_dir:
        stage_dir = stage_dir.parent
    return stage_dir.parent


def _run_stage(stage_dir: Path, tasks: Sequence[ShardTask], fn: Callable[[ShardTask], dict],
               executor: Executor, on_result: OnResult | None,
               summary: dict | None) -> StageReport:
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
    storage.pull(stage_dir)  # what workers on other machines wrote (no-op on local disk)
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
            _unlink_output(stage_dir, out)
        path.unlink()
        storage.remove(path)
        log.info("%s: removed stale shard %s", stage_dir.name, path.stem)
