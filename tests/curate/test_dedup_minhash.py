"""Compatibility with datasketch: permutations, signatures, Jaccard estimates, LSH params."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from mixforge.curate.minhash import (
    MinHashParams,
    optimal_params,
    permutations,
    signatures,
    signatures_from_hashes,
)
from mixforge.curate.normalize import NormConfig, normalize, shingle_hashes

SCHEMES = ["affine32", "affine64"]


def fold32(h: int) -> int:
    """What affine32 feeds on: the 64-bit shingle hash folded to 32 bits."""
    return (h ^ (h >> 32)) & 0xFFFFFFFF


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("num_perm,seed", [(128, 1), (37, 42)])
def test_permutations_are_datasketchs(num_perm, seed, scheme):
    a, b = permutations(num_perm, seed, scheme)
    ds = MinHash(num_perm=num_perm, seed=seed, scheme=scheme)
    assert np.array_equal(a, ds.permutations[0]) and np.array_equal(b, ds.permutations[1])
    assert a.dtype == ds.permutations[0].dtype


@pytest.mark.parametrize("scheme", SCHEMES)
def test_signatures_equal_datasketch_on_real_text(ingested_table, scheme):
    texts = ingested_table["text"].slice(0, 60)
    h, o = shingle_hashes(texts, 5, NormConfig())
    ours = signatures_from_hashes(h, o, 128, seed=3, scheme=scheme)
    fused, _ = signatures(texts, MinHashParams(128, 16, 8, 5, 3, scheme), NormConfig())
    assert np.array_equal(ours, fused)
    hashfunc = fold32 if scheme == "affine32" else int
    for i in range(len(texts)):
        m = MinHash(num_perm=128, seed=3, scheme=scheme, hashfunc=hashfunc)
        m.update_batch(h[o[i]:o[i + 1]].tolist())
        assert m.hashvalues.dtype == ours.dtype
        assert np.array_equal(m.hashvalues, ours[i]), i


def test_jaccard_estimates_agree_with_datasketch(near_dup_table):
    """Our estimates vs datasketch's own (SHA-1 shingle hashes, default scheme) on pairs
    of real licence texts: both estimate the same true Jaccard, within MinHash noise."""
    texts = near_dup_table["text"].slice(0, 300)
    norm = normalize(texts, NormConfig()).to_pylist()
    sig, _ = signatures(pa.array(norm), MinHashParams(256, 16, 16))
    ds = []
    for t in norm:
        w = t.split()
        grams = {" ".join(w[i:i + 5]).encode() for i in range(max(len(w) - 4, 1))}
        m = MinHash(num_perm=256)
        m.update_batch(sorted(grams))
        ds.append(m)
    n = len(norm)
    eq = (sig[:, None, :] == sig[None, :, :]).mean(axis=-1)
    iu, ju = np.triu_indices(n, 1)
    close = [(i, j) for i, j in zip(iu, ju, strict=True) if eq[i, j] > 0.3]
    rng = np.random.default_rng(0)
    pairs = close + [tuple(rng.choice(n, 2, replace=False)) for _ in range(200)]
    ours = np.array([(sig[i] == sig[j]).mean() for i, j in pairs])
    theirs = np.array([ds[i].jaccard(ds[j]) for i, j in pairs])
    # two independent 256-permutation estimates differ by at most ~sqrt(2 J(1-J)/256)
    # (<= 0.045 std): no bias, small mean gap, no outlier beyond ~4.5 std
    assert abs((ours - theirs).mean()) < 0.01
    assert np.abs(ours - theirs).mean() < 0.03
    assert np.abs(ours - theirs).max() < 0.2
    assert len(close) > 10  # the sample holds real near-duplicates
    assert np.corrcoef(ours, theirs)[0, 1] > 0.98


@pytest.mark.parametrize("threshold", [0.5, 0.8, 0.9])
@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.1, 0.9)])
def test_optimal_params_match_datasketch(threshold, weights):
    assert optimal_params(threshold, 128, weights) == _optimal_param(threshold, 128, *weights)


def test_params_validation():
    from mixforge.errors import ConfigError

    with pytest.raises(ConfigError, match="bands x rows"):
        MinHashParams(num_perm=64, bands=10, rows=10).validate()
    with pytest.raises(ConfigError, match="threshold"):
        optimal_params(1.5, 128)
