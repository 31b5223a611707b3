"""`probe fit` and `mix propose` on a sweep written with --out (--probes PATH), the fit
line of a --target run, the warnings, and the mix's provenance."""

from __future__ import annotations

import os

from click.testing import CliRunner

from mixforge.cli import main
from mixforge.mixers.mix import Mix
from mixforge.tokenize.store import TokenStore

TINY = ["--depth", "1", "--aspect", "16", "--head-dim", "16", "--seq-len", "32",
        "--tokens", "1280", "--batch-size", "4", "--evals", "1", "--eval-tokens", "512",
        "--device", "cpu"]


def test_fit_and_propose_read_a_sweep_written_elsewhere(token_store, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    os.symlink(token_store, run / "tokenize")
    sweep = tmp_path / "elsewhere"
    res = CliRunner().invoke(main, ["probe", "sweep", "-r", str(run), "--out", str(sweep),
                                    "--n-probes", "8", "--k", "8", "--budget", "20000",
                                    *TINY])
    assert res.exit_code == 0, res.output
    assert not (run / "probes").exists()

    missing = CliRunner().invoke(main, ["probe", "fit", "-r", str(run)])
    assert missing.exit_code != 0 and "--probes" in missing.output

    fit = CliRunner().invoke(main, ["probe", "fit", "-r", str(run), "--probes", str(sweep)])
    assert fit.exit_code == 0, fit.output
    assert "mix entropy" in fit.output and "uniform" in fit.output  # the trivial predictors
    assert "chosen:" in fit.output

    domain = TokenStore(token_store).domains[0]
    out = tmp_path / "m.yaml"
    prop = CliRunner().invoke(main, ["mix", "propose", "-r", str(run), "--probes",
                                     str(sweep / "results.parquet"), "--target", domain,
                                     "-o", str(out)])
    assert prop.exit_code == 0, prop.output
    assert f"fit (5-fold CV on held-out probes, {domain})" in prop.output
    assert "budget 20,000 tokens" in prop.output  # the sweep's budget, not every token
    assert "warning:" in prop.output and "recommended" in prop.output
    mix = Mix.load(out)
    prov = mix.provenance
    assert prov["sweep"] == str(sweep) and prov["probe_tokens"] == 1280
    assert prov["probe_params"] > 0 and prov["sweep_budget"] == 20000
    assert "domains_at_bound" in prov and mix.budget_tokens == 20000
    cv = prov["cv"]
    row = next(r for r in prov["cv_table"] if r["predictor"] == prov["regressor"])
    assert cv["spearman"] == row["spearman_obj"]  # the target's CV, not the all-domain one
