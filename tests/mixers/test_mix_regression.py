"""Mix sampling, regressors and the proposal on planted mixing laws with known optima."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mixforge.errors import ConfigError
from mixforge.mixers.propose import propose_mix
from mixforge.mixers.regression import Linear, MixingLaw, cross_validate
from mixforge.mixers.sampling import sample_mixes, token_prior

TOKENS = {"code": 4_000_000, "docs": 1_000_000, "web": 9_000_000}


def planted_losses(w: np.ndarray, rng=None) -> np.ndarray:
    """A known log-linear law: each domain learns most from itself, a little from others."""
    t = np.array([[-1.2, -0.3, -0.2], [-0.2, -1.5, -0.1], [-0.1, -0.4, -0.9]])
    y = 1.0 + np.exp(0.5 + w @ t.T)
    if rng is not None:
        y += rng.normal(0, 0.002, y.shape)
    return y


def test_sampling_respects_caps_prior_and_uniqueness():
    mixes = sample_mixes(TOKENS, 64, budget=20_000_000, epoch_cap=4.0, seed=1)
    prior = token_prior(TOKENS)
    assert mixes[0] == pytest.approx(prior)
    w = np.array([[m[d] for d in sorted(TOKENS)] for m in mixes])
    assert np.allclose(w.sum(1), 1) and len({tuple(np.round(r, 3)) for r in w}) == 64
    cap = 4.0 * np.array([TOKENS[d] for d in sorted(TOKENS)]) / 20_000_000
    assert np.all(w <= cap + 1e-9)
    assert np.all((w == 0) | (w >= 0.01))
    assert sample_mixes(TOKENS, 64, 20_000_000, 4.0, seed=1) == mixes
    with pytest.raises(ConfigError, match="within the epoch cap"):
        sample_mixes(TOKENS, 10, budget=10**12, epoch_cap=1.0, max_tries=200)


def test_mixing_law_recovers_the_planted_law_and_beats_linear():
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(3), 60)
    y = planted_losses(w, rng)
    law = cross_validate(MixingLaw, w, y)
    lin = cross_validate(Linear, w, y)
    assert law["spearman"] > 0.95 and law["mae"] < lin["mae"]
    test = rng.dirichlet(np.ones(3), 200)
    assert np.abs(MixingLaw().fit(w, y).predict(test) - planted_losses(test)).max() < 0.02


def test_proposal_finds_the_planted_optimum():
    mixes = sample_mixes(TOKENS, 48, budget=10_000_000, epoch_cap=4.0, seed=2)
    w = np.array([[m[d] for d in sorted(TOKENS)] for m in mixes])
    y = planted_losses(w, np.random.default_rng(1))
    results = pl.DataFrame({**{f"w:{d}": w[:, i] for i, d in enumerate(sorted(TOKENS))},
                            **{f"bpb:{d}": y[:, i] for i, d in enumerate(sorted(TOKENS))}})
    mix, fit = propose_mix(results, TOKENS, budget=10_000_000, kl=0.0)
    # the true optimum of the planted law, by brute force, where the proposal may go: the
    # epoch caps, and no domain above the largest weight a probe gave it
    grid = np.random.default_rng(3).dirichlet(np.ones(3), 200_000)
    upper = np.minimum(4.0 * np.array([TOKENS[d] for d in sorted(TOKENS)]) / 10_000_000,
                       w.max(axis=0))
    grid = grid[np.all(grid <= upper, axis=1)]
    true_best = grid[np.argmin(planted_losses(grid).mean(1))]
    got = np.array([mix.weights[d] for d in sorted(TOKENS)])
    assert np.all(got <= upper + 1e-6)
    assert np.abs(got - true_best).max() < 0.03
    assert planted_losses(got[None])[0].mean() <= planted_losses(true_best[None])[0].mean() + 5e-4
    assert fit["predicted_gain_over_natural"] > 0 and fit["cv"]["spearman"] > 0.9
    assert fit["regressor"] == "mixing_law" and fit["selected_by"] == "cv"
    assert fit["beats_trivial"]
    assert mix.provenance["strategy"] == "regmix" and fit["n_probes"] == 48
    # a pull toward the prior moves the proposal toward it
    pulled, _ = propose_mix(results, TOKENS, budget=10_000_000, kl=1.0)
    prior = np.array([token_prior(TOKENS)[d] for d in sorted(TOKENS)])
    assert np.abs(np.array([pulled.weights[d] for d in sorted(TOKENS)]) - prior).sum() < \
        np.abs(got - prior).sum()
