"""Propose a mix from probe results: fit a regressor, minimize its predicted objective.

The regressor is the one that wins cross-validation on the objective (regression.py), its
predictions clipped to the probes' range. The objective is the predicted held-out bits per
byte averaged over domains (or one domain, or a target the sweep scored: a data target
``NAME=PATH`` or a set of domains, whose ``bpb:NAME`` column is then fitted directly),
plus ``kl`` × KL(w ‖ prior): the pull toward the prior keeps the proposal where probes
were actually trained. Each domain is
bounded by its epoch cap at the training budget and by the largest weight any probe gave
it: the proposal never leaves the region the probes covered. Smooth regressors (mixing
law, linear) are minimized by SLSQP; for gradient boosting (piecewise constant) the
proposal is RegMix's own recipe, "simulate many mixes, average the top-k predicted", which
is also computed beside every proposal as a cross-check.

The fit report warns when the fit loses to a trivial predictor, when the predicted gain is
below the seed noise measured from probes repeated with other seeds, when there are fewer
probes than recommended for the number of domains, and when the sweep's mixes were
sampled for another budget.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
from scipy import optimize

from ..errors import ConfigError
from .mix import Mix
from .regression import REGRESSORS, SMOOTH, FitReport, assess_fit, fit_bounded
from .sampling import dirichlet_around, random_strength, token_prior

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
                   n: int = 30_000, k: int = 100, seed: int = 0,
                   strengths: tuple[float, float] = (0.1, 5.0)) -> np.ndarray:
    """RegMix: predict ``n`` Dirichlet mixes around the prior (within ``upper``), average
    the ``k`` best."""
    rng = np.random.default_rng(seed)
    w = np.stack([dirichlet_around(prior, random_strength(rng, strengths), rng)
                  for _ in range(n)])
    w = w[np.all(w <= upper[None, :] + 1e-12, axis=1)]
    if not len(w):
        msg = "no simulated mix fits within the per-domain bounds; raise --epoch-cap"
        raise ConfigError(msg)
    score = model.predict(w) @ obj
    best = w[np.argsort(score, kind="stable")[:k]]
    return best.mean(axis=0)


def recommended_probes(n_domains: int) -> int:
    """Probes to sweep for ``n_domains``: 4 x (d + 2), linear in d.

    Olmix (Chen et al. 2026) finds the number of proxy runs needed grows linearly with
    the number of domains; RegMix (Liu et al. 2024) trained 512 proxies for 17 domains.
    The mixing law has d + 2 parameters per target, so 4x that leaves 5-fold CV fitting
    each fold on about 3x as many probes as parameters.
    """
    return 4 * (n_domains + 2)


def seed_noise(w: np.ndarray, objective: np.ndarray) -> tuple[float | None, int]:
    """(pooled standard deviation of the objective between probes of the same mix with
    different seeds, how many such mixes); ``(None, 0)`` when no mix was repeated."""
    groups: dict[tuple, list[float]] = {}
    for row, val in zip(np.round(w, 6), objective, strict=True):
        groups.setdefault(tuple(row), []).append(float(val))
    reps = [np.asarray(v) for v in groups.values() if len(v) > 1]
    if not reps:
        return None, 0
    ss = sum(float(((v - v.mean()) ** 2).sum()) for v in reps)
    dof = sum(len(v) - 1 for v in reps)
    return float(np.sqrt(ss / dof)), len(reps)


def load_sweep_info(probes: Path, results: pl.DataFrame | None = None) -> dict:
    """What a sweep folder says about itself (``sweep.json``, and the results' ``params``
    column): its path, the probe size (parameters, depth, training tokens per probe) and
    the budget its mixes were capped at. Keys are missing where the sweep does not say."""
    info: dict = {"sweep": str(probes)}
    path = probes / "sweep.json"
    if path.exists():
        cfg = json.loads(path.read_text()).get("config", {})
        info["sweep_tokenizer"] = json.loads(path.read_text()).get("store_tokenizer")
        info.update({"probe_depth": cfg.get("probe", {}).get("depth"),
                     "probe_tokens": cfg.get("train", {}).get("tokens"),
                     "sweep_budget": cfg.get("final_budget"),
                     "sweep_epoch_cap": cfg.get("epoch_cap"),
                     "sweep_strategy": cfg.get("strategy")})
    if results is not None and "params" in results.columns and len(results):
        info["probe_params"] = int(results["params"][0])
    return info


def fit_report(results: pl.DataFrame, tokens: dict[str, int], target: str | None = None,
               folds: int = 5, seed: int = 0) -> FitReport:
    """Cross-validated fit of every regressor beside the trivial predictors, scored on
    the per-domain bpb and on the objective (``target``, or the mean over domains)."""
    domains, w, y, obj, label = objective(results, target)
    natural = np.array([tokens[d] for d in domains], dtype=float)
    natural /= natural.sum()
    return assess_fit(w, y, natural, obj, label, folds, seed)


def objective(results: pl.DataFrame, target: str | None
              ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, str]:
    """(domains, weights (n, D), losses to fit, objective weights over their columns, label).

    ``target``: None or ``"avg"`` (the mean over domains), a domain, or a target the sweep
    scored (a data target or a domain set: its own ``bpb:NAME`` column is fitted).
    """
    domains, w, y = results_matrix(results)
    if target in (None, "avg"):
        return domains, w, y, _objective_weights(domains, None), "mean over domains"
    if target not in domains:
        return domains, w, target_column(results, target, domains), np.ones(1), target
    return domains, w, y, _objective_weights(domains, target), target


def propose_mix(results: pl.DataFrame, tokens: dict[str, int], budget: int,
                epoch_cap: float = 4.0, target: str | None = None,
                regressor: str = "auto", kl: float = 0.05, seed: int = 0,
                sweep: dict | None = None) -> tuple[Mix, dict]:
    """Fit a regressor on probe results and return the proposed Mix and a fit report.

    ``regressor="auto"`` takes the one that wins 5-fold CV on the objective (see
    ``regression.assess_fit``). The proposal stays where the probes were: each domain's
    weight is bounded by its epoch cap at ``budget`` and by the largest weight any probe
    gave it. ``sweep`` (from ``load_sweep_info``) goes into the mix's provenance and is
    checked against ``budget``. ``fit["warnings"]`` lists what makes the proposal
    doubtful (a fit that loses to a trivial predictor, a predicted gain below the seed
    noise, too few probes, another budget than the sweep's).
    """
    domains, w, y, obj, _ = objective(results, target)
    target = None if target == "avg" else target
    if set(domains) != set(tokens):
        msg = f"probed domains {domains} differ from the store's {sorted(tokens)}"
        raise ConfigError(msg)
    if regressor != "auto" and regressor not in REGRESSORS:
        msg = f"unknown regressor {regressor!r}; choose auto or one of {list(REGRESSORS)}"
        raise ConfigError(msg)
    sweep = sweep or {}
    report = fit_report(results, tokens, target, seed=seed)
    chosen = (report.best or "mixing_law") if regressor == "auto" else regressor
    model = fit_bounded(chosen, w, y)
    prior = np.array([token_prior(tokens)[d] for d in domains])
    avail = np.array([tokens[d] for d in domains], dtype=float)
    cap = epoch_cap * avail / budget if budget else np.ones(len(domains))
    seen = w.max(axis=0)
    warnings = list(report.warnings())
    upper = np.minimum(cap, seen)
    if upper.sum() < 1 - 1e-9:  # the probes' mixes break this budget's caps
        warnings.append("the probes' mixes do not fit the epoch caps at this budget; the "
                        "proposal is bounded by the caps alone (re-sweep with --budget)")
        upper = cap
    upper = np.minimum(upper, 1.0)
    best = (optimize_mix(model, prior, upper, obj, kl) if chosen in SMOOTH
            else simulate_top_k(model, prior, upper, obj, seed=seed))
    topk = simulate_top_k(model, prior, upper, obj, seed=seed)
    natural = avail / avail.sum()
    uniform = np.full(len(domains), 1 / len(domains))

    def predicted(x):
        return float(model.predict(x[None, :])[0] @ obj)

    at_cap = {d: ("epoch cap" if cap[i] <= seen[i] else "largest probe weight")
              for i, d in enumerate(domains) if best[i] >= upper[i] - 1e-6}
    noise, n_rep = seed_noise(w, y @ obj)
    want = recommended_probes(len(domains))
    cv = report.row(chosen) if report.best else None
    fit = {"regressor": chosen, "selected_by": "cv" if regressor == "auto" else "user",
           "kl": kl, "target": target or "mean over domains", "n_probes": len(w),
           "recommended_probes": want,
           "cv": {"spearman": cv["spearman_obj"], "mae": cv["mae_obj"],
                  "spearman_all_domains": cv["spearman"], "mae_all_domains": cv["mae_bpb"],
                  "n_mixes": len(w)} if cv else None,
           "cv_table": report.table.to_dicts(), "beats_trivial": report.beats_trivial,
           "best_trivial": report.best_trivial,
           "predicted": {"proposed": predicted(best), "regmix_top_k": predicted(topk),
                         "natural": predicted(natural), "uniform": predicted(uniform)},
           "regmix_top_k_weights": dict(zip(domains, map(float, topk), strict=True)),
           "seed_noise_bpb": noise, "seed_noise_mixes": n_rep,
           "domains_at_bound": at_cap, "budget": budget, "epoch_cap": epoch_cap, **sweep}
    fit["predicted_gain_over_natural"] = fit["predicted"]["natural"] - predicted(best)
    fit["predicted_gain_over_uniform"] = fit["predicted"]["uniform"] - predicted(best)
    gain = min(fit["predicted_gain_over_natural"], fit["predicted_gain_over_uniform"])
    if noise is not None and gain < noise:
        warnings.append(f"the predicted gain over natural/uniform ({gain:+.4f} bpb) is below "
                        f"the seed noise measured on {n_rep} repeated mixes ({noise:.4f} "
                        f"bpb): the proposal may not beat them at all")
    elif noise is None:
        warnings.append("seed noise not measured (no mix probed with several seeds): "
                        "sweep with --seeds-per-mix 2 to know whether the predicted gain "
                        "is real")
    if cv and cv["spearman_obj"] <= 0:
        warnings.append(f"the fit ranks held-out probes no better than chance (CV Spearman "
                        f"{cv['spearman_obj']:+.3f} on the objective): the proposal rests on "
                        "noise; sweep more probes (or larger ones) before trusting it")
    if len(w) < want:
        warnings.append(f"{len(w)} probes for {len(domains)} domains; {want} recommended "
                        f"(4 x (domains + 2): Olmix finds the probes needed grow linearly "
                        f"with the domains)")
    if sweep.get("sweep_budget") is not None and budget and sweep["sweep_budget"] not in (
            0, budget):
        warnings.append(f"the sweep sampled its mixes for a budget of "
                        f"{sweep['sweep_budget']:,} tokens, this proposal is for {budget:,}: "
                        f"the caps differ (sweep again with --budget {budget})")
    fit["warnings"] = warnings
    mix = Mix(dict(zip(domains, map(float, best), strict=True)), budget, epoch_cap, seed,
              provenance={"strategy": "regmix", **fit})
    return mix, fit
