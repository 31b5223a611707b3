"""Strategies, plans, budgets and epoch caps on the real token store."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mixforge.errors import ConfigError
from mixforge.mixers.materialize import materialize
from mixforge.mixers.mix import Mix
from mixforge.mixers.plan import plan_mix
from mixforge.mixers.strategies import make_mix
from mixforge.tokenize.store import TokenStore


@pytest.fixture(scope="module")
def store(token_store):
    return TokenStore(token_store)


@pytest.fixture(scope="module")
def tokens(store):
    return {d: store.info(d)["tokens"] for d in store.domains}


def test_strategies(tokens):
    total = sum(tokens.values())
    nat = make_mix("natural", tokens)
    assert all(math.isclose(nat.weights[d], n / total) for d, n in tokens.items())
    assert set(make_mix("uniform", tokens).weights.values()) == {1 / len(tokens)}
    t2 = make_mix("temperature", tokens, tau=2.0)
    norm = sum(n ** 0.5 for n in tokens.values())
    assert all(math.isclose(t2.weights[d], n ** 0.5 / norm) for d, n in tokens.items())
    # UniMax: with a budget of 3 epochs of the smallest domain per domain and a cap of 1,
    # every domain is capped at its own size... and the small ones cannot take more
    small = min(tokens.values())
    uni = make_mix("unimax", tokens, budget=len(tokens) * small, epoch_cap=1.0)
    assert all(math.isclose(w, 1 / len(tokens)) for w in uni.weights.values())
    big = make_mix("unimax", tokens, budget=2 * sum(tokens.values()), epoch_cap=1.0)
    assert big.provenance["unallocated_tokens"] == sum(tokens.values())
    with pytest.raises(ConfigError, match="unknown mix strategy"):
        make_mix("best", tokens)


def test_materialized_tokens_within_one_document_of_the_plan(store, tokens):
    mix = make_mix("temperature", tokens, budget=400_000, tau=3.0, seed=1)
    sel = materialize(mix, store)
    plan, warnings = plan_mix(mix, store)
    assert not warnings
    for row in plan.iter_rows(named=True):
        longest = int(store.domain(row["domain"]).doc_lens.max())
        assert abs(sel.tokens[row["domain"]] - row["tokens_taken"]) <= longest
    train_docs = {(d, i) for d, i in sel.train}
    assert not train_docs & {(d, i) for d, i in sel.val}, "validation docs were trained on"


def test_epochs_above_one_repeat_documents_and_caps_hold(store, tokens):
    d = "fortunes"
    weights = dict.fromkeys(tokens, 0.0) | {d: 1.0}
    mix = Mix(weights, budget_tokens=int(2.5 * tokens[d]), epoch_cap=3.0, seed=3)
    sel = materialize(mix, store, val_fraction=0.0)
    counts = np.bincount(sel.train["doc"], minlength=store.domain(d).n_docs)
    assert counts.min() >= 2 and counts.max() <= 3
    assert abs(sel.tokens[d] - 2.5 * tokens[d]) <= store.domain(d).doc_lens.max()
    capped = Mix(weights, budget_tokens=int(2.5 * tokens[d]), epoch_cap=2.0)
    _, warnings = plan_mix(capped, store)
    assert warnings and "above its cap" in warnings[0]
    with pytest.raises(ConfigError, match="never shrunk"):
        materialize(capped, store)


def test_mix_files_round_trip_and_reject_bad_keys(tmp_path, tokens):
    mix = make_mix("unimax", tokens, budget=10_000, epoch_cap=2.0, seed=5)
    assert Mix.load(mix.save(tmp_path / "m.yaml")) == mix
    assert Mix.load(mix.save(tmp_path / "m.json")) == mix
    (tmp_path / "bad.yaml").write_text("weights: {a: 1}\nbudget: 3\n")
    with pytest.raises(ConfigError, match="unknown key 'budget'"):
        Mix.load(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="finite"):
        Mix({"a": -1.0})
