"""Mixing strategies: each turns per-domain token counts into a `Mix`.

- ``natural``: weights proportional to tokens (what concatenating the corpus gives).
- ``uniform``: every domain the same share.
- ``temperature``: p_d ∝ n_d^(1/τ) (τ=1 natural, τ→∞ uniform; mT5 and XLM-R use τ≈3.3).
- ``unimax``: UniMax (Chung et al., 2023, Algorithm 1): walk domains from the smallest,
  give each an equal share of the budget that is left, but never more than ``epoch_cap``
  epochs of its tokens; what a small domain cannot use goes to the larger ones.
- ``manual``: weights given by hand.

Strategies only decide weights; they never change the budget. Whether a budget can be met
within the epoch caps is the plan's question (`mixforge.mixers.plan`), which warns and
never shrinks silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..tokenize.store import TokenStore
from .mix import Mix

#: The temperature strategy's default tau, the one the CLI and the pipeline both use.
DEFAULT_TAU = 2.0

STRATEGIES = ("natural", "uniform", "temperature", "unimax", "manual")


def store_tokens(store: TokenStore | str | Path) -> dict[str, int]:
    """Tokens per domain of a token store (from its ``store.json``)."""
    store = store if isinstance(store, TokenStore) else TokenStore(store)
    return {d: int(store.info(d)["tokens"]) for d in store.domains}


def _check_counts(tokens: Mapping[str, int]) -> dict[str, int]:
    counts = {str(k): int(v) for k, v in tokens.items()}
    if not counts:
        msg = "no domains to mix: the token store (or counts) is empty"
        raise ConfigError(msg)
    bad = {k: v for k, v in counts.items() if v < 0}
    if bad:
        msg = f"token counts must be >= 0; got {bad}"
        raise ConfigError(msg)
    return counts


def _mix(weights: dict[str, float], budget_tokens: int, epoch_cap: float | dict[str, float],
         seed: int, strategy: str, params: dict[str, Any], tokens: dict[str, int],
         inputs: dict[str, Any] | None) -> Mix:
    provenance = {"strategy": strategy, "params": params, "tokens_available": tokens,
                  **(inputs or {})}
    return Mix(weights, budget_tokens=int(budget_tokens), epoch_cap=epoch_cap, seed=seed,
               provenance=provenance)


def natural(tokens: Mapping[str, int], budget_tokens: int, *, epoch_cap: float = 4.0,
            seed: int = 0, inputs: dict[str, Any] | None = None) -> Mix:
    """Weights proportional to each domain's tokens.

    Examples
    --------
    >>> natural({"a": 300, "b": 100}, 200).weights
    {'a': 0.75, 'b': 0.25}
    """
    counts = _check_counts(tokens)
    if sum(counts.values()) == 0:
        msg = "natural mix of domains that hold no tokens; tokenize some documents first"
        raise ConfigError(msg)
    return _mix(dict(counts), budget_tokens, epoch_cap, seed, "natural", {}, counts, inputs)


def uniform(tokens: Mapping[str, int], budget_tokens: int, *, epoch_cap: float = 4.0,
            seed: int = 0, inputs: dict[str, Any] | None = None) -> Mix:
    """The same weight for every domain (empty domains included: the plan flags them).

    Examples
    --------
    >>> uniform({"a": 300, "b": 100}, 200).weights
    {'a': 0.5, 'b': 0.5}
    """
    counts = _check_counts(tokens)
    return _mix(dict.fromkeys(counts, 1.0), budget_tokens, epoch_cap, seed, "uniform", {},
                counts, inputs)


def temperature(tokens: Mapping[str, int], budget_tokens: int, tau: float, *,
                epoch_cap: float = 4.0, seed: int = 0,
                inputs: dict[str, Any] | None = None) -> Mix:
    """p_d ∝ n_d^(1/τ): τ=1 is natural, larger τ flattens towards uniform.

    Examples
    --------
    >>> temperature({"a": 400, "b": 100}, 200, tau=2.0).weights
    {'a': 0.6666666666666666, 'b': 0.3333333333333333}
    """
    if not (math.isfinite(tau) and tau > 0):
        msg = f"temperature tau must be a finite number > 0, got {tau}"
        raise ConfigError(msg)
    counts = _check_counts(tokens)
    if sum(counts.values()) == 0:
        msg = "temperature mix of domains that hold no tokens; tokenize some documents first"
        raise ConfigError(msg)
    weights = {d: n ** (1.0 / tau) for d, n in counts.items()}
    return _mix(weights, budget_tokens, epoch_cap, seed, "temperature", {"tau": tau}, counts,
                inputs)


def unimax(tokens: Mapping[str, int], budget_tokens: int, *, epoch_cap: float = 4.0,
           seed: int = 0, inputs: dict[str, Any] | None = None) -> Mix:
    """UniMax: a uniform budget per domain, at most ``epoch_cap`` epochs each.

    Domains are visited from the smallest (ties by name, for determinism); each gets
    ``min(remaining budget / domains left, epoch_cap * tokens)``. If even every domain at
    its cap cannot fill the budget, the weights are those capped shares and the plan
    reports that the budget needs more epochs than allowed (the budget is not shrunk).

    Examples
    --------
    >>> m = unimax({"small": 100, "big": 10_000}, 1000, epoch_cap=2.0)
    >>> m.weights
    {'big': 0.8, 'small': 0.2}
    """
    if not (epoch_cap > 0):
        msg = f"UniMax needs an epoch cap > 0, got {epoch_cap}"
        raise ConfigError(msg)
    if budget_tokens <= 0:
        msg = f"UniMax needs a token budget > 0 (it splits the budget), got {budget_tokens}"
        raise ConfigError(msg)
    counts = _check_counts(tokens)
    order = sorted(counts, key=lambda d: (counts[d], d))
    left = float(budget_tokens)
    alloc: dict[str, float] = {}
    for i, d in enumerate(order):
        share = left / (len(order) - i)
        alloc[d] = min(share, epoch_cap * counts[d])
        left -= alloc[d]
    if sum(alloc.values()) <= 0:
        msg = "UniMax over domains that hold no tokens; tokenize some documents first"
        raise ConfigError(msg)
    return _mix(alloc, budget_tokens, epoch_cap, seed, "unimax", {"epoch_cap": epoch_cap},
                counts, inputs)


def manual(weights: Mapping[str, float], budget_tokens: int, *, tokens: Mapping[str, int]
           | None = None, epoch_cap: float | dict[str, float] = 4.0, seed: int = 0,
           inputs: dict[str, Any] | None = None) -> Mix:
    """Weights given by hand (normalized); ``tokens`` checks every domain exists.

    Examples
    --------
    >>> manual({"a": 1, "b": 3}, 100).weights
    {'a': 0.25, 'b': 0.75}
    """
    counts = _check_counts(tokens) if tokens is not None else {}
    if tokens is not None:
        missing = sorted(set(weights) - set(counts))
        if missing:
            msg = f"manual weights name domains the store does not have: {missing}; " \
                  f"it has {sorted(counts)}"
            raise ConfigError(msg)
    return _mix(dict(weights), budget_tokens, epoch_cap, seed, "manual", {}, counts, inputs)


def parse_weights(text: str | list[str] | tuple[str, ...]) -> dict[str, float]:
    """``"code=3,web=1"`` (or a list of ``name=value``) -> ``{"code": 3.0, "web": 1.0}``."""
    items = text.split(",") if isinstance(text, str) else [p for t in text for p in t.split(",")]
    out: dict[str, float] = {}
    for item in (i.strip() for i in items):
        if not item:
            continue
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            msg = f"weight {item!r} is not NAME=NUMBER (e.g. --weights code=3,web=1)"
            raise ConfigError(msg)
    return out


def make_mix(strategy: str, tokens: Mapping[str, int], budget_tokens: int, *,
             epoch_cap: float = 4.0, seed: int = 0, tau: float = DEFAULT_TAU,
             weights: Mapping[str, float] | None = None,
             inputs: dict[str, Any] | None = None) -> Mix:
    """Dispatch by strategy name (what the CLI and pipeline configs call)."""
    kw = {"epoch_cap": epoch_cap, "seed": seed, "inputs": inputs}
    if strategy == "natural":
        return natural(tokens, budget_tokens, **kw)
    if strategy == "uniform":
        return uniform(tokens, budget_tokens, **kw)
    if strategy == "temperature":
        return temperature(tokens, budget_tokens, tau, **kw)
    if strategy == "unimax":
        return unimax(tokens, budget_tokens, **kw)
    if strategy == "manual":
        if not weights:
            msg = "strategy 'manual' needs weights (e.g. --weights code=3,web=1)"
            raise ConfigError(msg)
        return manual(weights, budget_tokens, tokens=tokens, **kw)
    msg = f"unknown mixing strategy {strategy!r}; choose one of {list(STRATEGIES)}"
    raise ConfigError(msg)
