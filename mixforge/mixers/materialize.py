"""Materialize a mix: which documents, how often, in which order — deterministically.

Per domain, a validation set of documents is held out first (a seeded choice, so the
same seed always holds out the same documents); the budget is then met with whole
training documents: full epochs as fresh seeded permutations, then a partial epoch cut
where the running total is closest to the target (so each domain lands within one
document of the plan). Finally everything is shuffled globally with the mix's seed.
Only (domain, document) index pairs are held in memory: 16 bytes per sampled document.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..tokenize.store import TokenStore
from .mix import Mix

PICK = np.dtype([("domain", np.int32), ("doc", np.int64)])


@dataclass
class Selection:
    """The documents of a materialized mix, in output order."""

    domains: list[str]
    train: np.ndarray  # PICK records
    val: np.ndarray
    tokens: dict[str, int]  # training tokens taken per domain

    def n_tokens(self, store: TokenStore, split: str = "train") -> int:
        picks = self.train if split == "train" else self.val
        lens = [store.domain(d).doc_lens for d in self.domains]
        return int(sum(lens[d][i] for d, i in picks)) if len(picks) else 0


def _rng(seed: int, *keys: str | int) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(str(k).encode()) for k in keys)])


def held_out(n_docs: int, fraction: float, seed: int, domain: str) -> np.ndarray:
    """Boolean mask of the documents held out for validation in ``domain``."""
    mask = np.zeros(n_docs, dtype=bool)
    k = min(round(n_docs * fraction), n_docs - 1)  # a domain of < 1/fraction docs keeps all
    if k > 0:
        mask[_rng(seed, "val", domain).choice(n_docs, k, replace=False)] = True
    return mask


def train_tokens(store: TokenStore, val_fraction: float = 0.01, seed: int = 0
                 ) -> dict[str, int]:
    """Tokens each domain has for training once its validation documents are held out:
    what a strategy should size a mix by, so caps hold when it is materialized."""
    out = {}
    for d in store.domains:
        dom = store.domain(d)
        out[d] = int(dom.doc_lens[~held_out(dom.n_docs, val_fraction, seed, d)].sum())
    return out


def _take(pool: np.ndarray, lens: np.ndarray, target: int, rng: np.random.Generator
          ) -> list[np.ndarray]:
    picked, remaining = [], target
    while remaining > 0:
        perm = rng.permutation(pool)
        cum = np.cumsum(lens[perm])
        if cum[-1] <= remaining:
            picked.append(perm)
            remaining -= int(cum[-1])
            continue
        k = int(np.searchsorted(cum, remaining))  # cum[k] >= remaining > cum[k-1]
        under = remaining - (int(cum[k - 1]) if k else 0)
        over = int(cum[k]) - remaining
        picked.append(perm[: k + 1] if over < under else perm[:k])
        break
    return picked


def materialize(mix: Mix, store: TokenStore, val_fraction: float = 0.01) -> Selection:
    """Choose the documents of ``mix`` (raises if a domain would exceed its epoch cap)."""
    budget = mix.budget_tokens or sum(store.info(d)["tokens"] for d in store.domains)
    missing = sorted(set(mix.weights) - set(store.domains))
    if missing:
        msg = f"the mix names domains the token store lacks: {missing}"
        raise ConfigError(msg)
    domains = [d for d in store.domains if mix.weights.get(d, 0) > 0]
    train, val, taken = [], [], {}
    for di, d in enumerate(domains):
        dom = store.domain(d)
        lens = dom.doc_lens
        is_val = held_out(dom.n_docs, val_fraction, mix.seed, d)
        pool = np.flatnonzero(~is_val)
        target = round(mix.weights[d] * budget)
        available = int(lens[pool].sum())
        if available == 0 or target > mix.cap(d) * available + 1:  # +1: rounding
            msg = (f"domain {d!r} needs {target:,} tokens but has {available:,} for training "
                   f"({target / max(available, 1):.2f} epochs > cap {mix.cap(d):g}); raise "
                   "epoch_cap, lower the budget or the weight — the budget is never shrunk")
            raise ConfigError(msg)
        chosen = np.concatenate(_take(pool, lens, target, _rng(mix.seed, "train", d)) or
                                [np.zeros(0, np.int64)])
        taken[d] = int(lens[chosen].sum())
        train.append(np.rec.fromarrays([np.full(len(chosen), di, np.int32), chosen], dtype=PICK))
        v = np.flatnonzero(is_val)
        val.append(np.rec.fromarrays([np.full(len(v), di, np.int32), v], dtype=PICK))
    train_all = np.concatenate(train) if train else np.zeros(0, PICK)
    val_all = np.concatenate(val) if val else np.zeros(0, PICK)
    train_all = train_all[_rng(mix.seed, "shuffle").permutation(len(train_all))]
    val_all = val_all[_rng(mix.seed, "shuffle-val").permutation(len(val_all))]
    return Selection(domains, np.asarray(train_all), np.asarray(val_all), taken)


def iter_tokens(store: TokenStore, sel: Selection, picks: np.ndarray,
                chunk_docs: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (tokens back to back, tokens per document) for ``picks``, a chunk at a time."""
    doms = [store.domain(d) for d in sel.domains]
    for start in range(0, len(picks), chunk_docs):
        chunk = picks[start:start + chunk_docs]
        parts = [doms[d].doc(i) for d, i in zip(chunk["domain"], chunk["doc"], strict=True)]
        lens = np.fromiter((len(p) for p in parts), np.int64, len(parts))
        yield (np.concatenate(parts) if parts else np.zeros(0, store.dtype)), lens
