"""Fixtures of the mixers tests: small token stores with known documents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.mixers.stores import make_store, random_docs


@pytest.fixture
def big_vocab_store(tmp_path: Path) -> Path:
    """A uint32 store (vocab 100,000, ids above 65,535), two domains, two shards each,
    no EOS in the documents (so exports append the store's eos_id)."""
    rng = np.random.default_rng(5)
    docs = {d: [random_docs(rng, 40, 100_000), random_docs(rng, 25, 100_000)]
            for d in ("alpha", "beta")}
    return make_store(tmp_path / "store32", docs, 100_000, eos_id=99_999)


@pytest.fixture(scope="session")
def tokenized_run(tmp_path_factory, ingested_run, tiny_tokenizer) -> Path:
    """The shared ingested run with its token store (tokenize stage, tiny BPE): what the
    text exports (nanochat) need, since they read the documents beside the store."""
    import shutil

    from mixforge.executor import LocalExecutor
    from mixforge.tokenize.stage import TokenizeConfig, tokenize

    run = tmp_path_factory.mktemp("tokenized") / "run"
    shutil.copytree(ingested_run, run)
    tok = run.parent / "tokenizer.json"
    tiny_tokenizer.save(str(tok))
    tokenize(TokenizeConfig(tokenizer=str(tok)), run, LocalExecutor(1))
    return run
