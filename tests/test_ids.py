"""Document ids: unique within a run by construction, stable across reruns, a user's id
kept as ``user_id`` and checked for repeats. Cases: newcomer-1/id_collision, hunt-1/r_ids,
hunt-1/r_ref. Rules: docs/ingest.md."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pyarrow.parquet as pq

from mixforge.curate.dedup import ExactConfig, dedup
from mixforge.executor import LocalExecutor
from mixforge.ingest import IngestConfig, ingest

CASES = Path(__file__).parent / "cases"


def _docs(run: Path, stage: str = "ingest"):
    files = sorted((run / stage).glob("shard-*.parquet"))
    return pq.ParquetDataset(files).read() if files else None


def test_same_relative_path_under_two_roots_gives_distinct_ids(tmp_path):
    case = CASES / "newcomer-1" / "id_collision"
    run = tmp_path / "run"
    ingest(IngestConfig(inputs=[str(case / "x"), str(case / "y")]), run, LocalExecutor(1))
    docs = _docs(run)
    assert docs.num_rows == 4 and len(set(docs["id"].to_pylist())) == 4
    assert sorted(docs["source"].to_pylist()) == [
        f"{case}/x/data.jsonl:1", f"{case}/x/data.jsonl:2",
        f"{case}/y/data.jsonl:1", f"{case}/y/data.jsonl:2"]
    report = dedup(ExactConfig(input_stage="ingest"), run, LocalExecutor(1))
    kept = _docs(run, "dedup_exact")
    assert report.stats["kept"] == 3 == kept.num_rows  # one copy of the shared text goes
    assert sorted(kept["text"].to_pylist()) == [
        "the very same text in both dumps", "x only", "y only"]


def test_ids_are_stable_across_reruns_and_runs(tmp_path):
    case = CASES / "newcomer-1" / "id_collision"
    cfg = IngestConfig(inputs=[str(case / "x"), str(case / "y")])
    ingest(cfg, tmp_path / "a", LocalExecutor(1))
    ingest(cfg, tmp_path / "b", LocalExecutor(1))
    assert _docs(tmp_path / "a")["id"].to_pylist() == _docs(tmp_path / "b")["id"].to_pylist()
    a = (tmp_path / "a/ingest/shard-00000.parquet").read_bytes()
    assert a == (tmp_path / "b/ingest/shard-00000.parquet").read_bytes()


def test_user_ids_are_metadata_and_repeats_are_counted_and_named(tmp_path, caplog):
    case = CASES / "hunt-1" / "r_ids"
    run = tmp_path / "ids"
    with caplog.at_level(logging.WARNING):
        report = ingest(IngestConfig(inputs=[str(case)], id_field="id"), run, LocalExecutor(1))
    docs = _docs(run)
    rows = {s: u for s, u in zip(docs["source"].to_pylist(), docs["user_id"].to_pylist(),
                                 strict=True)}
    assert rows == {f"{case}/x.jsonl:1": "1", f"{case}/x.jsonl:2": "2",
                    f"{case}/y.jsonl:1": "2", f"{case}/y.jsonl:2": "3"}
    assert len(set(docs["id"].to_pylist())) == 4
    check = report.notes["user_ids"]
    assert check["duplicate_user_ids"] == 1
    assert check["examples"] == [["2", f"{case}/x.jsonl:2", f"{case}/y.jsonl:1"]]
    stage = json.loads((run / "ingest/_stage.json").read_text())
    assert stage["user_ids"]["duplicate_user_ids"] == 1
    assert f"{case}/x.jsonl:2 and {case}/y.jsonl:1" in caplog.text
    # dedup never removes a document that has no duplicate: x:1 and y:2 share a text
    dedup(ExactConfig(input_stage="ingest"), run, LocalExecutor(1))
    kept = _docs(run, "dedup_exact")
    assert kept.num_rows == 3
    assert sorted(kept["text"].to_pylist()) == [
        "a different document that only source x has", "something only y has",
        "the shared paragraph that appears in both sources verbatim"]


def test_two_snapshots_with_the_same_layout_never_share_ids(tmp_path):
    """hunt-1/r_ref: the ingest side. Each snapshot's ids are unique and disjoint from the
    other's, so a reference dedup has nothing to confuse (its own guard: dedup's tests)."""
    case = CASES / "hunt-1" / "r_ref"
    for snap in ("snapA", "snapB"):
        ingest(IngestConfig(inputs=[str(case / snap)]), tmp_path / snap, LocalExecutor(1))
    a, b = _docs(tmp_path / "snapA"), _docs(tmp_path / "snapB")
    assert not set(a["id"].to_pylist()) & set(b["id"].to_pylist())
    assert set(a["domain"].to_pylist()) == set(b["domain"].to_pylist()) == {"crawl"}
