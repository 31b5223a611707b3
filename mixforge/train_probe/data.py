"""Probe data: training sequences drawn per domain in a mix's proportions, straight from
the memory-mapped token store, and a held-out set per domain that training never sees.

Held-out split (once per sweep, saved beside the results): in each domain, documents are
ranked by ``blake2b(seed, doc id)`` and the lowest-ranked are held out until they hold
``heldout_frac`` of the domain's tokens, capped at ``heldout_tokens`` (at least one
document held out, at least one left to train on). Keyed by document id, not position, so
a document stays held out when the store is re-sharded; the split costs one hash per
document (~1 µs).

Training sequences: probe k's batch is ``batch_size`` windows of ``seq_len + 1`` tokens.
Each window's domain comes from a deterministic quota (the domain furthest below its
share of the windows drawn so far), so a probe sees its mix's proportions exactly, not
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
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..mixers.mix import Mix
from ..tokenize.store import DomainTokens, TokenStore


@dataclass
class HeldOut:
    """Held-out document indices per domain (store order), with the rule that chose them."""

    seed: int
    frac: float
    max_tokens: int
    docs: dict[str, np.ndarray] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"seed": self.seed, "frac": self.frac, "max_tokens": self.max_tokens,
                "docs": {d: [int(i) for i in v] for d, v in self.docs.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> HeldOut:
        return cls(int(data["seed"]), float(data["frac"]), int(data["max_tokens"]),
                   {d: np.asarray(v, dtype=np.int64) for d, v in data["docs"].items()})


def _doc_rank(ids: list[str], seed: int) -> np.ndarray:
    salt = f"{seed}:".encode()
    keys = np.fromiter((int.from_bytes(hashlib.blake2b(salt + i.encode(), digest_size=8)
                                       .digest(), "little") for i in ids),
                       dtype=np.uint64, count=len(ids))
    return np.argsort(keys, kind="stable")


def split_heldout(store: TokenStore, seed: int = 0, frac: float = 0.05,
                  max_tokens: int = 16384) -> HeldOut:
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
    out = HeldOut(seed, frac, max_tokens)
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
        self.cum = np.concatenate([[0], np.cumsum(dom.doc_lens[self.train_docs])])

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
        while filled < length:
            doc = self.dom.doc(int(self.train_docs[j]))
            take = min(len(doc) - off, length - filled)
            out[filled:filled + take] = doc[off:off + take]
            filled += take
            off = 0
            j = (j + 1) % len(self.train_docs)
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
        self.rng = np.random.default_rng([int(seed), 0x9E3779B9])
        self.drawn = np.zeros(len(self.domains), dtype=np.int64)  # windows per domain

    def next_domains(self, n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.int64)
        for i in range(n):
            total = self.drawn.sum() + 1
            j = int(np.argmax(self.weights * total - self.drawn))
            self.drawn[j] += 1
            out[i] = j
        return out

    def next_batch(self) -> np.ndarray:
        """(batch_size, seq_len + 1) int64 tokens: inputs are [:, :-1], targets [:, 1:]."""
        length = self.seq_len + 1
        rows = np.empty((self.batch_size, length), dtype=np.int64)
        for r, j in enumerate(self.next_domains(self.batch_size)):
            stream = self.streams[j]
            start = int(self.rng.integers(0, stream.n_tokens))
            rows[r] = stream.window(start, length)
        return rows

    def tokens_per_domain(self) -> dict[str, int]:
        """Training tokens drawn so far per domain (windows x seq_len)."""
        return {d: int(n) * self.seq_len for d, n in zip(self.domains, self.drawn, strict=True)}

    def epochs(self) -> dict[str, float]:
        """How many times each domain's training tokens have been seen (on average)."""
        return {d: int(n) * self.seq_len / s.n_tokens
                for d, n, s in zip(self.domains, self.drawn, self.streams, strict=True)}


def eval_windows(store: TokenStore, heldout: HeldOut, seq_len: int,
                 max_tokens: int | None = None) -> dict[str, np.ndarray]:
    """Held-out tokens of each domain cut into (n, seq_len + 1) windows, overlapping by
    one token so every held-out token after the first is predicted exactly once."""
    out = {}
    for name in store.domains:
        dom = store.domain(name)
        toks = np.concatenate([dom.doc(int(i)) for i in heldout.docs[name]]).astype(np.int64)
        if max_tokens:
            toks = toks[: max_tokens + 1]
        n = max((len(toks) - 1) // seq_len, 0)
        if n == 0:
            msg = (f"domain {name!r}: its held-out documents hold {len(toks)} tokens, fewer "
                   f"than one window of {seq_len + 1}; raise heldout_tokens/heldout_frac")
            raise ConfigError(msg)
        idx = np.arange(n)[:, None] * seq_len + np.arange(seq_len + 1)[None, :]
        out[name] = toks[idx]
    return out
