"""The plan of a mix: per domain, tokens available, tokens taken, epochs; and cap checks.

The budget is split by weight with largest-remainder rounding, so per-domain targets add
up to the budget exactly. A validation share (``val_fraction``) is carved from each
domain's target and held out as whole, never-repeated documents; the rest is the training
target, and its epochs count against the domain's tokens *minus* the held-out ones.

When a domain needs more epochs than its cap allows, the plan says so (``warnings`` and
the ``over_cap`` column) and what happens is explicit (``over_cap``): ``error`` (refuse to
materialize; the default), ``exceed`` (repeat past the cap), or ``shrink`` (take the
domain at its cap; the budget shrinks by the shortfall, stated in the plan and the
export manifest). Nothing is shrunk silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import polars as pl

from ..errors import ConfigError
from .mix import Mix

OverCap = Literal["error", "exceed", "shrink"]


@dataclass
class DomainPlan:
    """One domain's row of a plan (tokens in token-store tokens)."""

    domain: str
    weight: float
    docs: int
    available: int      # tokens in the store
    target: int         # weight * budget (train + val)
    val: int            # tokens held out for validation (whole documents, no repeats)
    train: int          # training tokens to take (after a 'shrink', the capped amount)
    epochs: float       # train / (available - val)
    cap: float
    over_cap: bool      # the target needs more epochs than the cap allows


@dataclass
class Plan:
    """A mix resolved against a token store: what each domain gives and how often."""

    mix: Mix
    rows: list[DomainPlan]
    val_fraction: float = 0.0
    over_cap_policy: str = "error"
    warnings: list[str] = field(default_factory=list)

    @property
    def train_tokens(self) -> int:
        return sum(r.train for r in self.rows)

    @property
    def val_tokens(self) -> int:
        return sum(r.val for r in self.rows)

    @property
    def shortfall(self) -> int:
        """Tokens of the budget a 'shrink' policy gave up (0 otherwise)."""
        return sum(r.target - r.val - r.train for r in self.rows)

    def row(self, domain: str) -> DomainPlan:
        return next(r for r in self.rows if r.domain == domain)

    def table(self) -> pl.DataFrame:
        """The plan as a frame, one row per domain plus a TOTAL row.

        ``available`` and ``taken`` are tokens (taken = train + val); ``epochs`` is train
        tokens over the tokens left after validation.
        """
        df = pl.DataFrame([{
            "domain": r.domain, "weight": round(r.weight, 4), "docs": r.docs,
            "available": r.available, "taken": r.train + r.val,
            "train": r.train, "val": r.val, "epochs": round(r.epochs, 3),
            "cap": r.cap, "over_cap": r.over_cap} for r in self.rows])
        total = {"domain": "TOTAL", "weight": round(sum(r.weight for r in self.rows), 4),
                 "docs": sum(r.docs for r in self.rows),
                 "available": sum(r.available for r in self.rows),
                 "taken": self.train_tokens + self.val_tokens,
                 "train": self.train_tokens, "val": self.val_tokens,
                 "epochs": round(self.train_tokens / max(1, sum(r.available - r.val
                                                              for r in self.rows)), 3),
                 "cap": max(r.cap for r in self.rows),
                 "over_cap": any(r.over_cap for r in self.rows)}
        return pl.concat([df, pl.DataFrame([total], schema=df.schema)])

    def to_dict(self) -> dict[str, Any]:
        return {"mix": self.mix.to_dict(), "val_fraction": self.val_fraction,
                "over_cap": self.over_cap_policy, "warnings": self.warnings,
                "train_tokens": self.train_tokens, "val_tokens": self.val_tokens,
                "shortfall": self.shortfall, "domains": [asdict(r) for r in self.rows]}

    def check(self) -> None:
        """Raise if the plan cannot be materialized under its over-cap policy."""
        empty = [r.domain for r in self.rows if r.train > 0 and r.available - r.val <= 0]
        if empty:
            msg = (f"domains {empty} get a share of the budget but hold no tokens (after "
                   "validation); give them weight 0 or tokenize documents for them")
            raise ConfigError(msg)
        if self.over_cap_policy == "error" and any(r.over_cap for r in self.rows):
            msg = ("the mix needs domains beyond their epoch cap: " + "; ".join(self.warnings)
                   + ". Lower the budget, raise epoch_cap, or pass --over-cap exceed "
                   "(repeat anyway) or --over-cap shrink (take them at the cap, smaller "
                   "budget)")
            raise ConfigError(msg)


def split_budget(weights: Mapping[str, float], budget: int) -> dict[str, int]:
    """Integer targets ∝ weights that add up to ``budget`` exactly (largest remainder).

    Examples
    --------
    >>> split_budget({"a": 1/3, "b": 1/3, "c": 1/3}, 100)
    {'a': 34, 'b': 33, 'c': 33}
    """
    raw = {d: w * budget for d, w in weights.items()}
    out = {d: math.floor(v) for d, v in raw.items()}
    left = budget - sum(out.values())
    for d in sorted(raw, key=lambda d: (-(raw[d] - out[d]), d))[:left]:
        out[d] += 1
    return out


def plan_mix(mix: Mix, available: Mapping[str, Mapping[str, int]], *,
             val_fraction: float = 0.0, over_cap: OverCap = "error") -> Plan:
    """Resolve ``mix`` against per-domain counts ``{domain: {"tokens": n, "docs": m}}``.

    Domains over their cap are listed in ``Plan.warnings`` (data, not log lines: the CLI
    prints them; `materialize` logs them when it goes ahead under exceed or shrink).

    ``available`` is a token store's ``store.json`` domains (``TokenStore.meta["domains"]``).
    Domains of the store missing from the mix get weight 0; a mix domain missing from the
    store is a ConfigError.
    """
    if not 0.0 <= val_fraction < 1.0:
        msg = f"val_fraction must be in [0, 1), got {val_fraction}"
        raise ConfigError(msg)
    if over_cap not in ("error", "exceed", "shrink"):
        msg = f"over_cap is {over_cap!r}; choose error, exceed or shrink"
        raise ConfigError(msg)
    missing = sorted(set(mix.weights) - set(available))
    if missing:
        msg = (f"the mix names domains the token store does not have: {missing}; "
               f"it has {sorted(available)}")
        raise ConfigError(msg)
    if mix.budget_tokens <= 0:
        msg = "the mix has no token budget (budget_tokens); set one, e.g. --budget 1e9"
        raise ConfigError(msg)
    weights = {d: mix.weights.get(d, 0.0) for d in sorted(available)}
    targets = split_budget(weights, mix.budget_tokens)
    rows, warnings = [], []
    for d in sorted(available):
        n, docs = int(available[d]["tokens"]), int(available[d]["docs"])
        target = targets[d]
        val = round(target * val_fraction)
        if val > n:
            msg = (f"domain {d!r}: validation needs {val:,} tokens but the domain has only "
                   f"{n:,}; lower val_fraction")
            raise ConfigError(msg)
        pool, train, cap = n - val, target - val, mix.cap(d)
        epochs = train / pool if pool else (math.inf if train else 0.0)
        over = epochs > cap
        if over:
            warnings.append(f"{d}: {train:,} training tokens are {epochs:.2f} epochs of "
                            f"{pool:,}, over its cap of {cap:g}")
            if over_cap == "shrink":
                train = math.floor(cap * pool) if math.isfinite(cap) else train
        rows.append(DomainPlan(d, weights[d], docs, n, target, val, train,
                               train / pool if pool else epochs, cap, over))
    return Plan(mix, rows, val_fraction, over_cap, warnings)
