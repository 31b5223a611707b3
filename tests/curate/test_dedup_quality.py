"""Fuzzy dedup against brute-force Jaccard on real licence and Debian copyright text."""

from __future__ import annotations

import numpy as np
import polars as pl

from mixforge.curate.dedup import FuzzyConfig, dedup
from mixforge.curate.dedup_quality import all_pairs_jaccard, pair_quality, representative_quality
from mixforge.executor import LocalExecutor


def test_recall_and_precision_against_brute_force(near_dup_run, near_dup_table, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(near_dup_run / "ingest", run / "ingest")
    report = dedup(FuzzyConfig(input_stage="ingest"), run, LocalExecutor(1))
    df = pl.read_parquet(run / "dedup_fuzzy" / "_clusters" / "clusters.parquet")
    cluster = np.arange(near_dup_table.num_rows)
    cluster[df["idx"].to_numpy()] = df["cluster"].to_numpy()
    i, j, jac = all_pairs_jaccard(near_dup_table["text"], min_jaccard=0.5)
    q = pair_quality(cluster, i, j, jac, threshold=0.8)
    # the pinned near-dup corpus (tests/data/near_dup) holds exactly this many pairs at
    # Jaccard >= 0.85 by brute force: a different count means the data or the brute force moved
    assert q["pairs_above_threshold_plus_margin"] == 184
    assert q["recall_above_threshold_plus_margin"] >= 0.95
    assert q["precision"] >= 0.85
    assert q["precision_within_0.1"] >= 0.97
    assert report.stats["duplicates"] == df.filter(~pl.col("kept")).height > 0
    # every removed document has a kept near-duplicate at the threshold, and no pair
    # above threshold + 0.05 is left with both documents kept
    r = representative_quality(df, near_dup_table["text"], 0.8, i, j, jac)
    assert r["removed"] == report.stats["duplicates"]
    assert r["removed_rep_below_threshold"] == 0
    assert r["resolved_recall_above_threshold_plus_margin"] >= 0.95
