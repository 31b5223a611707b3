"""Materialize a mix: which documents, how often, in which order; streamed as token chunks.

Per domain (each from its own seed, derived from the mix seed and the domain name, so a
domain's sample does not change when another domain's weight does):

1. a seeded permutation of the domain's documents; its prefix closest to the validation
   target is held out (whole documents, never repeated, never in train);
2. training takes full epochs of the remaining documents (each epoch a fresh permutation)
   and then the prefix of one more permutation closest to what is left of the target:
   whole documents only, so a domain lands within half a document of its planned tokens
   (and never past ``cap * tokens`` unless the plan's policy is ``exceed``).

Then every split is shuffled globally with the mix seed, and streamed in chunks of about
``chunk_tokens`` tokens: a Numba kernel gathers each chunk's documents straight from the
memory-mapped shards (`_kernels.gather_docs`), optionally appending an end-of-text token.
``pack`` cuts the stream into fixed-length rows (the tail shorter than a row is dropped
and counted).

Memory bound of the global step: 8 bytes a document of a domain (its permutation), and
28 bytes per sampled document (domain id, document id, length, global permutation): a
10B-token export of 1k-token documents holds ~280 MB; chunks add ``chunk_tokens`` × the
output dtype (64 MB at the default 16M int32 tokens).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ConfigError
from ..tokenize.store import DomainTokens, TokenStore
from ._kernels import gather_docs
from .export_config import CHUNK_TOKENS
from .mix import Mix
from .plan import OverCap, Plan, choose_val, closest_prefix, domain_seed, plan_store

log = logging.getLogger(__name__)
AppendEos = Literal["auto", "always", "never"]


@dataclass
class Chunk:
    """A run of consecutive output documents (or packed rows) of one split."""

    tokens: np.ndarray      # the documents' tokens back to back (output dtype)
    doc_lens: np.ndarray    # int64, tokens per document as written (EOS included)
    domain: np.ndarray      # int32 index into Materialized.domains (-1 for packed rows)
    doc: np.ndarray         # int64 document index within its domain (-1 for packed rows)


@dataclass
class Selection:
    """The documents of one split, in output order."""

    domain: np.ndarray      # int32
    doc: np.ndarray         # int64

    def __len__(self) -> int:
        return len(self.doc)


_domain_seed = domain_seed          # the names tests and older callers import
_closest_prefix = closest_prefix


def sample_train(lens: np.ndarray, pool: np.ndarray, train_target: int, cap: float,
                 ss: np.random.SeedSequence, exceed: bool = False) -> np.ndarray:
    """The training documents of one domain (indices into ``lens``, repeats allowed).

    Full epochs of ``pool`` (each a fresh permutation), then the prefix of one more
    permutation closest to what is left of ``train_target``, never past ``cap`` epochs of
    the pool's tokens (unless ``exceed``): so the domain lands within one document of its
    target, and within its cap whenever its plan is.
    """
    pool_tokens = int(lens[pool].sum())
    if train_target <= 0 or pool_tokens == 0:
        return np.zeros(0, np.int64)
    limit = np.inf if exceed or not np.isfinite(cap) else int(np.floor(cap * pool_tokens))
    full = train_target // pool_tokens
    rng = np.random.default_rng(ss)
    parts = [pool[rng.permutation(len(pool))] for _ in range(full)]
    rest = train_target - full * pool_tokens
    if rest:
        last = pool[rng.permutation(len(pool))]
        k = closest_prefix(np.cumsum(lens[last]), rest, limit - full * pool_tokens)
        parts.append(last[:k])
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def sample_domain(lens: np.ndarray, val_target: int, train_target: int, cap: float,
                  ss: np.random.SeedSequence, exceed: bool = False
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(validation docs, training docs) of one domain, as document indices.

    ``lens`` are the documents' token counts; ``cap`` the epoch cap over the documents
    left after validation (ignored when ``exceed``). The validation documents are
    `plan.choose_val`'s for a domain target of ``val_target + train_target``; training
    then takes ``train_target`` (the plan's train is the target minus the validation
    tokens actually held out: use `materialize` for that).
    """
    lens = np.asarray(lens, np.int64)
    val_ss, train_ss = ss.spawn(2)
    val, _ = choose_val(lens, val_target + train_target, val_target, cap, val_ss, exceed)
    pool = np.setdiff1d(np.arange(len(lens)), val)
    return val, sample_train(lens, pool, train_target, cap, train_ss, exceed)


@dataclass
class _DomainIndex:
    lens: np.ndarray
    starts: np.ndarray
    shard_of: np.ndarray
    arrays: list[np.ndarray]
    tokens: DomainTokens  # its ``docs`` table is read once and cached

    @classmethod
    def of(cls, dt: DomainTokens) -> _DomainIndex:
        shard_of, starts, lens = dt.doc_index  # the store's own index, read once
        return cls(lens, starts, shard_of, dt.shard_arrays(), dt)

    def ends_with(self, token: int) -> bool:
        """Whether every non-empty document's last token is ``token``."""
        for s, arr in enumerate(self.arrays):
            m = (self.shard_of == s) & (self.lens > 0)
            if m.any() and not np.all(arr[self.starts[m] + self.lens[m] - 1] == token):
                return False
        return True


@dataclass
class Materialized:
    """A mix resolved to documents: the plan, each split's selection, and a chunk stream."""

    store: TokenStore
    plan: Plan
    domains: list[str]
    splits: dict[str, Selection]
    eos_id: int | None
    append_eos: bool
    _index: dict[str, _DomainIndex] = field(default_factory=dict, repr=False)

    @property
    def eos_terminated(self) -> bool:
        """Whether every document ends with ``eos_id`` as written (appended or stored)."""
        return self.eos_id is not None and (self.append_eos or all(
            self._index[d].ends_with(self.eos_id) for d in self.domains))

    def domain_tokens(self, domain: str) -> DomainTokens:
        """The store's reader of ``domain`` (cached: its document table is read once)."""
        return self._index[domain].tokens

    def taken(self, split: str) -> dict[str, dict[str, int]]:
        """Per domain, documents and store tokens (EOS not appended) in ``split``."""
        sel = self.splits[split]
        out = {}
        for di, d in enumerate(self.domains):
            docs = sel.doc[sel.domain == di]
            out[d] = {"docs": len(docs), "tokens": int(self._index[d].lens[docs].sum())}
        return out

    def doc_lens(self, split: str) -> np.ndarray:
        """Tokens per output document of ``split`` (EOS included), in output order."""
        sel = self.splits[split]
        lens = np.zeros(len(sel), np.int64)
        for di, d in enumerate(self.domains):
            m = sel.domain == di
            lens[m] = self._index[d].lens[sel.doc[m]]
        return lens + int(self.append_eos)

    def n_tokens(self, split: str) -> int:
        return int(self.doc_lens(split).sum())

    def chunks(self, split: str, dtype: np.dtype | type = np.int32,
               chunk_tokens: int = CHUNK_TOKENS, reuse: bool = False) -> Iterator[Chunk]:
        """Stream ``split`` as chunks of whole documents, about ``chunk_tokens`` each.

        ``reuse=True`` gathers every chunk into one buffer: no page faults on a fresh
        allocation per chunk (gathering 100 MB into a fresh buffer ran at 690 MB/s, into a
        reused one at 1,400 MB/s). A chunk is then valid only until the next one is asked
        for, which is how the writers consume them. (Gathering the next chunk in a thread
        while the last one is written was tried: no gain measurable on the shared 2 cores.)
        """
        sel, dtype = self.splits[split], np.dtype(dtype)
        lens = self.doc_lens(split)
        if not len(lens):
            return
        cum = np.cumsum(lens)
        cuts = np.searchsorted(cum, np.arange(chunk_tokens, int(cum[-1]), chunk_tokens),
                               side="right")
        bounds = [0, *sorted(set(int(c) for c in cuts if 0 < c < len(lens))), len(lens)]
        eos = self.eos_id if self.append_eos else None
        buf: np.ndarray | None = None
        for a, b in itertools.pairwise(bounds):
            dom, doc, ln = sel.domain[a:b], sel.doc[a:b], lens[a:b]
            pos = np.zeros(b - a, np.int64)
            np.cumsum(ln[:-1], out=pos[1:])
            size = int(ln.sum())
            if not reuse or buf is None or len(buf) < size:
                buf = np.empty(size, dtype)
            out = buf[:size]
            for di in np.unique(dom):
                idx = self._index[self.domains[di]]
                m = dom == di
                docs, dpos = doc[m], pos[m]
                shard = idx.shard_of[docs]
                for s in np.unique(shard):
                    ms = shard == s
                    gather_docs(idx.arrays[s], idx.starts[docs[ms]], idx.lens[docs[ms]], out,
                                dpos[ms], eos)
            yield Chunk(out, ln, dom, doc)


def pack(chunks: Iterator[Chunk], seq_len: int, counts: dict[str, int] | None = None
         ) -> Iterator[Chunk]:
    """Concatenate documents and cut them into rows of ``seq_len`` tokens.

    The last partial row is dropped; ``counts["dropped_tail_tokens"]`` says how many tokens.
    """
    if seq_len < 1:
        msg = f"seq_len must be >= 1, got {seq_len}"
        raise ConfigError(msg)
    carry: np.ndarray | None = None
    for c in chunks:
        buf = c.tokens if carry is None or not len(carry) else np.concatenate([carry, c.tokens])
        n = len(buf) // seq_len
        carry = buf[n * seq_len:].copy()
        if n:
            yield Chunk(buf[: n * seq_len], np.full(n, seq_len, np.int64),
                        np.full(n, -1, np.int32), np.full(n, -1, np.int64))
    if counts is not None:
        counts["dropped_tail_tokens"] = len(carry) if carry is not None else 0


def materialize(store: TokenStore | str | Path, mix: Mix, *, val_fraction: float = 0.0,
                over_cap: OverCap = "error", append_eos: AppendEos = "auto",
                eos_id: int | None = None) -> Materialized:
    """Plan ``mix`` against ``store`` and choose every split's documents and order.

    ``append_eos``: ``auto`` appends ``eos_id`` (default: the store's) after each document
    unless every document already ends with it; ``always`` / ``never`` force it.
    """
    store = store if isinstance(store, TokenStore) else TokenStore(store)
    plan = plan_store(mix, store, val_fraction=val_fraction, over_cap=over_cap)
    plan.check()
    for w in plan.warnings:
        log.warning("plan (over_cap=%s): %s", over_cap, w)
    if plan.shortfall:
        log.warning("the budget shrinks by %s tokens (see the warnings above)",
                    f"{plan.shortfall:,}")
    eos_id = eos_id if eos_id is not None else store.meta.get("eos_id")
    domains = [r.domain for r in plan.rows if r.train or r.val]
    index = {d: _DomainIndex.of(store.domain(d)) for d in domains}
    if append_eos == "auto":
        append = eos_id is not None and not all(index[d].ends_with(eos_id) for d in domains)
    elif append_eos == "always":
        if eos_id is None:
            msg = (f"append_eos=always but {store.path} names no eos_id; pass --eos-id")
            raise ConfigError(msg)
        append = True
    elif append_eos == "never":
        append = False
    else:
        msg = f"append_eos is {append_eos!r}; choose auto, always or never"
        raise ConfigError(msg)
    per: dict[str, list[tuple[int, np.ndarray]]] = {"train": [], "val": []}
    for di, d in enumerate(domains):
        row, lens = plan.row(d), index[d].lens
        val = plan.val_choice[d]  # the plan chose them: its val column is exact
        pool = np.setdiff1d(np.arange(len(lens)), val)
        _, train_ss = domain_seed(mix.seed, d).spawn(2)
        train = sample_train(lens, pool, row.train, row.cap, train_ss,
                             exceed=over_cap == "exceed")
        per["val"].append((di, val.astype(np.int64)))
        per["train"].append((di, train))
    splits = {}
    for i, name in enumerate(("train", "val")):
        dom = np.concatenate([np.full(len(x), di, np.int32) for di, x in per[name]] or
                             [np.zeros(0, np.int32)])
        doc = np.concatenate([x for _, x in per[name]] or [np.zeros(0, np.int64)])
        order = np.random.default_rng(np.random.SeedSequence([mix.seed, 7919, i])).permutation(
            len(doc))
        splits[name] = Selection(dom[order], doc[order].astype(np.int64))
    m = Materialized(store, plan, domains, splits, eos_id, append, index)
    for name in splits:
        log.info("materialize %s: %s documents, %s tokens", name, f"{len(splits[name]):,}",
                 f"{m.n_tokens(name):,}")
    return m
