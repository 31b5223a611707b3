"""Shared fixtures: the real local corpus (small), its ingested run, and a token store.

Session-scoped and built once: a ~3 MB corpus of all seven domains, ingested into a run
directory, and a token store made with a tiny byte-level BPE trained in-process (as
nanochat's tests do). Tests that write must copy, never modify these.

The corpus is pinned: `mixforge corpus` draws on what the machine has installed (Debian
licence, copyright and changelog files, the venv's package READMEs, the Python patch
release), so its bytes differ from machine to machine. The tests read a frozen copy in
`tests/data/` (made once by `tests/data/make_pinned.py`), checked against
`tests/data/SHA256SUMS` before use, so every expected value follows from the same bytes
on every machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from mixforge.executor import LocalExecutor
from mixforge.ingest import IngestConfig, ingest
from mixforge.stats import stage_files
from mixforge.tokenize.loading import from_file
from mixforge.tokenize.store import finalize_store, write_shard
from mixforge.tokenize.token_bytes import token_byte_lengths
from tests.pinned import pinned_copy


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A fresh mixforge cache (``$MIXFORGE_CACHE``) for the session: tests neither read
    the user's cached tables (Unicode classes, tokenizer parts) nor leave theirs behind."""
    os.environ["MIXFORGE_CACHE"] = str(tmp_path_factory.mktemp("mixforge-cache"))


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pinned real corpus, about 3 MB over seven domains (read-only for tests)."""
    return pinned_copy("corpus", tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def ingested_run(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Path:
    """A run directory whose `ingest` stage holds the corpus (read-only for tests)."""
    run = tmp_path_factory.mktemp("run")
    ingest(IngestConfig(inputs=[str(corpus_dir)], shard_mb=0.5), run, LocalExecutor(1))
    return run


@pytest.fixture(scope="session")
def ingested_table(ingested_run: Path):
    """The ingested corpus as one Arrow table."""
    import pyarrow as pa

    return pa.concat_tables(pq.read_table(f) for f in stage_files(ingested_run / "ingest"))


@pytest.fixture(scope="session")
def tiny_tokenizer(ingested_table):
    """A byte-level BPE (vocab 1024) trained in-process on the corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1024, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(ingested_table["text"].to_pylist(), trainer=trainer)
    return tok


@pytest.fixture(scope="session")
def token_store(tmp_path_factory: pytest.TempPathFactory, ingested_table, tiny_tokenizer) -> Path:
    """A token store of the corpus (one shard per domain, EOS after each document)."""
    out = tmp_path_factory.mktemp("store")
    eos = tiny_tokenizer.token_to_id("<|endoftext|>")
    for domain in sorted(set(ingested_table["domain"].to_pylist())):
        t = ingested_table.filter(pc.equal(ingested_table["domain"], domain))
        texts = t["text"].to_pylist()
        enc = [[*e.ids, eos] for e in tiny_tokenizer.encode_batch(texts)]
        write_shard(out, "shard-00000", domain,
                    np.fromiter((i for ids in enc for i in ids), dtype=np.uint16),
                    np.array([len(e) for e in enc]), t["id"], t["source"],
                    np.array([len(s.encode()) for s in texts]))
    tok_path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    tiny_tokenizer.save(str(tok_path))
    loaded = from_file(tok_path)
    finalize_store(out, tiny_tokenizer.get_vocab_size(), loaded.info(),
                   {"framing": "eos", "eos_id": eos},
                   token_bytes=token_byte_lengths(loaded, tiny_tokenizer.get_vocab_size()))
    return out


PLANTED_VOCAB = 64


def write_planted_store(root: Path, domains=("count", "skip", "noise"), docs: int = 120,
                        doc_len: int = 128) -> Path:
    """A synthetic store over a 64-token vocabulary with known learnability: ``count``
    (0,1,2,...,63,0,...: fully predictable), ``skip`` (steps of 5: deterministic too) and
    ``noise`` (uniform random tokens: unlearnable); writes only ``domains``."""
    rng = np.random.default_rng(0)
    starts = rng.integers(0, PLANTED_VOCAB, docs)
    steps = np.arange(doc_len)
    made = {"count": (starts[:, None] + steps) % PLANTED_VOCAB,
            "skip": (starts[:, None] + 5 * steps) % PLANTED_VOCAB,
            "noise": rng.integers(0, PLANTED_VOCAB, (docs, doc_len))}
    for name in domains:
        lens = np.full(docs, doc_len)
        write_shard(root, "shard-00000", name, made[name].reshape(-1).astype(np.uint16),
                    lens, [f"{name}-{i}" for i in range(docs)], [name] * docs, lens)
    finalize_store(root, PLANTED_VOCAB, {"kind": "planted"}, {"framing": "none"})
    return root


@pytest.fixture
def planted_store():
    """``write_planted_store(root, domains, docs, doc_len)``: see there."""
    return write_planted_store
