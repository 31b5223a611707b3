"""map_documents: counts conserved, rejects written, resume follows upstream changes."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from mixforge.documents import DocResult, map_documents
from mixforge.executor import LocalExecutor


def drop_long(table: pa.Table, cfg: dict) -> DocResult:
    keep = pc.less_equal(pc.binary_length(table["text"]), cfg["max_bytes"])
    rejected = table.filter(pc.invert(keep))
    rejected = rejected.append_column(
        "reason", pa.array(["too_long"] * rejected.num_rows, pa.string()))
    return DocResult(table.filter(keep), rejected, {"dropped_too_long": rejected.num_rows})


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


def scored_drop_long(table: pa.Table, cfg: dict) -> DocResult:
    res = drop_long(table, cfg)
    scores = pa.table({"id": table["id"], "nbytes": pc.binary_length(table["text"])})
    return DocResult(res.kept, res.rejected, res.counts, {"scores": scores})


def test_side_tables_and_samples_are_written_by_the_mapper(tmp_path, ingested_run,
                                                           ingested_table):
    run = tmp_path / "run"
    shutil.copytree(ingested_run, run)
    report = map_documents(run, "ingest", "short", scored_drop_long, {"max_bytes": 2000},
                           LocalExecutor(1), batch_rows=500, samples_per_reason=2)
    scores = pq.read_table(run / "short" / "scores")
    assert scores.num_rows == ingested_table.num_rows == report.totals["docs_in"]
    shards = [m["shard"] for m in report.markers if m["counts"]["rejected"]]
    for shard in shards:  # the first 2 rejects per domain of each shard, whatever its batches
        rej = pq.read_table(run / "short" / "rejects" / f"{shard}.parquet")
        sample = pq.read_table(run / "short" / "samples" / f"{shard}.parquet")
        seen: dict[str, int] = {}
        first = []
        for i, d in zip(rej["id"].to_pylist(), rej["domain"].to_pylist(), strict=True):
            seen[d] = seen.get(d, 0) + 1
            if seen[d] <= 2:
                first.append(i)
        assert sample["id"].to_pylist() == first and len(set(rej["domain"].to_pylist())) > 1
    assert not list((run / "short").rglob(".*.tmp-*"))


def test_one_rule_picks_the_document_stage_each_stage_reads(tmp_path):
    from mixforge.curate.dedup import ExactConfig, FuzzyConfig, resolve_input
    from mixforge.curate.filter_stage import resolve_input_stage
    from mixforge.documents import input_stage, upstream_document_stages
    from mixforge.errors import ConfigError

    assert upstream_document_stages("dedup_exact") == ("ingest",)
    assert upstream_document_stages("filter") == ("dedup_fuzzy", "dedup_exact", "ingest")
    assert upstream_document_stages("tokenize") == ("filter", "dedup_fuzzy", "dedup_exact",
                                                    "ingest")
    with pytest.raises(ConfigError, match="none of"):
        input_stage(tmp_path, "filter")
    (tmp_path / "ingest/_markers").mkdir(parents=True)
    assert resolve_input(tmp_path, FuzzyConfig()).input_stage == "ingest"
    assert resolve_input_stage(tmp_path) == "ingest"
    (tmp_path / "dedup_exact/_markers").mkdir(parents=True)
    (tmp_path / "filter/_markers").mkdir(parents=True)
    assert resolve_input(tmp_path, ExactConfig()).input_stage == "ingest"
    assert resolve_input(tmp_path, FuzzyConfig()).input_stage == "dedup_exact"
    assert resolve_input_stage(tmp_path) == "dedup_exact"  # never its own output
    assert input_stage(tmp_path, "tokenize") == "filter"
    assert input_stage(tmp_path, "tokenizer") == "filter"
    for stage in ("dedup_exact", "dedup_fuzzy", "filter", "tokenize"):
        with pytest.raises(ConfigError, match="'dedup_fuzzy' has not run"):
            input_stage(tmp_path, stage, "dedup_fuzzy")


def test_shard_tasks_carry_typed_params(ingested_run):
    from mixforge.curate.filter_stage import plan_filter
    from mixforge.curate.filters import FilterConfig
    from mixforge.documents import DocParams
    from mixforge.ingest import IngestConfig, IngestParams, plan_ingest

    _, tasks = plan_filter(FilterConfig(batch_rows=100, sample_per_reason=3), ingested_run)
    assert all(isinstance(t.params, DocParams) for t in tasks)
    assert (tasks[0].params.batch_rows, tasks[0].params.samples_per_reason) == (100, 3)
    src = [str(p) for p in (ingested_run / "ingest").glob("*.parquet")][:1]
    assert isinstance(plan_ingest(IngestConfig(inputs=src), ingested_run)[0].params,
                      IngestParams)


def test_a_stage_older_than_its_upstream_is_named(tmp_path, corpus_dir, caplog):
    """Ingest rerun on other inputs after dedup: the stage filter would read (dedup_exact)
    holds the old documents, and picking it says so; a rerun that redoes nothing does not."""
    import logging
    import shutil
    import time

    from mixforge.curate.dedup import ExactConfig, dedup
    from mixforge.documents import input_stage
    from mixforge.executor import LocalExecutor
    from mixforge.ingest import IngestConfig, ingest

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(corpus_dir / "licenses.jsonl.zst", src)
    run = tmp_path / "run"
    ingest(IngestConfig(inputs=[str(src)]), run, LocalExecutor(1))
    dedup(ExactConfig(), run, LocalExecutor(1))
    time.sleep(0.05)
    ingest(IngestConfig(inputs=[str(src)]), run, LocalExecutor(1))  # nothing redone
    with caplog.at_level(logging.WARNING, logger="mixforge.documents"):
        assert input_stage(run, "filter") == "dedup_exact"
    assert "finished after" not in caplog.text
    shutil.copy(corpus_dir / "fortunes.jsonl.zst", src)
    time.sleep(0.05)
    ingest(IngestConfig(inputs=[str(src)]), run, LocalExecutor(1))  # new documents
    with caplog.at_level(logging.WARNING, logger="mixforge.documents"):
        assert input_stage(run, "filter") == "dedup_exact"
    assert "ingest finished after dedup_exact" in caplog.text
