"""The `filter` stage over a real ingested run: outputs, counts, resume, dry run, CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from mixforge.cli import main
from mixforge.config import from_dict
from mixforge.curate.filter_stage import (
    dry_run,
    filter_table,
    resolve_input_stage,
    run_filter,
)
from mixforge.curate.filters import FilterConfig, drop_reasons
from mixforge.curate.langid import LanguageIdentifier
from mixforge.errors import ConfigError
from mixforge.executor import LocalExecutor
from mixforge.layout import DROPPED_SAMPLES
from mixforge.stats import stage_files

from .filters_sample import stratified


@pytest.fixture
def run(tmp_path: Path, ingested_table) -> Path:
    """A small run directory (two ingest shards of real documents), writable."""
    from mixforge.rundir import write_json

    sample = stratified(ingested_table, 50)
    for i, part in enumerate((sample.slice(0, 200), sample.slice(200))):
        shard = f"shard-{i:05d}"
        out = tmp_path / "ingest" / f"{shard}.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, out)
        write_json(tmp_path / "ingest" / "_markers" / f"{shard}.json",
                   {"shard": shard, "key": f"k{i}", "counts": {"kept": part.num_rows},
                    "outputs": [f"{shard}.parquet"]})
    return tmp_path


def _read(files) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")


def test_stage_writes_kept_scores_rejects_and_samples(run):
    cfg = FilterConfig(sample_per_reason=3)
    report = run_filter(cfg, run, LocalExecutor(1))
    t = report.totals
    docs = _read(stage_files(run / "ingest"))
    assert t["docs_in"] == docs.height == t["kept"] + t["rejected"]
    assert sum(v for k, v in t.items() if k.startswith("dropped_")) == t["rejected"]
    # each group alone drops at least what it is the first reason for, and at most all drops
    for group, prefix in (("gopher_quality", "dropped_gopher_"), ("c4", "dropped_c4_"),
                          ("fineweb", "dropped_fineweb_")):
        first = sum(v for k, v in t.items() if k.startswith(prefix)
                    and not k.startswith("dropped_gopher_rep_"))
        assert first <= t[f"flagged_{group}"] <= t["rejected"]
    kept = _read(stage_files(run / "filter"))
    rejects = _read(sorted((run / "filter" / "rejects").glob("*.parquet")))
    scores = _read(sorted((run / "filter" / "scores").glob("*.parquet")))
    assert kept.height == t["kept"] and rejects.height == t["rejected"]
    # every document has one score row keyed by id; kept and rejected partition the input
    assert sorted(scores["id"]) == sorted(docs["id"])
    assert sorted(kept["id"].to_list() + rejects["id"].to_list()) == sorted(docs["id"])
    assert kept.columns == docs.columns  # kept documents carry their columns untouched
    # the rejects hold the reason and the scores that decided it
    assert rejects["reason"].null_count() == 0
    row = rejects.row(0, named=True)
    assert row["scores"]["n_chars"] == len(row["text"])
    # thresholds over the sidecar alone give the same decisions
    again = drop_reasons(scores, cfg)
    assert sorted(scores.filter(again.is_null())["id"]) == sorted(kept["id"])
    samples = pl.read_parquet(run / "filter" / DROPPED_SAMPLES)
    per = samples.group_by("domain", "reason").len()
    assert per["len"].max() <= 3
    assert set(per.select("domain", "reason").rows()) == set(
        rejects.select("domain", "reason").unique().rows())
    assert samples.height == sum(min(n, 3) for n in
                                 rejects.group_by("domain", "reason").len()["len"])
    # language columns come from the language-ID model
    assert scores["language"].null_count() < scores.height
    assert scores["language_score"].is_between(0, 1).all()


def test_stage_resumes_and_redoes_on_threshold_change(run):
    cfg = FilterConfig()
    first = run_filter(cfg, run, LocalExecutor(1))
    assert len(first.ran) == 2
    again = run_filter(cfg, run, LocalExecutor(1))
    assert again.ran == [] and again.totals == first.totals
    looser = from_dict(FilterConfig, {"gopher_quality": {"min_doc_words": 5},
                                      "language": {"enabled": False}})
    third = run_filter(looser, run, LocalExecutor(1))
    assert len(third.ran) == 2 and third.totals["kept"] > first.totals["kept"]
    assert "dropped_language" not in third.totals


def test_dry_run_counts_without_writing(run):
    cfg = FilterConfig()
    counts = dry_run(cfg, run, LocalExecutor(1))
    assert not (run / "filter").exists()
    real = run_filter(cfg, run, LocalExecutor(1)).totals
    assert counts == {k: v for k, v in real.items()}


def test_input_stage_is_the_latest_document_stage(run):
    assert resolve_input_stage(run) == "ingest"
    shutil.copytree(run / "ingest", run / "dedup_exact")
    assert resolve_input_stage(run) == "dedup_exact"
    with pytest.raises(ConfigError, match="has not run"):
        resolve_input_stage(run, "dedup_fuzzy")


def test_planted_documents_get_the_published_reasons():
    good = ("The river rose slowly through the night, and by morning the lower fields were "
            "under water.\nFarmers moved their animals to the hill before the roads closed.\n"
            "Nobody in the village could remember a flood of that size in living memory.\n"
            "The school stayed shut for a week while volunteers cleared mud from the halls.\n"
            "When the water finally went down, the old bridge was still standing, which "
            "surprised the engineers who had inspected it.\nLife returned to normal within a "
            "month, although the stories about that spring are still told today.")
    docs = {
        "good": good,
        "short": "Too short to keep.",
        "hashes": "#tag " * 60 + good,
        "repeated": "\n".join(["the same line of text that repeats here."] * 30),
        "curly": good + "\nThis line has a { brace in it and ends well.",
        "lorem": good + "\nLorem ipsum dolor sit amet, consectetur.",
        "french": ("Le renard brun rapide saute par-dessus le chien paresseux, et c'est "
                   "toute l'histoire de la journée. ") * 6,
    }
    table = pa.table({"id": list(docs), "text": list(docs.values()),
                      "domain": ["d"] * len(docs), "source": ["s"] * len(docs)})
    res = filter_table(table, FilterConfig())
    reasons = dict(zip(res.rejected["id"].to_pylist(), res.rejected["reason"].to_pylist(),
                       strict=True))
    assert res.kept["id"].to_pylist() == ["good"]
    assert reasons == {"short": "gopher_short_doc", "hashes": "gopher_too_many_hashes",
                       "repeated": "gopher_rep_dup_line_frac", "curly": "c4_curly_bracket",
                       "lorem": "c4_lorem_ipsum", "french": "language"}
    assert res.counts["dropped_language"] == 1


def test_language_identifier_is_offline_and_labels_real_languages():
    lid = LanguageIdentifier(max_chars=200)
    assert lid.classify("This is an English sentence about the weather today.")[0] == "en"
    assert lid.classify("Dies ist ein deutscher Satz über das Wetter heute.")[0] == "de"
    lang, score = lid.classify_column(pa.array(["Ceci est une phrase en français.", ""]))
    assert lang.to_pylist() == ["fr", None] and 0 < score[0].as_py() <= 1
    with pytest.raises(ConfigError):
        LanguageIdentifier(max_chars=0)


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"gopher_repetition\.top_n_grams"):
        from_dict(FilterConfig, {"gopher_repetition": {"top_n_grams": {"7": 0.1}}})
    with pytest.raises(ConfigError, match="unknown key 'min_words'"):
        from_dict(FilterConfig, {"gopher_quality": {"min_words": 3}})


def test_cli_dry_run_and_run(run, tmp_path):
    cfg = tmp_path / "filters.yaml"
    cfg.write_text("filter:\n  c4:\n    enabled: false\n  sample_per_reason: 2\n")
    runner = CliRunner()
    res = runner.invoke(main, ["filter", "-r", str(run), "--workers", "1", "--dry-run",
                               "--config", str(cfg), "--disable", "language"])
    assert res.exit_code == 0, res.output
    assert "would keep" in res.output and "c4_" not in res.output
    assert not (run / "filter").exists()
    res = runner.invoke(main, ["filter", "-r", str(run), "--workers", "1", "--language", "en"])
    assert res.exit_code == 0, res.output
    assert "kept" in res.output and (run / "filter" / DROPPED_SAMPLES).exists()
    bad = runner.invoke(main, ["filter", "-r", str(tmp_path / "nowhere"), "--dry-run"])
    assert bad.exit_code == 2 and "run `mixforge ingest` first" in bad.output
