"""Regressors chosen by cross-validation, bounded predictions, trivial predictors, and the
proposal's warnings (seed noise, probe count, budget), on planted laws with known answers."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mixforge.mixers.propose import fit_report, propose_mix, recommended_probes, seed_noise
from mixforge.mixers.regression import (
    REGRESSORS,
    MixingLaw,
    assess_fit,
    fit_bounded,
    trivial_features,
)

DOMAINS = ["a", "b", "c"]
TOKENS = {"a": 1_000_000, "b": 1_000_000, "c": 1_000_000}


def table(w: np.ndarray, y: np.ndarray, **extra) -> pl.DataFrame:
    return pl.DataFrame({**{f"w:{d}": w[:, i] for i, d in enumerate(DOMAINS)},
                         **{f"bpb:{d}": y[:, i] for i, d in enumerate(DOMAINS)}, **extra})


def test_predictions_stay_physically_possible():
    """newcomer-1 "impossible predictions": a steep decline in the probes made the mixing
    law extrapolate below 0 bpb at the corner; bounded, it cannot leave the probes' range
    by more than the documented 10% margin, and never reaches 0."""
    rng = np.random.default_rng(0)
    w = rng.dirichlet([1, 4, 4], 40)
    w = w[w[:, 0] < 0.5]
    y = np.stack([1.0 - 1.9 * w[:, 0], 2 - 0.1 * w[:, 1], 2 - 0.1 * w[:, 2]], axis=1)
    corner = np.array([[1.0, 0.0, 0.0]])
    assert MixingLaw().fit(w, y).predict(corner)[0, 0] < 0  # the fault, unbounded
    lo, hi = y.min(0), y.max(0)
    margin_lo = lo - 0.1 * np.minimum(hi - lo, lo)
    test = np.vstack([corner, rng.dirichlet(np.ones(3) * 0.2, 300)])
    for name in REGRESSORS:
        pred = fit_bounded(name, w, y).predict(test)
        assert np.all(pred > 0), name
        assert np.all(pred >= margin_lo - 1e-12) and np.all(pred <= hi + 0.1 * (hi - lo))


def test_trivial_features_are_right():
    w = np.array([[1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0]])
    f = trivial_features(w, natural=np.array([0.5, 0.25, 0.25]))
    assert f["mix entropy"][:, 0] == pytest.approx([np.log(3), 0.0])
    assert f["distance to uniform"][:, 0] == pytest.approx([0.0, np.sqrt(2 / 3)])
    assert f["distance to natural"][1, 0] == pytest.approx(np.sqrt(0.25 + 2 * 0.0625))


def test_cv_picks_the_regressor_that_fits_the_planted_law():
    rng = np.random.default_rng(1)
    w = rng.dirichlet(np.ones(3), 60)
    natural = np.full(3, 1 / 3)
    obj = np.full(3, 1 / 3)
    # a smooth log-linear law: the mixing law wins
    t = np.array([[-1.2, -0.3, -0.2], [-0.2, -1.5, -0.1], [-0.1, -0.4, -0.9]])
    smooth = 1.0 + np.exp(0.5 + w @ t.T) + rng.normal(0, 0.002, (60, 3))
    rep = assess_fit(w, smooth, natural, obj)
    assert rep.best == "mixing_law" and rep.beats_trivial and not rep.warnings()
    assert rep.row("mixing_law")["chosen"]
    # a step: each domain's loss drops once its own weight passes 0.4 -> the trees win
    step = 2.0 - 0.5 * (w > 0.4) + rng.normal(0, 0.002, (60, 3))
    rep = assess_fit(w, step, natural, obj)
    assert rep.best == "gbm"
    assert set(rep.table["predictor"]) >= {"trivial: distance to uniform",
                                           "trivial: mix entropy",
                                           "trivial: distance to natural",
                                           "trivial: own-domain weight"}


def test_a_fit_that_loses_to_a_trivial_predictor_is_flagged():
    """The loss depends only on how far the mix is from uniform: the entropy predictor
    knows that exactly; no regressor can beat it, and the report says so."""
    rng = np.random.default_rng(2)
    w = rng.dirichlet(np.ones(3), 40)
    ent = -(w * np.log(w)).sum(1)
    y = np.repeat((3.0 - ent)[:, None], 3, axis=1)
    rep = assess_fit(w, y, np.full(3, 1 / 3), np.full(3, 1 / 3))
    assert not rep.beats_trivial
    assert rep.best_trivial in ("trivial: mix entropy", "trivial: distance to uniform")
    assert "does not beat a trivial predictor" in rep.warnings()[0]
    res = table(w, y)
    _, fit = propose_mix(res, TOKENS, budget=3_000_000)
    assert any("trivial" in m for m in fit["warnings"])


def test_fit_report_scores_the_target_not_the_mean():
    """`--target` must show the target's own CV: here domain a is a clean law and b, c
    are noise, so the target's Spearman is far above the all-domain mean."""
    rng = np.random.default_rng(3)
    w = rng.dirichlet(np.ones(3), 40)
    y = np.stack([2.0 - w[:, 0], rng.normal(2, 0.1, 40), rng.normal(2, 0.1, 40)], axis=1)
    rep = fit_report(table(w, y), TOKENS, target="a")
    lin = rep.row("linear")
    assert lin["spearman_obj"] > 0.99 and lin["spearman"] < 0.7
    _, fit = propose_mix(table(w, y), TOKENS, budget=3_000_000, target="a")
    assert fit["cv"]["spearman"] == rep.row(fit["regressor"])["spearman_obj"] > 0.99
    assert fit["cv"]["spearman_all_domains"] < 0.7


def test_seed_noise_and_its_warning():
    rng = np.random.default_rng(4)
    base = rng.dirichlet(np.ones(3), 15)
    w = np.repeat(base, 2, axis=0)  # every mix probed with two seeds
    noise = rng.normal(0, 0.05, (30, 1))
    y = 2.0 - 0.01 * w + noise  # a tiny effect, buried in seed noise
    sigma, n = seed_noise(w, y.mean(1))
    assert n == 15
    diffs = noise[0::2, 0] - noise[1::2, 0]
    assert sigma == pytest.approx(np.sqrt((diffs ** 2 / 2).sum() / 15))
    _, fit = propose_mix(table(w, y), TOKENS, budget=3_000_000)
    assert fit["seed_noise_bpb"] == pytest.approx(sigma)
    assert any("below the seed noise" in m for m in fit["warnings"])
    assert seed_noise(base, base[:, 0]) == (None, 0)


def test_probe_count_budget_and_provenance():
    rng = np.random.default_rng(5)
    w = rng.dirichlet(np.ones(3), 8)
    y = 2.0 - w
    assert recommended_probes(3) == 20 and recommended_probes(12) == 56
    info = {"sweep": "x/probes", "probe_params": 78_000, "probe_tokens": 60_000,
            "sweep_budget": 5_000_000}
    mix, fit = propose_mix(table(w, y), TOKENS, budget=3_000_000, sweep=info)
    text = " ".join(fit["warnings"])
    assert "20 recommended" in text and "budget of 5,000,000" in text
    prov = mix.provenance
    assert prov["sweep"] == "x/probes" and prov["probe_params"] == 78_000
    # the proposal never leaves the region the probes covered
    got = np.array([mix.weights[d] for d in DOMAINS])
    assert np.all(got <= w.max(0) + 1e-6)
    assert set(prov["domains_at_bound"]) <= set(DOMAINS)
    for d, why in prov["domains_at_bound"].items():
        assert mix.weights[d] == pytest.approx(w[:, DOMAINS.index(d)].max(), abs=1e-5)
        assert why == "largest probe weight"


def test_pipeline_regmix_uses_the_sweeps_budget_and_names_it(token_store, tmp_path):
    import json
    import os

    from mixforge.mixers.mix import Mix
    from mixforge.pipeline import MixSection, run_mix
    from mixforge.tokenize.store import TokenStore

    run = tmp_path / "run"
    (run / "probes").mkdir(parents=True)
    os.symlink(token_store, run / "tokenize")
    domains = TokenStore(token_store).domains
    rng = np.random.default_rng(6)
    w = rng.dirichlet(np.ones(len(domains)), 12)
    y = 2.0 - 0.5 * w + rng.normal(0, 0.01, w.shape)
    pl.DataFrame({**{f"w:{d}": w[:, i] for i, d in enumerate(domains)},
                  **{f"bpb:{d}": y[:, i] for i, d in enumerate(domains)},
                  "params": [35_840] * 12}).write_parquet(run / "probes" / "results.parquet")
    (run / "probes" / "sweep.json").write_text(json.dumps(
        {"config": {"final_budget": 50_000, "probe": {"depth": 1},
                    "train": {"tokens": 1280}}}))
    mix = Mix.load(run_mix(MixSection(strategy="regmix"), run))
    assert mix.budget_tokens == 50_000
    prov = mix.provenance
    assert prov["sweep"] == str(run / "probes") and prov["probe_params"] == 35_840
    assert prov["selected_by"] == "cv" and prov["regressor"] in REGRESSORS
