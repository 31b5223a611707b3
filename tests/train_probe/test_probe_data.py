"""Probe data: the held-out split, windows straight from the store, mix proportions,
and held-out documents never read for training."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from mixforge.errors import ConfigError
from mixforge.mixers.mix import Mix
from mixforge.tokenize.store import TokenStore, finalize_store, write_shard
from mixforge.train_probe.data import (
    DomainStream,
    HeldOut,
    MixSampler,
    eval_windows,
    split_heldout,
)
from mixforge.train_probe.train import train_probes

sys.path.insert(0, str(Path(__file__).parent))
from naive_train_probe import stream_of


def test_heldout_split_is_seeded_bounded_and_keyed_by_id(store, heldout):
    again = split_heldout(store, seed=0)
    other = split_heldout(store, seed=1)
    for d in store.domains:
        dom = store.domain(d)
        held = heldout.docs[d]
        np.testing.assert_array_equal(held, again.docs[d])
        assert 1 <= len(held) < dom.n_docs
        # stops at the first document that reaches min(16384, 5% of the domain's tokens),
        # and holds at least min(16, a quarter of the documents)
        want = min(16384, 0.05 * dom.n_tokens)
        assert dom.doc_lens[held].sum() >= want or len(held) == dom.n_docs - 1
        assert len(held) >= min(16, dom.n_docs // 4)
        order = np.argsort(_rank(dom, 0))  # each document's place in the ranking
        assert order[held].max() == len(held) - 1  # the lowest-ranked documents
    assert any(not np.array_equal(heldout.docs[d], other.docs[d]) for d in store.domains)
    assert HeldOut.from_dict(heldout.to_dict()).docs.keys() == heldout.docs.keys()


def test_heldout_survives_resharding(store, heldout, tmp_path):
    """The same documents, reversed and split into two shards: the same ids held out."""
    src = store.domain("fortunes")
    n = src.n_docs
    ids = src.docs["id"].to_pylist()
    for shard, part in (("a", range(n - 1, n // 2 - 1, -1)), ("b", range(n // 2 - 1, -1, -1))):
        part = list(part)
        write_shard(tmp_path, shard, "fortunes",
                    np.concatenate([src.doc(i) for i in part]), src.doc_lens[part],
                    [ids[i] for i in part], ["s"] * len(part), np.ones(len(part), np.int64))
    finalize_store(tmp_path, store.vocab_size, {"kind": "test"})
    moved = split_heldout(TokenStore(tmp_path), seed=0)
    new_ids = TokenStore(tmp_path).domain("fortunes").docs["id"].to_pylist()
    assert sorted(new_ids[i] for i in moved.docs["fortunes"]) == sorted(
        ids[i] for i in heldout.docs["fortunes"])


def test_windows_equal_the_materialized_training_stream(store, heldout):
    rng = np.random.default_rng(0)
    for d in store.domains:
        dom = store.domain(d)
        stream = DomainStream(dom, heldout.docs[d])
        naive = stream_of(dom, heldout.docs[d])
        assert stream.n_tokens == len(naive)
        starts = [0, len(naive) - 5, *rng.integers(0, len(naive), 20)]  # incl. wrap-around
        for s in starts:
            want = np.concatenate([naive, naive])[s:s + 300]
            np.testing.assert_array_equal(stream.window(int(s), 300), want)


def test_sampler_follows_the_mix_exactly(store, heldout):
    doms = store.domains
    mix = Mix({doms[0]: 0.5, doms[1]: 0.3, doms[2]: 0.2})
    s = MixSampler(store, heldout, mix, batch_size=10, seq_len=16, seed=0)
    batches = [s.next_batch() for _ in range(10)]
    assert batches[0].shape == (10, 17) and batches[0].dtype == np.int64
    assert s.tokens_per_domain() == {doms[0]: 50 * 16, doms[1]: 30 * 16, doms[2]: 20 * 16}
    assert set(s.epochs()) == set(doms[:3])
    t = MixSampler(store, heldout, mix, batch_size=10, seq_len=16, seed=0)
    np.testing.assert_array_equal(t.next_batch(), batches[0])  # same seed, same stream
    with pytest.raises(ConfigError, match="not in the token store"):
        MixSampler(store, heldout, Mix({"nope": 1.0}), 4, 16, 0)


POISON = 65535  # not a token id of the store (vocab 1024): the model fails on it


def test_heldout_documents_never_reach_training(store, heldout, tiny, make_train, tmp_path):
    """A copy of the store whose held-out documents are overwritten with an invalid token
    id: sampling never yields it, a batched training run never meets it (the embedding
    would raise), and the eval windows consist of it alone."""
    poisoned = tmp_path / "store"
    shutil.copytree(store.path, poisoned)
    for d in store.domains:
        dom = store.domain(d)
        for i in heldout.docs[d]:
            mm = np.memmap(poisoned / d / "shard-00000.bin", dtype=np.uint16, mode="r+")
            off = int(dom.docs["offset"][int(i)].as_py())
            mm[off:off + int(dom.doc_lens[i])] = POISON
            mm.flush()
            del mm
    bad = TokenStore(poisoned)
    assert split_heldout(bad, seed=0).docs.keys() == heldout.docs.keys()
    s = MixSampler(bad, heldout, Mix(dict.fromkeys(bad.domains, 1.0)), 16, 64, seed=0)
    drawn = np.stack([s.next_batch() for _ in range(200)])
    assert not (drawn == POISON).any()
    assert (drawn < store.vocab_size).all() and len(np.unique(drawn)) > 500
    windows = eval_windows(store, heldout, tiny.seq_len, 1024)  # from the clean store
    mixes = [Mix(dict.fromkeys(store.domains, 1.0)), Mix({"python_code": 1.0})]
    runs = train_probes(bad, heldout, mixes, [0, 1], tiny, make_train(30), windows=windows)
    assert all(np.isfinite(r.train_loss).all() for r in runs)
    for win in eval_windows(bad, heldout, tiny.seq_len, 1024).values():
        assert (win == POISON).all()


def _rank(dom, seed):
    from mixforge.train_probe.data import _doc_rank

    return _doc_rank(dom.docs["id"].to_pylist(), seed)


def test_eval_windows_spread_over_heldout_documents(store, heldout):
    """Each held-out document gives its first min(len, c) tokens (c: one cap, +1 for
    the first few) so 1001 tokens come from every held-out document, not the first ones."""
    w = eval_windows(store, heldout, 32, 1000)
    for d, win in w.items():
        dom = store.domain(d)
        docs = [dom.doc(int(i)) for i in heldout.docs[d]]
        lens = np.array([len(x) for x in docs])
        take = np.minimum(lens, 1001)
        if lens.sum() > 1001:  # the naive water level
            cap = max(c for c in range(1002) if np.minimum(lens, c).sum() <= 1001)
            take = np.minimum(lens, cap)
            extra = 1001 - take.sum()
            take[np.flatnonzero(lens > cap)[:extra]] += 1
        toks = np.concatenate([x[:t] for x, t in zip(docs, take, strict=True)])
        n = (len(toks) - 1) // 32
        assert win.shape == (n, 33)
        np.testing.assert_array_equal(win[:, 1:].ravel(), toks[1:1 + n * 32])
        np.testing.assert_array_equal(win[:, 0], toks[0:n * 32:32])
