"""The exact and fuzzy dedup stages end to end: planted duplicates, rejects, keep rules,
reference sets, resume and determinism, the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from mixforge.cli import main
from mixforge.curate.dedup import ExactConfig, FuzzyConfig, dedup
from mixforge.errors import ConfigError
from mixforge.executor import LocalExecutor
from mixforge.stats import stage_files

ONE = LocalExecutor(1)


def write_stage(run: Path, stage: str, tables: list[pa.Table]) -> None:
    """A finished document stage made by hand (markers as run_stage writes them)."""
    (run / stage / "_markers").mkdir(parents=True)
    for k, t in enumerate(tables):
        name = f"shard-{k:05d}"
        pq.write_table(t, run / stage / f"{name}.parquet")
        (run / stage / "_markers" / f"{name}.json").write_text(json.dumps(
            {"shard": name, "key": f"k{k}", "outputs": [f"{name}.parquet"], "counts": {}}))


def docs(texts: list[str], prefix: str = "d", **extra) -> pa.Table:
    n = len(texts)
    return pa.table({"id": [f"{prefix}{i:03d}" for i in range(n)], "text": texts,
                     "domain": ["x"] * n, "source": [f"planted:{i}" for i in range(n)],
                     **extra})


def read_stage(run: Path, stage: str) -> pa.Table:
    return pa.concat_tables(pq.read_table(f) for f in stage_files(run / stage))


def rejects(run: Path, stage: str) -> pl.DataFrame:
    files = sorted((run / stage / "rejects").glob("*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()


BASE = ("the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat "
        "and birds sing in the tall green trees near the quiet river bank at dawn").split()


def variant(k: int, edits: int) -> str:
    w = list(BASE)
    for e in range(edits):
        w[(7 * e + k) % len(w)] = f"edit{k}x{e}"
    return " ".join(w)


def test_exact_dedup_planted(tmp_path):
    texts = ["Hello,  World!", "hello world", "HELLO WORLD.", "something else entirely",
             "ﬁne print", "fine print", "unique one"]
    write_stage(tmp_path, "ingest", [docs(texts[:4]), docs(texts[4:], prefix="e")])
    report = dedup(ExactConfig(), tmp_path, ONE)
    kept = read_stage(tmp_path, "dedup_exact")
    assert sorted(kept["id"].to_pylist()) == ["d000", "d003", "e000", "e002"]
    rej = rejects(tmp_path, "dedup_exact")
    assert set(rej["reason"]) == {"duplicate"}
    assert dict(zip(rej["id"], rej["dup_kept_id"], strict=True)) == {
        "d001": "d000", "d002": "d000", "e001": "e000"}
    assert report.stats["docs_in"] == 7 == kept.num_rows + rej.height
    assert report.stats["clusters"] == 2
    assert "metadata" not in kept.schema.names and kept.schema.names[:4] == [
        "id", "text", "domain", "source"]
    assert json.loads((tmp_path / "dedup_exact" / "_dedup.json").read_text())["duplicates"] == 3


def test_exact_normalization_switches(tmp_path):
    write_stage(tmp_path, "ingest", [docs(["Hello world", "hello world", "hello  world"])])
    dedup(ExactConfig(lowercase=False, whitespace=False), tmp_path, ONE)
    assert read_stage(tmp_path, "dedup_exact").num_rows == 3


@pytest.mark.parametrize("keep,want", [("first", "d000"), ("longest", "d002"),
                                       ("score", "d001")])
def test_keep_rules(tmp_path, keep, want):
    texts = [variant(0, 0), variant(0, 0) + " extra", variant(0, 0) + " extra words"]
    write_stage(tmp_path, "ingest", [docs(texts, score=[0.1, 0.9, 0.5])])
    cfg = FuzzyConfig(input_stage="ingest", keep=keep, threshold=0.7,
                      score_column="score" if keep == "score" else None)
    dedup(cfg, tmp_path, ONE)
    assert read_stage(tmp_path, "dedup_fuzzy")["id"].to_pylist() == [want]


def test_fuzzy_finds_planted_near_duplicates(tmp_path):
    """Jaccard of 5-shingles falls ~5 shingles per edited word: 1 edit on 33 words keeps
    ~0.72-0.85, 8 edits far below. Brute force decides which pairs must cluster."""
    texts = [variant(k, e) for k, e in [(0, 0), (1, 1), (2, 1), (3, 8), (4, 12)]]
    texts += [" ".join(reversed(BASE)), "completely different words here " * 5]
    write_stage(tmp_path, "ingest", [docs(texts[:3]), docs(texts[3:], prefix="e")])
    report = dedup(FuzzyConfig(threshold=0.6), tmp_path, ONE)
    cl = pl.read_parquet(tmp_path / "dedup_fuzzy" / "_clusters" / "clusters.parquet")
    assert set(cl["id"]) == {"d000", "d001", "d002"}
    assert cl.filter("kept")["id"].to_list() == ["d000"]
    assert report.stats["input_stage"] == "ingest"  # no dedup_exact in this run
    rej = rejects(tmp_path, "dedup_fuzzy")
    assert sorted(rej["id"]) == ["d001", "d002"] and set(rej["dup_kept_id"]) == {"d000"}
    assert rej["dup_cluster"].n_unique() == 1
    assert report.stats["verified_pairs"] <= report.stats["candidate_pairs"]


def test_reference_set_removes_from_input(tmp_path):
    ref = tmp_path / "ref.parquet"
    pq.write_table(pa.table({"id": ["r0", "r1"], "text": [variant(0, 0), "unrelated " * 20]}),
                   ref)
    write_stage(tmp_path, "ingest", [docs([variant(5, 1), variant(6, 1), "other text " * 9])])
    dedup(FuzzyConfig(input_stage="ingest", threshold=0.6, reference=str(ref)), tmp_path, ONE)
    assert read_stage(tmp_path, "dedup_fuzzy")["id"].to_pylist() == ["d002"]
    rej = rejects(tmp_path, "dedup_fuzzy")
    assert set(rej["dup_kept_id"]) == {"r0"} and rej.height == 2
    dedup(ExactConfig(reference=str(ref)), tmp_path, ONE)  # nothing exact: all kept
    assert read_stage(tmp_path, "dedup_exact").num_rows == 3


def _digest(stage_dir: Path) -> dict[str, str]:
    return {str(p.relative_to(stage_dir)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(stage_dir.rglob("*.parquet"))}


def test_real_corpus_resume_and_determinism(run_copy, tmp_path):
    r1 = dedup(ExactConfig(), run_copy, ONE)
    r2 = dedup(FuzzyConfig(), run_copy, ONE)
    t = r1.stats
    assert t["docs_in"] == t["kept"] + t["rejected"] and t["duplicates"] > 0  # changelog dups
    assert r2.stats["docs_in"] == t["kept"] == r2.stats["kept"] + r2.stats["rejected"]
    first = _digest(run_copy / "dedup_fuzzy")
    again = dedup(FuzzyConfig(), run_copy, ONE)
    assert again.stage.ran == [] and again.stats["duplicates"] == r2.stats["duplicates"]
    assert _digest(run_copy / "dedup_fuzzy") == first
    # the same input from scratch writes byte-identical files
    import shutil

    shutil.rmtree(run_copy / "dedup_fuzzy")
    dedup(FuzzyConfig(), run_copy, ONE)
    assert _digest(run_copy / "dedup_fuzzy") == first
    # a changed threshold redoes the work
    r3 = dedup(FuzzyConfig(threshold=0.6), run_copy, ONE)
    assert r3.stage.ran and r3.stats["duplicates"] >= r2.stats["duplicates"]


@pytest.mark.slow
def test_two_workers_write_the_same_bytes(run_copy, tmp_path):
    import shutil

    dedup(ExactConfig(), run_copy, ONE)
    dedup(FuzzyConfig(), run_copy, ONE)
    other = tmp_path / "other"
    shutil.copytree(run_copy / "ingest", other / "ingest")
    dedup(ExactConfig(), other, LocalExecutor(2))
    dedup(FuzzyConfig(), other, LocalExecutor(2))
    assert _digest(other / "dedup_fuzzy") == _digest(run_copy / "dedup_fuzzy")


def test_errors(tmp_path):
    write_stage(tmp_path, "ingest", [docs(["a b c"])])
    with pytest.raises(ConfigError, match="score_column"):
        dedup(ExactConfig(keep="score"), tmp_path, ONE)
    with pytest.raises(ConfigError, match="no finished stage"):
        dedup(ExactConfig(input_stage="nope"), tmp_path, ONE)
    with pytest.raises(ConfigError, match="bands and rows"):
        dedup(FuzzyConfig(bands=4), tmp_path, ONE)
    with pytest.raises(ConfigError, match="no column 'q'"):
        dedup(ExactConfig(keep="score", score_column="q"), tmp_path, ONE)
    (tmp_path / "r").mkdir()
    with pytest.raises(ConfigError, match="no parquet"):
        dedup(ExactConfig(reference=str(tmp_path / "r")), tmp_path, ONE)


def test_cli(run_copy):
    runner = CliRunner()
    res = runner.invoke(main, ["dedup", "exact", "-r", str(run_copy), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "duplicates removed" in res.output and "TOTAL" in res.output
    res = runner.invoke(main, ["dedup", "fuzzy", "-r", str(run_copy), "--dry-run",
                               "--threshold", "0.9"])
    assert res.exit_code == 0 and "bands=8" in res.output and "rows=16" in res.output
    assert not (run_copy / "dedup_fuzzy").exists()
    res = runner.invoke(main, ["dedup", "fuzzy", "-r", str(run_copy), "--bands", "3"])
    assert res.exit_code == 2 and "bands and rows" in res.output
    stats = json.loads((run_copy / "dedup_exact" / "_dedup.json").read_text())
    assert stats["kept"] + stats["rejected"] == stats["docs_in"]
    assert np.isfinite(stats["peak_rss_mb_main"])


def test_empty_texts_empty_shards_and_null_scores(tmp_path):
    full = docs(["", "", "   ", "a b c d e f", "A b c d e f!"],
                score=[None, 1.0, 2.0, None, 3.0])
    write_stage(tmp_path, "ingest", [full.slice(0, 0), full])
    r = dedup(ExactConfig(keep="score", score_column="score"), tmp_path, ONE)
    # texts that normalize to nothing compare by raw bytes: "" twice is a duplicate,
    # "   " is not; a null score ranks last
    assert read_stage(tmp_path, "dedup_exact")["id"].to_pylist() == ["d001", "d002", "d004"]
    assert r.stats["duplicates"] == 2
    # fuzzy: texts without words get no band rows, so they never cluster
    r = dedup(FuzzyConfig(input_stage="ingest", output_stage="fz"), tmp_path, ONE)
    assert rejects(tmp_path, "fz")["id"].to_list() == ["d004"]  # keep=first keeps d003
    assert r.stats["docs_without_shingles"] == 3
