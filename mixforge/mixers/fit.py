"""How well do probe results predict? Cross-validated regressors vs trivial predictors.

For each probed domain's held-out bpb: k-fold predictions of each regressor (Spearman and
MAE on held-out probes), and two trivial predictors the regression must beat — the
distance of a mix to the natural mix, and the mix's weight on that domain (each scored by
the Spearman correlation of its own fold-fitted linear fit). A proposal is only worth
taking when the regression beats both.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

from .propose import results_matrix
from .regression import REGRESSORS, Linear


def cv_predictions(model_cls, x: np.ndarray, y: np.ndarray, folds: int = 5,
                   seed: int = 0) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(len(x))
    pred = np.zeros_like(y)
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        pred[test] = model_cls().fit(x[train], y[train]).predict(x[test])
    return pred


def _scores(pred: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    rho = [stats.spearmanr(pred[:, j], y[:, j]).statistic for j in range(y.shape[1])]
    return float(np.nanmean(rho)), float(np.abs(pred - y).mean())


def fit_table(results: pl.DataFrame, tokens: dict[str, int], folds: int = 5,
              seed: int = 0) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """(one row per predictor: mean Spearman and MAE over domains, held-out probes;
    the cross-validated predictions of each, for plots)."""
    domains, w, y = results_matrix(results)
    folds = max(2, min(folds, len(w)))
    natural = np.array([tokens[d] for d in domains], dtype=float)
    natural /= natural.sum()
    preds = {name: cv_predictions(cls, w, y, folds, seed) for name, cls in REGRESSORS.items()}
    dist = np.linalg.norm(w - natural, axis=1, keepdims=True)
    preds["trivial: distance to natural"] = cv_predictions(Linear, dist, y, folds, seed)
    own = np.zeros_like(y)
    for j in range(len(domains)):
        own[:, j] = cv_predictions(Linear, w[:, [j]], y[:, [j]], folds, seed)[:, 0]
    preds["trivial: own-domain weight"] = own
    rows = []
    for name, pred in preds.items():
        rho, mae = _scores(pred, y)
        rows.append({"predictor": name, "spearman": round(rho, 4), "mae_bpb": round(mae, 5),
                     "probes": len(w)})
    return pl.DataFrame(rows), {**preds, "actual": y}
