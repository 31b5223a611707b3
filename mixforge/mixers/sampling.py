"""Candidate mixes for a probe sweep, the way RegMix samples them.

A prior from the token distribution (tokens^0.5, renormalized: big domains count, but
less than proportionally), Dirichlet samples around it over a range of concentration
strengths (weak strengths give extreme mixes, strong ones stay near the prior), mixes
that would need more than a domain's epoch cap at the final training budget rejected,
weights below ``min_weight`` zeroed, duplicates (at 3 decimals) removed. Seeded.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def token_prior(tokens: dict[str, int], power: float = 0.5) -> dict[str, float]:
    """p ∝ tokens^power over the domains (sorted by name)."""
    w = {d: float(n) ** power for d, n in sorted(tokens.items())}
    total = sum(w.values())
    return {d: v / total for d, v in w.items()}


def dirichlet_around(prior: np.ndarray, strength: float, rng: np.random.Generator
                     ) -> np.ndarray:
    """One mix drawn from a Dirichlet centred on ``prior`` (d,): alpha = strength x d x
    prior, floored at 1e-3 (a zero prior share would make the Dirichlet undefined).

    The one Dirichlet sampler of mixforge: the sweep's ``dirichlet`` and ``regmix``
    strategies and the proposal's simulated top-k all draw through it. Smaller
    ``strength`` gives sparser, more extreme mixes.
    """
    return rng.dirichlet(np.maximum(prior * len(prior) * strength, 1e-3))


def random_strength(rng: np.random.Generator, strengths: tuple[float, float]) -> float:
    """A strength drawn log-uniformly from ``strengths`` (RegMix's range of Dirichlets)."""
    return float(np.exp(rng.uniform(np.log(strengths[0]), np.log(strengths[1]))))


def sample_mixes(tokens: dict[str, int], n: int, budget: int, epoch_cap: float = 4.0,
                 seed: int = 0, strengths: tuple[float, float] = (0.1, 5.0),
                 min_weight: float = 0.01, power: float = 0.5,
                 max_tries: int = 100_000) -> list[dict[str, float]]:
    """``n`` distinct candidate mixes (domain -> weight), the prior first."""
    domains = sorted(tokens)
    prior = np.array([token_prior(tokens, power)[d] for d in domains])
    avail = np.array([tokens[d] for d in domains], dtype=float)
    cap = epoch_cap * avail / budget if budget else np.full(len(domains), np.inf)
    rng = np.random.default_rng(seed)
    out, seen = [], set()
    candidates = [prior]
    tries = 0
    while len(out) < n and tries < max_tries:
        tries += 1
        w = candidates.pop() if candidates else dirichlet_around(
            prior, random_strength(rng, strengths), rng)
        w = np.where(w < min_weight, 0.0, w)
        if w.sum() <= 0:
            continue
        w = w / w.sum()
        if np.any(w > cap + 1e-12):
            continue
        key = tuple(np.round(w, 3))
        if key in seen:
            continue
        seen.add(key)
        out.append({d: float(x) for d, x in zip(domains, w, strict=True)})
    if len(out) < n:
        msg = (f"found only {len(out)} of {n} mixes within the epoch cap after {tries} draws; "
               "raise epoch_cap or lower the budget")
        raise ConfigError(msg)
    return out
