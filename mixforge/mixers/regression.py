"""Regressors from mix weights to each domain's probe loss, with cross-validated fit quality.

- ``MixingLaw`` (default): L(w) = c + exp(b + t·w) per target, the log-linear form of the
  Data Mixing Laws (Ye et al. 2024) / Olmix; fitted by least squares (scipy), c kept below
  the smallest observed loss so the exponential part stays positive.
- ``Linear``: L(w) = a + t·w (ridge), the simplest baseline.

Both predict every target at once from a (n_mixes, n_domains) weight matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats


@dataclass
class Linear:
    ridge: float = 1e-4
    coef_: np.ndarray = field(default=None, repr=False)  # (n_domains + 1, n_targets)

    def fit(self, w: np.ndarray, y: np.ndarray) -> Linear:
        x = np.hstack([np.ones((len(w), 1)), w])
        reg = self.ridge * np.eye(x.shape[1])
        reg[0, 0] = 0
        self.coef_ = np.linalg.solve(x.T @ x + reg, x.T @ y)
        return self

    def predict(self, w: np.ndarray) -> np.ndarray:
        return np.hstack([np.ones((len(w), 1)), w]) @ self.coef_


@dataclass
class MixingLaw:
    params_: list[np.ndarray] = field(default_factory=list, repr=False)

    def fit(self, w: np.ndarray, y: np.ndarray) -> MixingLaw:
        self.params_ = []
        for j in range(y.shape[1]):
            target = y[:, j]
            lo = float(target.min())
            spread = max(float(target.max() - lo), 1e-6)
            c0 = lo - 0.5 * spread
            t0 = np.linalg.lstsq(np.hstack([np.ones((len(w), 1)), w]),
                                 np.log(np.maximum(target - c0, 1e-9)), rcond=None)[0]
            x0 = np.concatenate([[c0], t0])

            def resid(p, target=target):
                return p[0] + np.exp(p[1] + w @ p[2:]) - target

            upper = np.full(len(x0), np.inf)
            upper[0] = lo - 1e-9
            x0[0] = min(x0[0], upper[0] - 1e-6)
            res = optimize.least_squares(resid, x0, bounds=(-np.inf, upper), max_nfev=2000)
            self.params_.append(res.x)
        return self

    def predict(self, w: np.ndarray) -> np.ndarray:
        return np.stack([p[0] + np.exp(p[1] + w @ p[2:]) for p in self.params_], axis=1)


REGRESSORS = {"mixing_law": MixingLaw, "linear": Linear}


def cross_validate(model_cls, w: np.ndarray, y: np.ndarray, folds: int = 5,
                   seed: int = 0) -> dict[str, float]:
    """k-fold CV of a regressor: mean Spearman (over targets) and MAE of held-out mixes."""
    n = len(w)
    order = np.random.default_rng(seed).permutation(n)
    pred = np.zeros_like(y)
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        pred[test] = model_cls().fit(w[train], y[train]).predict(w[test])
    rho = [stats.spearmanr(pred[:, j], y[:, j]).statistic for j in range(y.shape[1])]
    return {"spearman": float(np.nanmean(rho)), "mae": float(np.abs(pred - y).mean()),
            "n_mixes": n}
