"""Mix strategies: each returns a `Mix` from the token store's per-domain token counts.

- natural: proportional to tokens available.
- uniform: equal weights.
- temperature: p ∝ n^(1/τ) (τ=1 natural, τ→∞ uniform; mT5/XLM-R use τ≈3.3).
- unimax (Chung et al. 2023): spread the budget uniformly, smallest domains first, never
  more than `epoch_cap` epochs of any domain; what a small domain cannot use goes to the
  larger ones.
- manual: the weights given.
"""

from __future__ import annotations

from ..errors import ConfigError
from .mix import Mix

STRATEGIES = ("natural", "uniform", "temperature", "unimax", "manual")


def natural(tokens: dict[str, int], budget: int = 0, **kw) -> Mix:
    return Mix(dict(tokens), budget, provenance={"strategy": "natural"}, **kw)


def uniform(tokens: dict[str, int], budget: int = 0, **kw) -> Mix:
    return Mix(dict.fromkeys(tokens, 1.0), budget, provenance={"strategy": "uniform"}, **kw)


def temperature(tokens: dict[str, int], budget: int = 0, tau: float = 3.0, **kw) -> Mix:
    if tau <= 0:
        msg = f"temperature tau must be > 0, got {tau}"
        raise ConfigError(msg)
    return Mix({d: n ** (1.0 / tau) for d, n in tokens.items()}, budget,
               provenance={"strategy": "temperature", "tau": tau}, **kw)


def unimax(tokens: dict[str, int], budget: int, epoch_cap: float = 4.0, **kw) -> Mix:
    """UniMax: a uniform budget per domain, capped at ``epoch_cap`` epochs, small first."""
    budget = budget if budget > 0 else sum(tokens.values())  # default: every token once
    left, alloc = float(budget), {}
    order = sorted(tokens, key=lambda d: (tokens[d], d))
    for i, d in enumerate(order):
        share = left / (len(order) - i)
        alloc[d] = min(share, epoch_cap * tokens[d])
        left -= alloc[d]
    return Mix(alloc, budget, epoch_cap=epoch_cap,
               provenance={"strategy": "unimax", "unallocated_tokens": round(left)}, **kw)


def manual(tokens: dict[str, int], budget: int = 0, weights: dict | None = None,
           **kw) -> Mix:
    unknown = sorted(set(weights or {}) - set(tokens))
    if not weights or unknown:
        msg = (f"manual weights {weights} name unknown domains {unknown}; "
               f"the store has {sorted(tokens)}")
        raise ConfigError(msg)
    return Mix({d: float(weights.get(d, 0.0)) for d in tokens}, budget,
               provenance={"strategy": "manual"}, **kw)


def make_mix(strategy: str, tokens: dict[str, int], budget: int = 0, **params) -> Mix:
    """Build a Mix with ``strategy`` (one of STRATEGIES)."""
    fns = {"natural": natural, "uniform": uniform, "temperature": temperature,
           "unimax": unimax, "manual": manual}
    if strategy not in fns:
        msg = f"unknown mix strategy {strategy!r}; choose one of {list(fns)}"
        raise ConfigError(msg)
    return fns[strategy](tokens, budget, **params)
