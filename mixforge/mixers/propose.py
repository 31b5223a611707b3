"""Propose a mix from probe results: fit a regressor, minimize its predicted objective.

The objective is the predicted held-out bits per byte averaged over domains (or one
domain, or a target the sweep scored: a data target ``NAME=PATH`` or a set of domains,
whose ``bpb:NAME`` column is then fitted directly), plus ``kl`` × KL(w ‖ prior): the
pull toward the prior keeps the proposal where probes were actually trained, since a
regression extrapolates badly to corners of the simplex. Domains are bounded by their
epoch cap at the training budget. RegMix's own recipe, "simulate many mixes, average the
top-k predicted", is computed beside it as a cross-check and reported.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import optimize

from ..errors import ConfigError
from .mix import Mix
from .regression import REGRESSORS, cross_validate
from .sampling import token_prior

WEIGHT, METRIC = "w:", "bpb:"  # the probe sweep's results columns


def results_matrix(results: pl.DataFrame, metric: str = METRIC
                   ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(domains, weights (n, d), per-domain metric (n, d)) from a probe results table."""
    domains = sorted(c[len(WEIGHT):] for c in results.columns if c.startswith(WEIGHT))
    missing = [d for d in domains if f"{metric}{d}" not in results.columns]
    if not domains or missing:
        msg = (f"probe results need columns {WEIGHT}<domain> and {metric}<domain>; "
               f"missing {missing or 'all'}")
        raise ConfigError(msg)
    w = results.select([f"{WEIGHT}{d}" for d in domains]).to_numpy().astype(float)
    y = results.select([f"{metric}{d}" for d in domains]).to_numpy().astype(float)
    return domains, w, y


def target_column(results: pl.DataFrame, target: str, domains: list[str]) -> np.ndarray:
    """(n, 1) bpb of a target that is not a domain: a data target or a target set the
    sweep scored (its ``bpb:<target>`` column); the regressor then models it directly."""
    col = f"{METRIC}{target}"
    if col not in results.columns:
        scored = sorted(c[len(METRIC):] for c in results.columns if c.startswith(METRIC)
                        and c[len(METRIC):] not in domains)
        msg = (f"target {target!r} is neither a probed domain nor a target the sweep scored; "
               f"domains: {domains}; targets: {scored} (add it to the sweep with "
               f"--target {target}=PATH)")
        raise ConfigError(msg)
    y = results[col].to_numpy().astype(float)[:, None]
    if not np.isfinite(y).all():
        msg = f"target {target!r}: some probes have no {col} (rerun the sweep with it)"
        raise ConfigError(msg)
    return y


def _objective_weights(domains: list[str], target: str | None) -> np.ndarray:
    if target is None:
        return np.full(len(domains), 1.0 / len(domains))
    if target not in domains:
        msg = f"target {target!r} is not a probed domain; choose one of {domains}"
        raise ConfigError(msg)
    return np.array([1.0 if d == target else 0.0 for d in domains])


def optimize_mix(model, prior: np.ndarray, upper: np.ndarray, obj: np.ndarray,
                 kl: float) -> np.ndarray:
    """argmin_w obj·model(w) + kl·KL(w‖prior) over the capped simplex (SLSQP)."""
    eps = 1e-9

    def f(w):
        pred = model.predict(w[None, :])[0] @ obj
        return pred + kl * float(np.sum(w * np.log((w + eps) / prior)))

    start = np.minimum(prior, upper)
    start = start / start.sum()
    res = optimize.minimize(f, start, method="SLSQP", bounds=list(zip(
        np.zeros(len(prior)), np.minimum(upper, 1.0), strict=True)),
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
        options={"maxiter": 500, "ftol": 1e-10})
    w = np.clip(res.x, 0, None)
    return w / w.sum()


def simulate_top_k(model, prior: np.ndarray, upper: np.ndarray, obj: np.ndarray,
                   n: int = 100_000, k: int = 100, seed: int = 0) -> np.ndarray:
    """RegMix: predict many Dirichlet mixes around the prior, average the k best."""
    rng = np.random.default_rng(seed)
    strengths = np.exp(rng.uniform(np.log(0.1), np.log(5.0), n))
    alpha = np.maximum(prior[None, :] * len(prior) * strengths[:, None], 1e-3)
    g = rng.gamma(alpha)
    w = g / g.sum(axis=1, keepdims=True)
    w = w[np.all(w <= upper[None, :] + 1e-12, axis=1)]
    score = model.predict(w) @ obj
    best = w[np.argsort(score)[:k]]
    return best.mean(axis=0)


def propose_mix(results: pl.DataFrame, tokens: dict[str, int], budget: int,
                epoch_cap: float = 4.0, target: str | None = None,
                regressor: str = "mixing_law", kl: float = 0.05, seed: int = 0
                ) -> tuple[Mix, dict]:
    """Fit ``regressor`` on probe results and return the proposed Mix and a fit report."""
    domains, w, y = results_matrix(results)
    if target == "avg":
        target = None
    obj = None
    if target is not None and target not in domains:
        y, obj = target_column(results, target, domains), np.ones(1)
    if set(domains) != set(tokens):
        msg = f"probed domains {domains} differ from the store's {sorted(tokens)}"
        raise ConfigError(msg)
    if regressor not in REGRESSORS:
        msg = f"unknown regressor {regressor!r}; choose one of {list(REGRESSORS)}"
        raise ConfigError(msg)
    model = REGRESSORS[regressor]().fit(w, y)
    prior = np.array([token_prior(tokens)[d] for d in domains])
    avail = np.array([tokens[d] for d in domains], dtype=float)
    upper = epoch_cap * avail / budget if budget else np.ones(len(domains))
    if obj is None:
        obj = _objective_weights(domains, target)
    best = optimize_mix(model, prior, upper, obj, kl)
    topk = simulate_top_k(model, prior, upper, obj, seed=seed)
    natural = avail / avail.sum()
    uniform = np.full(len(domains), 1 / len(domains))

    def predicted(x):
        return float(model.predict(x[None, :])[0] @ obj)

    fit = {"regressor": regressor, "kl": kl, "target": target or "mean over domains",
           "n_probes": len(w), "cv": cross_validate(REGRESSORS[regressor], w, y, seed=seed)
           if len(w) >= 10 else None,
           "predicted": {"proposed": predicted(best), "regmix_top_k": predicted(topk),
                         "natural": predicted(natural), "uniform": predicted(uniform)},
           "regmix_top_k_weights": dict(zip(domains, map(float, topk), strict=True))}
    fit["predicted_gain_over_natural"] = fit["predicted"]["natural"] - predicted(best)
    fit["predicted_gain_over_uniform"] = fit["predicted"]["uniform"] - predicted(best)
    mix = Mix(dict(zip(domains, map(float, best), strict=True)), budget, epoch_cap, seed,
              provenance={"strategy": "regmix", **fit})
    return mix, fit
