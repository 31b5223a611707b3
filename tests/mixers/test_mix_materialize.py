"""Materializing a mix: budgets within a document, caps, held-out validation, determinism,
and the gather kernel against its naive twin."""

from __future__ import annotations

import numpy as np
import pytest

from mixforge.errors import ConfigError
from mixforge.mixers._kernels import gather_docs
from mixforge.mixers.materialize import _closest_prefix, materialize, pack, sample_domain
from mixforge.mixers.mix import Mix
from mixforge.mixers.strategies import store_tokens, temperature, unimax
from mixforge.tokenize.store import TokenStore
from tests.mixers.naive_mixers import naive_closest_prefix, naive_gather


def test_gather_matches_naive_on_random_input():
    rng = np.random.default_rng(0)
    for src_dtype, dst_dtype in [(np.uint16, np.uint16), (np.uint16, np.int32),
                                 (np.uint32, np.uint32), (np.uint32, np.int32)]:
        src = rng.integers(0, 60_000, 5_000).astype(src_dtype)
        lens = rng.integers(0, 40, 200)
        starts = rng.integers(0, len(src) - 40, 200)
        for eos in (None, 7):
            pos = np.zeros(200, np.int64)
            np.cumsum(lens[:-1] + (eos is not None), out=pos[1:])
            size = int(lens.sum()) + (200 if eos is not None else 0)
            fast, slow = np.zeros(size, dst_dtype), np.zeros(size, dst_dtype)
            gather_docs(src, starts, lens, fast, pos, eos)
            naive_gather(src, starts, lens, slow, pos, eos)
            assert np.array_equal(fast, slow)
    with pytest.raises(ValueError, match="outside"):
        gather_docs(np.zeros(5, np.uint16), [3], [4], np.zeros(10, np.uint16), [0])


def test_closest_prefix_matches_naive():
    rng = np.random.default_rng(1)
    for _ in range(300):
        cum = np.cumsum(rng.integers(1, 30, rng.integers(1, 20)))
        target = int(rng.integers(0, cum[-1] + 10))
        limit = float(rng.choice([np.inf, target + rng.integers(0, 20)]))
        k = _closest_prefix(cum, target, limit)
        assert k == naive_closest_prefix(cum, target, limit)


def test_sample_domain_epochs_and_validation():
    rng = np.random.default_rng(2)
    lens = rng.integers(1, 50, 100)
    total = int(lens.sum())
    ss = np.random.SeedSequence(3)
    val, train = sample_domain(lens, total // 10, int(2.5 * total), 4.0, ss)
    assert not set(val) & set(train)
    assert abs(int(lens[val].sum()) - total // 10) <= lens.max()
    pool = np.setdiff1d(np.arange(100), val)
    pool_tokens = int(lens[pool].sum())
    taken = int(lens[train].sum())
    assert abs(taken - int(2.5 * total)) <= lens.max()
    counts = np.bincount(train, minlength=100)[pool]
    # two full epochs, then every document at most once more
    assert counts.min() >= 2 and counts.max() <= 3
    # a cap of 1 epoch is never passed, even when the target is exactly at it
    _, t1 = sample_domain(lens, 0, total, 1.0, np.random.SeedSequence(4))
    assert int(lens[t1].sum()) == total and np.bincount(t1).max() == 1
    _, t2 = sample_domain(lens, 0, int(1.5 * pool_tokens), 1.5, np.random.SeedSequence(5))
    assert int(lens[t2].sum()) <= int(1.5 * total)


@pytest.mark.parametrize("strategy", ["temperature", "unimax"])
def test_budget_and_caps_on_real_data(token_store, strategy):
    tokens = store_tokens(token_store)
    if strategy == "temperature":
        mix = temperature(tokens, int(sum(tokens.values()) * 0.8), 3.0, epoch_cap=4.0, seed=3)
    else:  # the domains are about equal in size: about 1.5 epochs each, under a cap of 2
        mix = unimax(tokens, int(sum(tokens.values()) * 1.5), epoch_cap=2.0, seed=3)
    m = materialize(token_store, mix, val_fraction=0.02)
    store = TokenStore(token_store)
    train, val = m.taken("train"), m.taken("val")
    for row in m.plan.rows:
        max_doc = int(store.domain(row.domain).doc_lens.max())
        assert abs(train[row.domain]["tokens"] - row.train) <= max_doc, row
        assert abs(val[row.domain]["tokens"] - row.val) <= max_doc, row
        pool = row.available - val[row.domain]["tokens"]
        assert train[row.domain]["tokens"] <= row.cap * pool, row
    # whole documents: each selected document's tokens are counted at its full length
    sel = m.splits["train"]
    for di, d in enumerate(m.domains):
        docs = sel.doc[sel.domain == di]
        assert train[d]["docs"] == len(docs)
        # no document is both held out and trained on
        vsel = m.splits["val"]
        assert not set(vsel.doc[vsel.domain == di]) & set(docs)
    if strategy == "unimax":
        # 1.5 epochs: documents repeat, but none past the cap of 2
        counts = np.unique(sel.domain.astype(np.int64) << 32 | sel.doc, return_counts=True)[1]
        assert counts.max() == 2


def test_chunks_are_the_store_documents_in_order(token_store):
    store = TokenStore(token_store)
    tokens = store_tokens(store)
    mix = Mix(dict.fromkeys(tokens, 1.0), budget_tokens=60_000, seed=9)
    m = materialize(store, mix, val_fraction=0.05)
    assert not m.append_eos  # the fixture's documents end with EOS already
    for split in ("train", "val"):
        chunks = list(m.chunks(split, np.int32, chunk_tokens=5_000))
        assert len(chunks) > (3 if split == "train" else 0)
        sel = m.splits[split]
        doms = np.concatenate([c.domain for c in chunks])
        docs = np.concatenate([c.doc for c in chunks])
        assert np.array_equal(doms, sel.domain) and np.array_equal(docs, sel.doc)
        flat = np.concatenate([c.tokens for c in chunks])
        want = np.concatenate([store.domain(m.domains[d]).doc(i)
                               for d, i in zip(doms, docs, strict=True)])
        assert flat.dtype == np.int32 and np.array_equal(flat, want)
        assert len(flat) == m.n_tokens(split)
        # packing: rows of 128 are the same stream, cut; the tail is counted
        counts: dict[str, int] = {}
        rows = np.concatenate([c.tokens for c in pack(iter(chunks), 128, counts)])
        assert len(rows) % 128 == 0 and np.array_equal(rows, flat[: len(rows)])
        assert counts["dropped_tail_tokens"] == len(flat) - len(rows) < 128


def test_same_seed_same_selection_other_seed_other(token_store):
    tokens = store_tokens(token_store)
    a = materialize(token_store, Mix(tokens, budget_tokens=50_000, seed=1))
    b = materialize(token_store, Mix(tokens, budget_tokens=50_000, seed=1))
    c = materialize(token_store, Mix(tokens, budget_tokens=50_000, seed=2))
    assert np.array_equal(a.splits["train"].doc, b.splits["train"].doc)
    assert np.array_equal(a.splits["train"].domain, b.splits["train"].domain)
    assert not np.array_equal(a.splits["train"].doc, c.splits["train"].doc)
    # changing one domain's weight leaves the other domains' documents as they were
    w = dict(Mix(tokens).weights)
    d0, d1 = sorted(w)[:2]
    w2 = {**w, d0: w[d0] * 1.5}
    budget2 = 50_000 * sum(w2.values())
    e = materialize(token_store, Mix(w2, budget_tokens=round(budget2), seed=1))
    keep = e.domains.index(d1)
    a_docs = sorted(a.splits["train"].doc[a.splits["train"].domain == keep])
    e_docs = sorted(e.splits["train"].doc[e.splits["train"].domain == keep])
    assert abs(len(a_docs) - len(e_docs)) <= 1
    assert set(a_docs[:-1]) <= set(e_docs) or set(e_docs[:-1]) <= set(a_docs)


def test_eos_policies(big_vocab_store):
    tokens = store_tokens(big_vocab_store)
    m = materialize(big_vocab_store, Mix(tokens, budget_tokens=2_000))
    assert m.append_eos and m.eos_id == 99_999
    flat = np.concatenate([c.tokens for c in m.chunks("train", np.uint32)])
    assert int((flat == 99_999).sum()) == len(m.splits["train"])
    never = materialize(big_vocab_store, Mix(tokens, budget_tokens=2_000), append_eos="never")
    assert never.n_tokens("train") == m.n_tokens("train") - len(m.splits["train"])
    with pytest.raises(ConfigError, match="append_eos"):
        materialize(big_vocab_store, Mix(tokens, budget_tokens=10), append_eos="sometimes")


def test_over_cap_policies_on_real_data(token_store, caplog):
    tokens = store_tokens(token_store)
    mix = Mix(tokens, budget_tokens=int(sum(tokens.values()) * 1.5), epoch_cap=1.2, seed=1)
    with pytest.raises(ConfigError, match="beyond their epoch cap"):
        materialize(token_store, mix)
    with caplog.at_level("WARNING"):
        ex = materialize(token_store, mix, over_cap="exceed")
    assert "over_cap=exceed" in caplog.text
    sh = materialize(token_store, mix, over_cap="shrink")
    assert "shrinks by" in caplog.text
    for d in ex.domains:
        n = tokens[d]
        assert ex.taken("train")[d]["tokens"] > 1.2 * n          # repeated past the cap
        assert sh.taken("train")[d]["tokens"] <= 1.2 * n         # held at the cap
    assert sh.plan.shortfall > 0 and ex.plan.shortfall == 0
