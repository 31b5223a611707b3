"""A mix against a token store: tokens available, taken and epochs per domain."""

from __future__ import annotations

import polars as pl

from ..tokenize.store import TokenStore
from .mix import Mix


def plan_mix(mix: Mix, store: TokenStore, val_fraction: float = 0.01
             ) -> tuple[pl.DataFrame, list[str]]:
    """(per-domain plan, warnings). Tokens available are those left for training once
    ``val_fraction`` of each domain's documents is held out. A domain needing more epochs
    than its cap is a warning here and an error when materializing: the budget is never
    shrunk silently."""
    from .materialize import train_tokens

    rows, warnings = [], []
    available = train_tokens(store, val_fraction, mix.seed)
    budget = mix.budget_tokens or sum(store.info(d)["tokens"] for d in store.domains)
    for d in store.domains:
        w = mix.weights.get(d, 0.0)
        avail = available[d]
        taken = round(w * budget)
        epochs = taken / avail if avail else (float("inf") if taken else 0.0)
        cap = mix.cap(d)
        rows.append({"domain": d, "weight": round(w, 4), "tokens_available": avail,
                     "tokens_taken": taken, "epochs": round(epochs, 3), "epoch_cap": cap})
        if epochs > cap:
            warnings.append(f"domain {d!r} needs {epochs:.2f} epochs, above its cap of "
                            f"{cap:g}: raise epoch_cap, lower the budget or its weight")
    missing = sorted(set(mix.weights) - set(store.domains))
    if missing:
        warnings.append(f"the mix names domains the store lacks: {missing}")
    return pl.DataFrame(rows), warnings
