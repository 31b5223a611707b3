"""Probe data: training sequences drawn per domain in a mix's proportions, straight from
the memory-mapped token store, and a held-out set per domain that training never sees.

Held-out split (once per sweep, saved beside the results): in each domain, documents are
ranked by ``blake2b(seed, doc id)`` and the lowest-ranked are held out until they hold
``heldout_frac`` of the domain's tokens, capped at ``heldout_tokens``, and until they are
at least ``min_docs`` documents (but the document rule never takes more than a quarter
of a domain's documents); at least one document is held out and one left to train on. A
figure over 3 long documents measures those documents, not the domain: the document
floor spreads evaluation over many (16 by default). Keyed by document id, not position,
so a document stays held out when the store is re-sharded; the split costs one hash per
document (~1 µs).

Evaluation windows (`eval_windows`) take at most ``max_tokens`` held-out tokens per
domain, spread over the held-out documents (every document gives its first ``c``
tokens, ``c`` chosen so the total fits: short documents whole, long ones cut), not the
first documents' tokens only. A domain scored on fewer than ``MIN_EVAL_DOCS`` documents
or ``MIN_EVAL_TOKENS`` tokens is logged as resting on too little text.

Training sequences: probe k's batch is ``batch_size`` windows of ``seq_len + 1`` tokens.
Each batch's windows per domain come from a deterministic quota (after the batch, every
domain holds its share of all windows so far, rounded by largest remainder), so a probe
sees its mix's proportions exactly, not
up to multinomial noise (which is ±1.7 points for a 10% domain over 300 windows). The
window starts at a uniform token position of the domain's training documents (laid
end to end; documents end with EOS, so windows may cross document boundaries, as in
GPT-style packing). Positions come from the probe's own ``numpy`` generator: the stream
depends only on (mix, seed, split), never on which other probes share the batch.

Memory: only the per-domain document index (3 int64 per document) and the training-doc
cumulative lengths are held; tokens are read from the memory map per window.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

import numpy as np

from ..config import opt
from ..errors import ConfigError
from ..mixers.mix import Mix
from ..tokenize.store import DomainTokens, TokenStore

log = logging.getLogger(__name__)


@dataclass
class HeldOut:
    """Held-out document indices per domain (store order), with the rule that chose them."""

    seed: int
    frac: float
    max_tokens: int
    docs: dict[str, np.ndarray] = field(default_factory=dict)
    min_docs: int = 1

    def to_dict(self) -> dict:
        return {"seed": self.seed, "frac": self.frac, "max_tokens": self.max_tokens,
                "min_docs": self.min_docs,
                "docs": {d: [int(i) for i in v] for d, v in self.docs.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> HeldOut:
        return cls(int(data["seed"]), float(data["frac"]), int(data["max_tokens"]),
                   {d: np.asarray(v, dtype=np.int64) for d, v in data["docs"].items()},
                   int(data.get("min_docs", 1)))


def _doc_rank(ids: list[str], seed: int) -> np.ndarray:
    salt = f"{seed}:".encode()
    keys = np.fromiter((int.from_bytes(hashlib.blake2b(salt + i.encode(), digest_size=8)
                                       .digest(), "little") for i in ids),
                       dtype=np.uint64, count=len(ids))
    return np.argsort(keys, kind="stable")


MIN_EVAL_DOCS, MIN_EVAL_TOKENS = 10, 4096  # below either, a figure is flagged as thin


@dataclass
class HeldOutOptions:
    """How each domain's held-out documents are chosen: the options `probe sweep` and
    `mix evaluate` share (both configs inherit them; `split_heldout` applies them)."""

    heldout_frac: float = opt(0.05, "Hold out about this fraction of each domain's tokens.")
    heldout_tokens: int = opt(16384, "...but at most this many held-out tokens per domain.")
    heldout_docs: int = opt(16, "...and at least this many held-out documents per domain "
                            "(at most a quarter of its documents), so a figure is not "
                            "a few documents'.")

    def split_heldout(self, store: TokenStore, seed: int) -> HeldOut:
        """`split_heldout` with these options."""
        return split_heldout(store, seed, self.heldout_frac, self.heldout_tokens,
                             self.heldout_docs)


def split_heldout(store: TokenStore, seed: int = 0, frac: float = 0.05,
                  max_tokens: int = 16384, min_docs: int = 16) -> HeldOut:
    """Choose the held-out documents of every domain (see the module docstring).

    Examples
    --------
    >>> held = split_heldout(TokenStore("runs/r1/tokenize"), seed=0)  # doctest: +SKIP
    >>> held.docs["licenses"][:3]  # doctest: +SKIP
    array([ 812,   17, 2093])
    """
    if not 0 < frac < 1 or max_tokens < 1:
        msg = f"heldout_frac must be in (0, 1) and heldout_tokens >= 1; got {frac}, {max_tokens}"
        raise ConfigError(msg)
    out = HeldOut(seed, frac, max_tokens, min_docs=min_docs)
    for name in store.domains:
        dom = store.domain(name)
        if dom.n_docs < 2:
            msg = (f"domain {name!r} of {store.path} has {dom.n_docs} document(s); a probe "
                   "needs at least 2 (one held out, one to train on)")
            raise ConfigError(msg)
        order = _doc_rank(dom.docs["id"].to_pylist(), seed)
        want = min(max_tokens, frac * dom.n_tokens)
        cum = np.cumsum(dom.doc_lens[order])
        n = int(np.searchsorted(cum, want, side="left")) + 1
        n = max(n, min(min_docs, dom.n_docs // 4))
        n = min(max(n, 1), dom.n_docs - 1)
        out.docs[name] = np.sort(order[:n])
    return out


class DomainStream:
    """Training windows of one domain: its training documents laid end to end."""

    def __init__(self, dom: DomainTokens, heldout: np.ndarray) -> None:
        self.dom = dom
        mask = np.ones(dom.n_docs, dtype=bool)
        mask[heldout] = False
        self.train_docs = np.flatnonzero(mask)
        lens = dom.doc_lens[self.train_docs]
        self.cum = np.concatenate([[0], np.cumsum(lens)])
        if self.n_tokens == 0:
            msg = f"domain {dom.name!r} has no training tokens once its held-out docs are out"
            raise ConfigError(msg)
        # plain ndarray views of the memory maps (slicing a np.memmap costs ~10x more)
        self._arrays = [a.view(np.ndarray) for a in dom.shard_arrays()]
        shard, start, _ = dom.doc_index
        self._shard = shard[self.train_docs].tolist()
        self._start = start[self.train_docs].tolist()
        self._len = lens.tolist()

    @property
    def n_tokens(self) -> int:
        return int(self.cum[-1])

    def window(self, start: int, length: int) -> np.ndarray:
        """``length`` tokens from position ``start`` of the training stream (wraps)."""
        out = np.empty(length, dtype=np.int64)
        filled = 0
        pos = start % self.n_tokens
        j = int(np.searchsorted(self.cum, pos, side="right")) - 1
        off = pos - int(self.cum[j])
        n_docs = len(self._len)
        while filled < length:
            take = min(self._len[j] - off, length - filled)
            begin = self._start[j] + off
            out[filled:filled + take] = self._arrays[self._shard[j]][begin:begin + take]
            filled += take
            off = 0
            j = (j + 1) % n_docs
        return out


class MixSampler:
    """One probe's stream of (B, T+1) token windows in its mix's proportions.

    Examples
    --------
    >>> s = MixSampler(store, held, Mix({"code": 1, "web": 1}), 8, 128, seed=0)  # doctest: +SKIP
    >>> s.next_batch().shape  # doctest: +SKIP
    (8, 129)
    """

    def __init__(self, store: TokenStore, heldout: HeldOut, mix: Mix, batch_size: int,
                 seq_len: int, seed: int) -> None:
        unknown = sorted(set(mix.weights) - set(store.domains))
        if unknown:
            msg = (f"mix domain {unknown[0]!r} is not in the token store {store.path}; it "
                   f"has {store.domains}")
            raise ConfigError(msg)
        self.domains = [d for d in sorted(mix.weights) if mix.weights[d] > 0]
        self.weights = np.array([mix.weights[d] for d in self.domains])
        self.streams = [DomainStream(store.domain(d), heldout.docs[d]) for d in self.domains]
        self.batch_size, self.seq_len = batch_size, seq_len
        self.n_tokens = np.array([st.n_tokens for st in self.streams], dtype=np.int64)
        self.rng = np.random.default_rng([int(seed), 0x9E3779B9])
        self.drawn = np.zeros(len(self.domains), dtype=np.int64)  # windows per domain

    def next_domains(self, n: int) -> np.ndarray:
        """The domains of the next ``n`` windows: after them, every domain's count is its
        share of all windows so far, rounded (largest remainder), so the mix holds
        exactly at every batch boundary, not just on average."""
        deficit = self.weights * (self.drawn.sum() + n) - self.drawn
        counts = np.floor(np.maximum(deficit, 0)).astype(np.int64)
        short = n - int(counts.sum())
        if short < 0:  # an over-drawn domain (weights that do not sum to 1 exactly)
            counts = np.bincount(np.argsort(-deficit, kind="stable")[:n] % len(counts),
                                 minlength=len(counts))
        elif short:
            frac = np.where(deficit > 0, deficit - counts, -np.inf)
            counts[np.argsort(-frac, kind="stable")[:short]] += 1
        self.drawn += counts
        return np.repeat(np.arange(len(counts)), counts)

    def next_batch(self) -> np.ndarray:
        """(batch_size, seq_len + 1) int64 tokens: inputs are [:, :-1], targets [:, 1:]."""
        return self.next_labeled_batch()[0]

    def next_labeled_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """The next batch and each row's domain (an index into ``self.domains``)."""
        length = self.seq_len + 1
        rows = np.empty((self.batch_size, length), dtype=np.int64)
        doms = self.next_domains(self.batch_size)
        starts = self.rng.integers(0, self.n_tokens[doms])
        for r, (j, start) in enumerate(zip(doms.tolist(), starts.tolist(), strict=True)):
            rows[r] = self.streams[j].window(start, length)
        return rows, doms

    def tokens_per_domain(self) -> dict[str, int]:
        """Training tokens drawn so far per domain (windows x seq_len)."""
        return {d: int(n) * self.seq_len for d, n in zip(self.domains, self.drawn, strict=True)}

    def epochs(self) -> dict[str, float]:
        """How many times each domain's training tokens have been seen (on average)."""
        return {d: int(n) * self.seq_len / s.n_tokens
                for d, n, s in zip(self.domains, self.drawn, self.streams, strict=True)}


def spread_take(lens: np.ndarray, budget: int) -> np.ndarray:
    """How many leading tokens of each document to take so the total is
    ``min(budget, sum(lens))`` and every document gives ``min(len, c)`` for one cap ``c``
    (short documents whole, long ones cut; remainders go to the first long documents)."""
    lens = np.asarray(lens, dtype=np.int64)
    if budget >= lens.sum():
        return lens.copy()
    srt = np.sort(lens)
    n = len(srt)
    used = 0
    for i, v in enumerate(srt.tolist()):  # raise the cap document by document
        if used + v * (n - i) >= budget:
            cap = (budget - used) // (n - i)
            break
        used += v
    take = np.minimum(lens, cap)
    rest = budget - int(take.sum())
    for j in np.flatnonzero(lens > cap)[:rest].tolist():
        take[j] += 1
    return take


def doc_windows(docs: list[np.ndarray], seq_len: int, max_tokens: int | None,
                where: str) -> np.ndarray:
    """Documents' tokens (spread by `spread_take` under ``max_tokens + 1``) cut into
    (n, seq_len + 1) windows overlapping by one token."""
    lens = np.array([len(d) for d in docs], dtype=np.int64)
    take = spread_take(lens, max_tokens + 1) if max_tokens else lens
    toks = (np.concatenate([d[:t] for d, t in zip(docs, take.tolist(), strict=True)])
            .astype(np.int64) if docs else np.zeros(0, np.int64))
    n = max((len(toks) - 1) // seq_len, 0)
    if n == 0:
        msg = (f"{where}: its evaluation documents hold {len(toks)} tokens, fewer "
               f"than one window of {seq_len + 1}; raise heldout_tokens/heldout_frac")
        raise ConfigError(msg)
    n_docs = int((take > 0).sum())
    if n_docs < MIN_EVAL_DOCS or n * seq_len < MIN_EVAL_TOKENS:
        log.warning("%s is scored on %d document(s), %d tokens: too little text for a "
                    "figure to stand for it (want >= %d documents and >= %d tokens)",
                    where, n_docs, n * seq_len, MIN_EVAL_DOCS, MIN_EVAL_TOKENS)
    idx = np.arange(n)[:, None] * seq_len + np.arange(seq_len + 1)[None, :]
    return toks[idx]


def eval_windows(store: TokenStore, heldout: HeldOut, seq_len: int,
                 max_tokens: int | None = None) -> dict[str, np.ndarray]:
    """Held-out tokens of each domain cut into (n, seq_len + 1) windows, overlapping by
    one token so every scored token after the first is predicted exactly once; at most
    ``max_tokens`` + 1 tokens, spread over the held-out documents (`spread_take`)."""
    out = {}
    for name in store.domains:
        dom = store.domain(name)
        out[name] = doc_windows([dom.doc(int(i)) for i in heldout.docs[name]], seq_len,
                                max_tokens, f"domain {name!r}")
    return out


def target_windows(targets: dict[str, TokenStore], seq_len: int, max_tokens: int | None
                   ) -> dict[str, np.ndarray]:
    """Evaluation windows of data targets (evaluation-only stores, one domain each): all
    their documents in store order, spread under ``max_tokens`` like `eval_windows`.
    """
    out = {}
    for name, tstore in targets.items():
        dom = tstore.domain(tstore.domains[0])
        out[name] = doc_windows([dom.doc(i) for i in range(dom.n_docs)], seq_len,
                                max_tokens, f"target {name!r}")
    return out
