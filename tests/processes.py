"""Helpers of the tests that run mixforge in real processes (locks, signals, killed parents)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def env() -> dict[str, str]:
    """The environment for a child process that imports this checkout's mixforge."""
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


def slow_corpus(folder: Path, files: int, lines: int) -> Path:
    """``files`` JSONL files of ``lines`` short records: input that keeps ingest busy."""
    folder.mkdir()
    for f in range(files):
        body = b"".join(b'{"text": "file %d line %d: %s"}\n' % (f, i, b"word " * (i % 40))
                        for i in range(lines))
        (folder / f"part{f:02d}.jsonl").write_bytes(body)
    return folder


def ingest_argv(src: Path, run: Path, workers: int) -> list[str]:
    """``mixforge ingest`` of ``src`` into ``run`` as a child process's argv."""
    return [sys.executable, "-m", "mixforge", "ingest", str(src), "--run-dir", str(run),
            "--workers", str(workers), "--shard-mb", "1", "--domain", "d"]
