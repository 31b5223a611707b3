"""Probe scales and `probe transfer`: rank agreement of the same mixes at two scales, with
a bootstrap interval and a verdict; planted cases where the rankings agree and where they
do not."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from mixforge.cli import main
from mixforge.errors import ConfigError
from mixforge.mixers.mix import Mix
from mixforge.tokenize.store import TokenStore
from mixforge.train_probe.model import ProbeConfig
from mixforge.train_probe.sweep import SweepConfig, run_sweep
from mixforge.train_probe.train import TrainConfig
from mixforge.train_probe.transfer import (
    mix_objective,
    parse_scales,
    rank_transfer,
    transfer_report,
)


def _scores(values) -> dict[tuple, float]:
    return {(("w:a", i / 100),): float(v) for i, v in enumerate(values)}


def test_rank_transfer_agreeing_rankings_are_trusted():
    rng = np.random.default_rng(0)
    small = np.linspace(2.0, 3.0, 30)
    large = 0.5 * small + 1.0 + rng.normal(0, 0.002, 30)  # the same order, another scale
    t = rank_transfer(_scores(small), _scores(large), n_boot=500)
    assert t.spearman == pytest.approx(stats.spearmanr(small, large).statistic)
    assert t.spearman > 0.99 and t.ci_low >= 0.89 and t.ci_low <= t.spearman <= t.ci_high
    assert t.top_k == 7 and t.top_k_agreement == 1.0
    assert t.verdict.startswith("trustworthy")
    assert "0.89" in t.line() and "Olmix" in t.line()


def test_rank_transfer_shuffled_rankings_are_not_trusted():
    rng = np.random.default_rng(1)
    small = np.linspace(2.0, 3.0, 30)
    large = rng.permutation(small)  # the same values, ranks unrelated
    t = rank_transfer(_scores(small), _scores(large), n_boot=500, seed=3)
    assert t.spearman == pytest.approx(stats.spearmanr(small, large).statistic)
    assert abs(t.spearman) < 0.4 and t.ci_high < 0.89 and t.ci_low < 0 < t.ci_high + 0.3
    assert t.verdict.startswith("NOT trustworthy")
    # the same seed gives the same interval; another seed nearly the same
    again = rank_transfer(_scores(small), _scores(large), n_boot=500, seed=3)
    assert (again.ci_low, again.ci_high) == (t.ci_low, t.ci_high)
    # few mixes: a wide interval across the threshold -> uncertain
    few = rank_transfer(_scores(small[:6]), _scores(small[:6] + np.array([0, 0, 0.4, 0, 0, 0])),
                        n_boot=500)
    assert few.verdict.startswith("uncertain")
    with pytest.raises(ConfigError, match="at least 4"):
        rank_transfer(_scores(small[:3]), _scores(small[:3]))


def test_parse_scales():
    s = parse_scales(["small:depth=1,tokens=60k", "big:depth=2,tokens=1.5M,lr=3e-3"])
    assert [x.name for x in s] == ["small", "big"]
    assert s[1].probe == {"depth": 2} and s[1].train == {"tokens": 1_500_000, "lr": 0.003}
    for bad in (["depth=1"], ["a:width=3"], ["a:depth=x"], ["a:depth=1", "a:depth=2"]):
        with pytest.raises(ConfigError):
            parse_scales(bad)


def _cfg(store, out, seed, mixes) -> SweepConfig:
    return SweepConfig(store=str(store.path), out=str(out), mixes=[str(mixes)], k=8,
                       seed=seed, heldout_tokens=2048, probe=ProbeConfig(depth=1, seq_len=32),
                       train=TrainConfig(tokens=8_000, batch_size=8, lr=1e-2, evals=1,
                                         eval_tokens=1024, device="cpu"))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_same_scale_two_seeds_agree_on_a_planted_corpus(tmp_path, planted_store):
    """Strongly separated mixes (share of the learnable domain 0.05 .. 0.95), trained
    twice with other probe seeds and another held-out split: the rankings on the
    learnable domain agree; shuffling one side's scores breaks the agreement."""
    store = TokenStore(planted_store(tmp_path / "store", ("count", "noise"), docs=80))
    mixes = tmp_path / "mixes"
    mixes.mkdir()
    for i, c in enumerate(np.linspace(0.05, 0.95, 8)):
        Mix({"count": float(c), "noise": float(1 - c)}).save(mixes / f"m{i}.yaml")
    a = run_sweep(_cfg(store, tmp_path / "a", 1, mixes), tmp_path).results
    b = run_sweep(_cfg(store, tmp_path / "b", 2, mixes), tmp_path).results
    assert a["seed"].to_list() != b["seed"].to_list()
    table, (t,) = transfer_report([tmp_path / "a", tmp_path / "b"], "bpb:count",
                                  n_boot=500)
    assert t.n_mixes == 8 and t.spearman >= 0.9 and t.top_k_agreement == 1.0
    assert table["mixes"].to_list() == [8, 8] and table["sweep"].to_list() == ["a", "b"]
    assert not t.verdict.startswith("NOT")
    sa, sb = mix_objective(a, "bpb:count"), mix_objective(b, "bpb:count")
    keys = sorted(sb)
    shuffled = dict(zip(keys, np.random.default_rng(5).permutation([sb[k] for k in keys]),
                        strict=True))
    bad = rank_transfer(sa, shuffled, n_boot=500)
    assert bad.spearman < t.spearman - 0.5 and not bad.verdict.startswith("trustworthy")

    res = CliRunner().invoke(main, ["probe", "transfer", str(tmp_path / "a"),
                                    str(tmp_path / "b"), "--metric", "bpb:count"])
    assert res.exit_code == 0, res.output
    assert "Spearman" in res.output and "95% CI" in res.output and "Olmix" in res.output


def test_scales_sweep_the_same_mixes_at_each_scale(token_store, tmp_path):
    tiny = ["--aspect", "16", "--head-dim", "16", "--seq-len", "32", "--batch-size", "4",
            "--evals", "1", "--eval-tokens", "256", "--device", "cpu"]
    res = CliRunner().invoke(main, ["probe", "sweep", "-r", str(tmp_path), "--store",
                                    str(token_store), "--n-probes", "5", "--k", "5",
                                    "--scales", "s:depth=1,tokens=512",
                                    "--scales", "m:depth=2,tokens=1024", *tiny])
    assert res.exit_code == 0, res.output
    import polars as pl

    s = pl.read_parquet(tmp_path / "probes" / "scale-s" / "results.parquet")
    m = pl.read_parquet(tmp_path / "probes" / "scale-m" / "results.parquet")
    wcols = [c for c in s.columns if c.startswith("w:")]
    assert s.select(wcols).equals(m.select(wcols)) and s["seed"].equals(m["seed"])
    assert m["params"][0] > s["params"][0] and m["tokens"][0] > s["tokens"][0]
    assert "s vs m: Spearman" in res.output
    again = CliRunner().invoke(main, ["probe", "transfer", str(tmp_path / "probes")])
    assert again.exit_code == 0 and "s vs m: Spearman" in again.output
    bad = CliRunner().invoke(main, ["probe", "sweep", "-r", str(tmp_path), "--store",
                                    str(token_store), "--scales", "s:depth=1", *tiny])
    assert bad.exit_code == 2 and "at least two scales" in bad.output


def test_run_sweep_refuses_scales(token_store, tmp_path):
    """A pipeline's probe section with scales must not silently sweep one scale."""
    cfg = SweepConfig(store=str(token_store), out=str(tmp_path / "p"),
                      scales=["a:depth=1", "b:depth=2"])
    with pytest.raises(ConfigError, match="run_scaled_sweep"):
        run_sweep(cfg, tmp_path)
