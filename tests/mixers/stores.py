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
