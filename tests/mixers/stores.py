"""Helpers of the mixers tests: write small token stores with known documents."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mixforge.tokenize.store import finalize_store, token_dtype, write_shard


def make_store(out: Path, docs: dict[str, list[list[np.ndarray]]], vocab_size: int,
               eos_id: int | None = None) -> Path:
    """A token store: ``docs[domain]`` is a list of shards, each a list of documents."""
    dtype = token_dtype(vocab_size)
    for domain, shards in docs.items():
        for si, shard in enumerate(shards):
            lens = np.array([len(d) for d in shard], np.int64)
            tokens = (np.concatenate(shard) if shard else np.zeros(0)).astype(dtype)
            ids = [f"{domain}-{si}-{i}" for i in range(len(shard))]
            write_shard(out, f"shard-{si:05d}", domain, tokens, lens, ids,
                        [f"planted:{i}" for i in ids], lens * 4)
    extra = {"eos_id": eos_id} if eos_id is not None else {}
    finalize_store(out, vocab_size, {"kind": "planted", "vocab_size": vocab_size}, extra)
    return out


def random_docs(rng: np.random.Generator, n_docs: int, vocab: int, max_len: int = 50,
                eos_id: int | None = None) -> list[np.ndarray]:
    """Random documents (ids < vocab, never eos), each optionally ending with eos."""
    out = []
    for _ in range(n_docs):
        d = rng.integers(0, vocab - 1, rng.integers(1, max_len + 1))
        if eos_id is not None:
            d = np.where(d == eos_id, eos_id - 1, d)
            d = np.append(d, eos_id)
        out.append(d)
    return out


def expected_docs(store_path: Path, mix, split: str, **kw) -> list[np.ndarray]:
    """The documents an export of ``mix`` must hold, in order, straight from the store.

    Recomputed with `materialize` and `TokenStore.doc` (not from the export's own files).
    """
    from mixforge.mixers.materialize import materialize
    from mixforge.tokenize.store import TokenStore

    store = TokenStore(store_path)
    m = materialize(store, mix, **kw)
    sel = m.splits[split]
    out = []
    for d, i in zip(sel.domain, sel.doc, strict=True):
        doc = np.asarray(store.domain(m.domains[d]).doc(int(i)), np.int64)
        out.append(np.append(doc, m.eos_id) if m.append_eos else doc)
    return out


def split_on(tokens: np.ndarray, eos: int) -> list[np.ndarray]:
    """Cut a flat stream after every ``eos`` (a document per piece, eos kept)."""
    ends = np.flatnonzero(tokens == eos) + 1
    return [np.asarray(p, np.int64) for p in np.split(tokens, ends) if len(p)]


def same_docs(got: list[np.ndarray], want: list[np.ndarray]) -> bool:
    return len(got) == len(want) and all(np.array_equal(np.asarray(g, np.int64), w)
                                         for g, w in zip(got, want, strict=True))
