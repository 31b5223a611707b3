"""Build (once, cached) a token store of the real local corpus for the probe benchmarks.

The same recipe as the tests' `token_store` fixture: the local corpus, ingested, encoded
with a byte-level BPE (vocab 1024) trained in-process, EOS after each document.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mixforge.corpus import build_corpus
from mixforge.executor import LocalExecutor
from mixforge.ingest import IngestConfig, ingest
from mixforge.stats import stage_files
from mixforge.tokenize.store import STORE_JSON, finalize_store, write_shard


def bench_store(mb: float = 3.0, root: str | Path | None = None) -> Path:
    """A token store of ~``mb`` MB of the local corpus under ``root`` (reused if there)."""
    root = Path(root or Path(tempfile.gettempdir()) / f"mixforge-bench-store-{mb:g}")
    store = root / "store"
    if (store / STORE_JSON).exists():
        return store
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    build_corpus(root / "corpus", max_mb=mb)
    ingest(IngestConfig(inputs=[str(root / "corpus")], shard_mb=0.5), root / "run",
           LocalExecutor(1))
    table = pa.concat_tables(pq.read_table(f) for f in stage_files(root / "run" / "ingest"))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1024, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(table["text"].to_pylist(), trainer=trainer)
    eos = tok.token_to_id("<|endoftext|>")
    for domain in sorted(set(table["domain"].to_pylist())):
        t = table.filter(pc.equal(table["domain"], domain))
        texts = t["text"].to_pylist()
        enc = [[*e.ids, eos] for e in tok.encode_batch(texts)]
        write_shard(store, "shard-00000", domain,
                    np.fromiter((i for ids in enc for i in ids), dtype=np.uint16),
                    np.array([len(e) for e in enc]), t["id"], t["source"],
                    np.array([len(s.encode()) for s in texts]))
    finalize_store(store, tok.get_vocab_size(), {"kind": "bench-bpe", "vocab_size": 1024},
                   {"eos_id": eos})
    return store
