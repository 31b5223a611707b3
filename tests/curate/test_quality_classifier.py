"""The target-vs-pool quality classifier on the pinned real corpus: a target written in one
domain's style must rank that domain's held-out documents highest."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow.compute as pc
import pytest

from mixforge.curate.quality import (
    QualityClassifier,
    QualityConfig,
    roc_auc,
    train_quality_classifier,
)
from mixforge.errors import ConfigError


def _halves(table):
    """Per domain, documents split in two by a hash of their id (train, held-out)."""
    h = np.array([hashlib.blake2b(i.encode(), digest_size=4).digest()[0] % 2
                  for i in table["id"].to_pylist()])
    return table.filter(pc.equal(h, 0)), table.filter(pc.equal(h, 1))


@pytest.fixture(scope="module")
def split(ingested_table):
    return _halves(ingested_table)


@pytest.mark.parametrize("target_domain", ["python_docs", "fortunes"])
def test_a_domains_style_ranks_its_held_out_documents_first(split, target_domain, tmp_path):
    train, held = split
    target = train.filter(pc.equal(train["domain"], target_domain))["text"]
    clf = train_quality_classifier(target, train["text"], QualityConfig(seed=3))
    scores = clf.score(held["text"])
    is_t = np.array(held["domain"].to_pylist()) == target_domain
    assert roc_auc(scores[is_t], scores[~is_t]) > 0.95
    means = {d: scores[np.array(held["domain"].to_pylist()) == d].mean()
             for d in set(held["domain"].to_pylist())}
    assert max(means, key=means.get) == target_domain
    again = train_quality_classifier(target, train["text"], QualityConfig(seed=3))
    assert np.array_equal(again.score(held["text"]), scores)  # seeded: same scores
    loaded = QualityClassifier.load(clf.save(tmp_path / "q.npz"))
    assert np.allclose(loaded.score(held["text"]), scores)


def test_roc_auc_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1, 1, 40).round(1), rng.normal(0, 1, 60).round(1)
    pairs = [(p > n) + 0.5 * (p == n) for p in pos for n in neg]
    assert roc_auc(pos, neg) == pytest.approx(np.mean(pairs))


def test_empty_sides_are_a_config_error():
    with pytest.raises(ConfigError, match="target and pool"):
        train_quality_classifier([], ["a pool document"])


def test_filter_stage_scores_toward_a_target_and_keeps_its_top_fraction(run_copy, corpus_dir):
    """`filter --quality-target DOCS --quality-keep F`: every document gets a quality score;
    the kept documents are the target-like ones; a rerun reuses the model and the shards."""
    import polars as pl
    from click.testing import CliRunner

    from mixforge.cli import main
    from mixforge.stats import stage_files

    target = corpus_dir / "python_docs.jsonl.zst"
    args = ["filter", "-r", str(run_copy), "--workers", "1", "--policy", "*=none",
            "--disable", "language", "--quality-target", str(target), "--quality-keep", "0.1"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    scores = pl.read_parquet(run_copy / "filter" / "scores" / "*.parquet")
    inp = pl.read_parquet(run_copy / "ingest" / "*.parquet", columns=["id", "domain"])
    assert scores.height == inp.height and scores["quality"].null_count() == 0
    # the kept documents, as a user globs them: the stage folder's parquet files are its shards
    kept = pl.read_parquet(run_copy / "filter" / "*.parquet", columns=["domain"])
    assert kept.height == sum(pl.read_parquet(f).height for f in stage_files(run_copy / "filter"))
    share_in = (inp["domain"] == "python_docs").mean()
    assert (kept["domain"] == "python_docs").mean() > max(0.8, 3 * share_in)
    assert 0.05 * inp.height < kept.height < 0.2 * inp.height
    rej = pl.read_parquet(run_copy / "filter" / "rejects" / "*.parquet", columns=["reason"])
    assert set(rej["reason"].to_list()) == {"quality_below_target"}
    models = list((run_copy / "filter" / "_quality").glob("*.npz"))
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and list((run_copy / "filter" / "_quality").glob("*.npz")) == models


def test_one_notion_of_target_for_the_filter_and_the_probes(tmp_path):
    """The filter's quality target takes the probes' data-target form, and in a pipeline
    file a NAME of its targets: section (the same evaluation set for both)."""
    from mixforge.curate.quality import target_path
    from mixforge.pipeline import load_pipeline

    assert target_path("eval=data/eval.jsonl") == "data/eval.jsonl"
    assert target_path("data/eval.jsonl") == "data/eval.jsonl"
    cfg = tmp_path / "p.yaml"
    cfg.write_text("run_dir: run\ningest: {inputs: [corpus/]}\ntargets: {web: eval/web.jsonl}\n"
                   "filter: {quality: {target: [web], keep_fraction: 0.5}}\n"
                   "tokenize: {}\nprobe: {n_probes: 2}\n")
    loaded = load_pipeline(cfg)
    want = f"web={tmp_path / 'eval' / 'web.jsonl'}"
    assert loaded.filter.quality.target == [want]
    assert want in loaded.probe.targets
