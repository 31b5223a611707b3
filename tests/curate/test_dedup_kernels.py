"""Every dedup kernel against its slow twin (naive_curate), on random and on real text."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from mixforge.curate import lsh
from mixforge.curate.minhash import (
    MinHashParams,
    band_hashes,
    permutations,
    signatures,
    signatures_from_hashes,
)
from mixforge.curate.normalize import NormConfig, exact_keys, normalize, shingle_hashes

from . import naive_curate as N

POOL = [*"abcdeéxyzABCÉ   \t\n\r\v.,;!?-'\"()[]«»—…0129€$+",
        "\u00a0", "\u2028", "\u3000", "ﬁ", "Ｆ", "①", "ß", "Ω", "日本", "😀", "\x1c", "\x85",
        # scripts written without spaces (character tokens), and Hangul (words)
        "ก", "ไทย", "ข้", "カタ", "ひら", "ー", "中文字", "\U0002000b", "ສ", "ក", "한국"]


def random_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(POOL) for _ in range(rng.randint(0, 60))) for _ in range(n)]


def real_texts(table: pa.Table, n: int = 150) -> list[str]:
    texts = table["text"].to_pylist()
    rng = random.Random(0)
    return [t[:3000] for t in rng.sample(texts, n)]


ASCII_POOL = [chr(c) for c in range(0, 128)] + list("aaaeee     ..,,")


def random_ascii(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ASCII_POOL) for _ in range(rng.randint(0, 40)))
            for _ in range(n)]


@pytest.fixture(scope="module")
def texts(ingested_table) -> list[str]:
    """Random Unicode, random ASCII (the normalizer's fast path) and real documents."""
    return random_texts(300, 1) + random_ascii(300, 2) + real_texts(ingested_table)


@pytest.mark.parametrize("flags", [(True, True, True, True), (False, False, False, False),
                                   (True, False, True, False), (False, True, False, True)])
def test_normalize_matches_naive(texts, flags):
    got = normalize(pa.array(texts), NormConfig(*flags)).to_pylist()
    assert got == [N.normalize(t, *flags) for t in texts]


LETTERS = [*"ÀÉÎÕÜàéîõüÇçÑñŁłŚśŽžΑΒΓΔαβγδАБВГабвг日本語ȺȾ", "한", "ﬁ", "①", "  ", ". "]


@pytest.mark.parametrize("flags", [(True, True, True, True), (False, True, False, False),
                                   (True, False, True, True)])
def test_normalize_fast_unicode_path(flags):
    """Letters NFKC leaves alone are lowercased in the Numba pass (Ⱥ -> ⱥ grows from 2 to
    3 bytes); a document with any other code point (ﬁ, ①, Hangul) takes Arrow's path."""
    rng = random.Random(3)
    texts = ["".join(rng.choice(LETTERS[:-4] + LETTERS[-2:]) for _ in range(rng.randint(0, 30)))
             for _ in range(200)]
    texts += ["".join(rng.choice(LETTERS) for _ in range(rng.randint(0, 30)))
              for _ in range(200)]
    texts += ["Ⱥ" * 50, "ȺȺ ﬁ", "ΑΒΓ ΔΕ"]
    got = normalize(pa.array(texts), NormConfig(*flags)).to_pylist()
    assert got == [N.normalize(t, *flags) for t in texts]


def test_normalize_mixed_and_sliced_batches(texts):
    arr = pa.chunked_array([pa.array(texts[:250]), pa.array(texts[250:])]).slice(100, 400)
    assert normalize(arr, NormConfig()).to_pylist() == [N.normalize(t) for t in
                                                         texts[100:500]]
    ascii_only = [t for t in texts[300:600]]
    assert normalize(pa.array(ascii_only), NormConfig()).to_pylist() == [
        N.normalize(t) for t in ascii_only]


def test_exact_keys_match_naive(texts):
    cfg = NormConfig()
    hi, lo = exact_keys(pa.array(texts, pa.string()), cfg)
    want = [N.exact_key(t) for t in texts]
    assert [(int(a), int(b)) for a, b in zip(hi, lo, strict=True)] == want
    # planted: variants of one text collide, a one-word change does not
    a = exact_keys(pa.array(["The  Cat, sat!", "the cat sat", "THE CAT SAT.", "the cat sit"]),
                   cfg)
    assert len({(int(x), int(y)) for x, y in zip(*a, strict=True)}) == 2


@pytest.mark.parametrize("ngram", [1, 3, 5])
def test_shingles_match_naive(texts, ngram):
    norm = [N.normalize(t) for t in texts]
    hashes, offsets = shingle_hashes(pa.array(norm, pa.large_string()), ngram)
    for i, t in enumerate(norm):
        assert hashes[offsets[i]:offsets[i + 1]].tolist() == N.shingles(t, ngram)


@pytest.mark.parametrize("scheme", ["affine32", "affine64"])
def test_minhash_and_bands_match_naive(texts, scheme):
    p = MinHashParams(num_perm=16, bands=4, rows=4, ngram=3, seed=7, scheme=scheme)
    a, b = permutations(16, 7, scheme)
    sub = texts[::4]  # the naive twin is slow
    sig, counts = signatures(pa.array(sub), p, NormConfig())
    bands = band_hashes(sig, p)
    for i, t in enumerate(sub):
        sh = N.shingles(N.normalize(t), 3)
        assert counts[i] == len(sh)
        want = N.minhash(sh, a.tolist(), b.tolist(), scheme)
        assert sig[i].tolist() == want
        assert bands[i].tolist() == N.band_hashes(want, 4, 4)


@pytest.mark.parametrize("scheme", ["affine32", "affine64"])
def test_fused_kernel_equals_two_step(texts, scheme):
    p = MinHashParams(num_perm=64, bands=8, rows=8, ngram=5, scheme=scheme)
    sig, _ = signatures(pa.array(texts), p, NormConfig())
    h, o = shingle_hashes(pa.array(texts), 5, NormConfig())
    assert np.array_equal(sig, signatures_from_hashes(h, o, 64, scheme=scheme))


def test_string_and_sliced_columns(texts):
    p = MinHashParams(num_perm=32, bands=4, rows=8)
    full, _ = signatures(pa.array(texts, pa.string()), p)
    sliced, _ = signatures(pa.chunked_array([pa.array(texts[:10]), pa.array(texts[10:])])
                           .slice(5, 40), p)
    assert np.array_equal(full[5:45], sliced)


def test_union_find_matches_bfs():
    rng = np.random.default_rng(0)
    for n, m in [(1, 0), (10, 4), (200, 150), (500, 800)]:
        eu, ev = rng.integers(0, n, m), rng.integers(0, n, m)
        parent = lsh.union_find(n)
        lsh.union(parent, eu, ev)
        got = lsh.roots(parent).tolist()
        assert got == N.components(n, list(zip(eu.tolist(), ev.tolist(), strict=True)))


def test_bucket_edges_connect_equal_keys():
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 30, 400).astype(np.uint64)
    band = rng.integers(0, 2, 400).astype(np.uint64)
    idx = rng.permutation(400).astype(np.int64)
    order = np.lexsort((idx, band, keys))
    eu, ev = lsh.bucket_edges(keys[order], band[order], idx[order])
    parent = lsh.union_find(400)
    lsh.union(parent, eu, ev)
    got = lsh.roots(parent)
    groups: dict = {}
    for k, b_, i in zip(keys.tolist(), band.tolist(), idx.tolist(), strict=True):
        groups.setdefault((k, b_), []).append(i)
    edges = [(g[0], x) for g in groups.values() for x in g[1:]]
    assert got.tolist() == N.components(400, edges)
    assert len(eu) == sum(len(g) - 1 for g in groups.values())


def test_pair_jaccard_matches_sets(texts):
    h, o = shingle_hashes(pa.array(texts), 2, NormConfig())
    sh, so = lsh.shingle_sets(h, o)
    rng = np.random.default_rng(2)
    pu, pv = rng.integers(0, len(texts), 300), rng.integers(0, len(texts), 300)
    got = lsh.pair_jaccard(sh, so, pu, pv)
    sets = [set(h[o[i]:o[i + 1]].tolist()) for i in range(len(texts))]
    want = [N.jaccard(sets[u], sets[v]) for u, v in zip(pu, pv, strict=True)]
    assert np.allclose(got, want)
