"""The plan of a mix: per domain, tokens available, tokens taken, epochs; and cap checks.

The budget is split by weight with largest-remainder rounding, so per-domain targets add
up to the budget exactly. A validation share (``val_fraction``) is carved from each
domain's target and held out as whole, never-repeated documents; the rest is the training
target, and its epochs count against the domain's tokens *minus* the held-out ones.

**A plan is a promise** (`plan_store`, what `mixforge mix plan` prints and what `export`
writes): the plan chooses the validation documents itself (a seeded permutation's prefix
closest to the validation target, the same one `materialize` holds out), so its ``val``
column is exact and ``train`` is the domain's target minus that; an export lands within
one document of ``train`` per domain, and never past ``cap`` × the training pool unless
the policy is ``exceed``. Validation yields to training, and says so in ``warnings``:

- a domain that trains keeps at least one document for training (a one-document domain
  gets no validation document);
- when holding out the chosen documents would push training past the cap (a domain at
  its cap, as UniMax and the proposer allocate them: caps are computed on all of a
  domain's tokens), the validation share shrinks until training fits; a budget share
  over the cap by rounding alone (a few tokens) is trimmed;
- a validation split that comes out empty (every domain's share is under half a
  document) is stated.

When a domain needs more epochs than its cap allows, the plan says so (``warnings`` and
the ``over_cap`` column) and what happens is explicit (``over_cap``): ``error`` (refuse to
materialize; the default), ``exceed`` (repeat past the cap), or ``shrink`` (take the
domain at its cap; the budget shrinks by the shortfall, stated in the plan and the
export manifest). Nothing is shrunk silently.

`plan_mix` without document lengths is the estimate from counts alone (``store.json``):
validation is then the exact share, not whole documents.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from ..errors import ConfigError
from .mix import Mix

if TYPE_CHECKING:
    from ..tokenize.store import TokenStore

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
    val_docs: int = 0   # documents held out (exact when planned from document lengths)


@dataclass
class Plan:
    """A mix resolved against a token store: what each domain gives and how often."""

    mix: Mix
    rows: list[DomainPlan]
    val_fraction: float = 0.0
    over_cap_policy: str = "error"
    warnings: list[str] = field(default_factory=list)
    exact: bool = False  # planned from document lengths (val chosen as whole documents)
    val_choice: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

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
            "train": r.train, "val": r.val, "val_docs": r.val_docs,
            "epochs": round(r.epochs, 3),
            "cap": r.cap, "over_cap": r.over_cap} for r in self.rows])
        total = {"domain": "TOTAL", "weight": round(sum(r.weight for r in self.rows), 4),
                 "docs": sum(r.docs for r in self.rows),
                 "available": sum(r.available for r in self.rows),
                 "taken": self.train_tokens + self.val_tokens,
                 "train": self.train_tokens, "val": self.val_tokens,
                 "val_docs": sum(r.val_docs for r in self.rows),
                 "epochs": round(self.train_tokens / max(1, sum(r.available - r.val
                                                              for r in self.rows)), 3),
                 "cap": max(r.cap for r in self.rows),
                 "over_cap": any(r.over_cap for r in self.rows)}
        return pl.concat([df, pl.DataFrame([total], schema=df.schema)])

    def to_dict(self) -> dict[str, Any]:
        return {"mix": self.mix.to_dict(), "val_fraction": self.val_fraction,
                "over_cap": self.over_cap_policy, "warnings": self.warnings,
                "exact": self.exact,
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


def domain_seed(seed: int, domain: str) -> np.random.SeedSequence:
    """The seed of one domain's sampling (from the mix seed and the domain's name, so a
    domain's documents do not change when another domain's weight does)."""
    h = int.from_bytes(hashlib.blake2b(domain.encode(), digest_size=8).digest(), "little")
    return np.random.SeedSequence([seed, h])


def closest_prefix(cum: np.ndarray, target: int, limit: float) -> int:
    """How many leading documents bring the running total closest to ``target``.

    ``cum`` is the running total after each document. Never past ``limit`` tokens.
    """
    k = int(np.searchsorted(cum, target, side="right"))  # cum[k-1] <= target < cum[k]
    if np.isfinite(limit):
        k = min(k, int(np.searchsorted(cum, limit, side="right")))
    below = int(cum[k - 1]) if k else 0
    if k < len(cum) and cum[k] <= limit and cum[k] - target < target - below:
        return k + 1
    return k


def _fits(train: int, pool: int, cap: float) -> bool:
    return not math.isfinite(cap) or train <= math.floor(cap * pool)


def choose_val(lens: np.ndarray, target: int, val_target: int, cap: float,
               ss: np.random.SeedSequence, exceed: bool = False) -> tuple[np.ndarray, list[str]]:
    """The validation documents of one domain (indices) and notes on any shortfall.

    ``lens``: tokens per document; ``target``: the domain's share of the budget (train +
    val); ``val_target``: its validation share; ``ss``: the domain's validation seed. The
    documents are the prefix of a seeded permutation closest to ``val_target``, then
    shortened while that leaves no document to train on, or (unless ``exceed``) while
    training on ``target`` minus them would pass ``cap`` epochs of what is left.
    """
    lens = np.asarray(lens, np.int64)
    perm = np.random.default_rng(ss).permutation(len(lens))
    if val_target <= 0 or not len(lens):
        return perm[:0], []
    cum = np.cumsum(lens[perm])
    total = int(cum[-1])
    k = closest_prefix(cum, val_target, target)  # never more than the domain's share
    notes = []
    first = k
    if target - val_target > 0:
        while k and total - int(cum[k - 1]) <= 0:  # keep a document to train on
            k -= 1
        if k < first:
            notes.append(f"validation holds out {k} of its {len(lens)} documents, not the "
                         f"{first} closest to its share: a domain that trains keeps at least "
                         "one document for training")
    if not exceed and k:
        fit = next((j for j in range(k, -1, -1)
                    if _fits(target - (int(cum[j - 1]) if j else 0),
                             total - (int(cum[j - 1]) if j else 0), cap)), None)
        if fit is not None and fit < k:
            v_old, v_new = int(cum[k - 1]), int(cum[fit - 1]) if fit else 0
            notes.append(f"validation shrinks from {v_old:,} to {v_new:,} tokens ({fit} "
                         f"documents) so that training stays within its cap of {cap:g} "
                         "epochs")
            k = fit
    return perm[:k], notes


def plan_store(mix: Mix, store: TokenStore, *, val_fraction: float = 0.0,
               over_cap: OverCap = "error") -> Plan:
    """The exact plan of ``mix`` against a token store: validation chosen as whole
    documents, as `materialize` (and so every export) takes them. See the module doc."""
    lens = {d: store.domain(d).doc_lens for d in store.domains}
    return plan_mix(mix, store.meta["domains"], val_fraction=val_fraction, over_cap=over_cap,
                    doc_lens=lens)


def plan_mix(mix: Mix, available: Mapping[str, Mapping[str, int]], *,
             val_fraction: float = 0.0, over_cap: OverCap = "error",
             doc_lens: Mapping[str, np.ndarray] | None = None) -> Plan:
    """Resolve ``mix`` against per-domain counts ``{domain: {"tokens": n, "docs": m}}``.

    With ``doc_lens`` (tokens per document, per domain, in store order) the plan is exact:
    validation is chosen as whole documents (`choose_val`); see the module doc.

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
    choice: dict[str, np.ndarray] = {}
    for d in sorted(available):
        n, docs = int(available[d]["tokens"]), int(available[d]["docs"])
        target, cap = targets[d], mix.cap(d)
        val_target = round(target * val_fraction)
        if doc_lens is not None:
            lens = np.asarray(doc_lens[d], np.int64)
            val_ss, _ = domain_seed(mix.seed, d).spawn(2)
            chosen, notes = choose_val(lens, target, val_target, cap, val_ss,
                                       exceed=over_cap == "exceed")
            choice[d] = chosen
            val, n_val = int(lens[chosen].sum()), len(chosen)
            warnings += [f"{d}: {note}" for note in notes]
        else:
            if val_target > n:
                msg = (f"domain {d!r}: validation needs {val_target:,} tokens but the domain "
                       f"has only {n:,}; lower val_fraction")
                raise ConfigError(msg)
            val, n_val = val_target, 0
        pool, train = n - val, target - val
        epochs = train / pool if pool else (math.inf if train else 0.0)
        over = not _fits(train, pool, cap)
        if over and pool and train - math.floor(cap * pool) <= max(2, 1e-6 * target):
            # over by rounding alone (a weight of exactly cap x tokens, split into integer
            # tokens): trim it, and say so
            warnings.append(f"{d}: {train - math.floor(cap * pool):,} tokens of rounding "
                            f"trimmed to stay within its cap of {cap:g} epochs")
            train, over = math.floor(cap * pool), False
        elif over:
            asked = (f"{d}: the mix asks {train:,} training tokens, {epochs:.2f} epochs of "
                     f"{pool:,}, over its cap of {cap:g}")
            if over_cap == "shrink" and math.isfinite(cap):
                train = math.floor(cap * pool)
                warnings.append(f"{asked}; shrunk to {train:,} tokens ({cap:g} epochs)")
            else:
                warnings.append(asked + ("; --over-cap exceed repeats it anyway"
                                         if over_cap == "exceed" else ""))
        rows.append(DomainPlan(d, weights[d], docs, n, target, val, train,
                               train / pool if pool else epochs, cap, over, n_val))
    if doc_lens is not None and val_fraction > 0 and not any(r.val for r in rows):
        warnings.append(
            f"the validation split is empty: with val_fraction {val_fraction:g} no domain "
            "holds out a whole document (each share is under half a document, or its "
            "documents are needed for training); raise --val-fraction to hold some out")
    return Plan(mix, rows, val_fraction, over_cap, warnings, exact=doc_lens is not None,
                val_choice=choice)
