"""Fixtures of the curate tests: a near-duplicate-rich real corpus and writable run copies."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mixforge.executor import LocalExecutor
from mixforge.ingest import IngestConfig, ingest
from mixforge.stats import stage_files
from tests.pinned import pinned_copy


@pytest.fixture(scope="session")
def near_dup_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Licence texts and Debian copyright files (~8 MB, full of near-duplicates), ingested.

    Pinned bytes (tests/data/near_dup, checked against SHA256SUMS), so the pair counts
    the quality test asserts on are the same on every machine.
    """
    corpus = pinned_copy("near_dup", tmp_path_factory.mktemp("neardup_corpus"))
    run = tmp_path_factory.mktemp("neardup_run")
    ingest(IngestConfig(inputs=[str(corpus)], shard_mb=0.3), run, LocalExecutor(1))
    return run


@pytest.fixture(scope="session")
def near_dup_table(near_dup_run: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(f) for f in stage_files(near_dup_run / "ingest"))


@pytest.fixture
def run_copy(ingested_run: Path, tmp_path: Path) -> Path:
    """A writable copy of the shared ingested run (ingest stage only)."""
    dst = tmp_path / "run"
    shutil.copytree(ingested_run / "ingest", dst / "ingest")
    return dst
