"""map_documents: counts conserved, rejects written, resume follows upstream changes."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mixforge.executor import LocalExecutor
from mixforge.stage import Step, map_documents


def drop_long(table: pa.Table, cfg: dict) -> Step:
    keep = pc.less_equal(pc.binary_length(table["text"]), cfg["max_bytes"])
    rejected = table.filter(pc.invert(keep))
    rejected = rejected.append_column(
        "reason", pa.array(["too_long"] * rejected.num_rows, pa.string()))
    return Step(table.filter(keep), rejected, {"dropped_too_long": rejected.num_rows})


def test_map_documents_conserves_counts_and_resumes(tmp_path, ingested_run, ingested_table):
    run = tmp_path / "run"
    shutil.copytree(ingested_run, run)
    cfg = {"max_bytes": 2000}
    report = map_documents(run, "ingest", "short", drop_long, cfg, LocalExecutor(1))
    t = report.totals
    expected_drop = pc.sum(pc.greater(pc.binary_length(ingested_table["text"]), 2000)).as_py()
    assert t["docs_in"] == ingested_table.num_rows == t["kept"] + t["rejected"]
    assert t["rejected"] == t["dropped_too_long"] == expected_drop > 0
    rejected = pq.read_table(run / "short" / "rejects")
    assert set(rejected["reason"].to_pylist()) == {"too_long"}
    assert rejected.num_rows == expected_drop
    again = map_documents(run, "ingest", "short", drop_long, cfg, LocalExecutor(1))
    assert again.ran == [] and again.totals == t
    # an upstream shard redone (new key) redoes the downstream shard too
    marker = run / "ingest/_markers/shard-00000.json"
    marker.write_text(marker.read_text().replace('"key": "', '"key": "x'))
    third = map_documents(run, "ingest", "short", drop_long, cfg, LocalExecutor(1))
    assert third.ran == ["shard-00000"]
    fourth = map_documents(run, "ingest", "short", drop_long, {"max_bytes": 10**9},
                           LocalExecutor(1))
    assert fourth.totals["rejected"] == 0 and len(fourth.ran) == len(report.markers)
    assert not (run / "short/rejects/shard-00000.parquet").exists()
