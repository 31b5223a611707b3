"""Every writer's output read back by the format's real reader, against the token store."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest

from mixforge.errors import ConfigError
from mixforge.mixers.export import export
from mixforge.mixers.materialize import materialize
from mixforge.mixers.strategies import make_mix
from mixforge.tokenize.store import TokenStore, finalize_store, write_shard


@pytest.fixture(scope="module")
def store(token_store):
    return TokenStore(token_store)


@pytest.fixture(scope="module")
def mix(store):
    tokens = {d: store.info(d)["tokens"] for d in store.domains}
    return make_mix("temperature", tokens, budget=300_000, tau=2.0, seed=7)


def expected_docs(store, mix, split="train"):
    sel = materialize(mix, store, 0.01)
    picks = sel.train if split == "train" else sel.val
    return [store.domain(sel.domains[d]).doc(i) for d, i in picks]


def test_nanogpt_bin_read_by_numpy_memmap(tmp_path, store, mix):
    export(mix, store, "nanogpt", tmp_path)
    docs = expected_docs(store, mix)
    data = np.memmap(tmp_path / "train.bin", dtype=np.uint16, mode="r")
    assert np.array_equal(data, np.concatenate(docs))
    eot = store.meta["eos_id"]
    assert int((data == eot).sum()) == len(docs)  # one EOT closes every document
    val = np.memmap(tmp_path / "val.bin", dtype=np.uint16, mode="r")
    assert np.array_equal(val, np.concatenate(expected_docs(store, mix, "val")))


def load_llmc_shard(path):
    """modded-nanogpt's `_load_data_shard`, header checks and all."""
    header = np.fromfile(path, dtype=np.int32, count=256)
    assert header[0] == 20240520, "magic number mismatch in the data .bin file"
    assert header[1] == 1, "unsupported version"
    num_tokens = int(header[2])
    with open(path, "rb", buffering=0) as f:
        f.seek(256 * 4)
        tokens = np.frombuffer(f.read(), dtype=np.uint16)
    assert len(tokens) == num_tokens, "number of tokens read does not match header"
    return tokens


def test_llmc_shards_pass_the_loader_checks(tmp_path, store, mix):
    from mixforge.mixers.formats import Target, llmc
    from mixforge.mixers.materialize import iter_tokens

    sel = materialize(mix, store, 0.01)
    target = Target(store.vocab_size, store.meta["eos_id"])
    paths = llmc.write(tmp_path, "train", iter_tokens(store, sel, sel.train), target,
                       shard_tokens=100_000)
    got = np.concatenate([load_llmc_shard(p) for p in paths])
    assert len(paths) == -(-len(got) // 100_000) >= 3  # ~300k tokens in shards of 100k
    assert np.array_equal(got, np.concatenate(expected_docs(store, mix)))


def test_megatron_indexed_dataset_reads_every_document(tmp_path, store, mix):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import IndexedDataset

        export(mix, store, "megatron", tmp_path)
        ds = IndexedDataset(str(tmp_path / "train"))
    docs = expected_docs(store, mix)
    assert len(ds) == len(docs)
    assert ds.index.dtype == np.uint16
    for i in range(0, len(docs), 97):
        assert np.array_equal(ds[i], docs[i])
    assert np.array_equal(ds.document_indices, np.arange(len(docs) + 1))


def test_hf_parquet_and_save_to_disk(tmp_path, store, mix):
    import datasets

    export(mix, store, "hf", tmp_path)
    docs = expected_docs(store, mix)
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "train.parquet"),
                               split="train", cache_dir=str(tmp_path / "cache"))
    disk = datasets.load_from_disk(str(tmp_path / "hf_train"))
    assert len(ds) == len(disk) == len(docs)
    for i in range(0, len(docs), 101):
        assert ds[i]["input_ids"] == disk[i]["input_ids"] == docs[i].tolist()


def test_hf_packed_sequences(tmp_path, store, mix):
    export(mix, store, "hf", tmp_path, seq_len=128)
    import pyarrow.parquet as pq

    rows = pq.read_table(tmp_path / "train.parquet")["input_ids"].to_pylist()
    flat = np.concatenate(expected_docs(store, mix))
    assert all(len(r) == 128 for r in rows) and len(rows) == len(flat) // 128
    assert np.array_equal(np.array(rows).reshape(-1), flat[: len(rows) * 128])


def test_wide_vocab_megatron_int32_and_nanogpt_refuses(tmp_path):
    rng = np.random.default_rng(0)
    lens = rng.integers(5, 50, 40)
    tokens = rng.integers(0, 70_000, int(lens.sum())).astype(np.uint32)
    write_shard(tmp_path / "s", "shard-00000", "web", tokens, lens,
                [f"d{i}" for i in range(40)], ["x"] * 40, lens * 4)
    finalize_store(tmp_path / "s", 70_000, {"kind": "synthetic"}, {"framing": "eos",
                                                                   "eos_id": 0})
    wide = TokenStore(tmp_path / "s")
    assert wide.dtype == np.uint32
    mix = make_mix("natural", {"web": wide.info("web")["tokens"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import IndexedDataset

        export(mix, wide, "megatron", tmp_path / "m", val_fraction=0.0)
        ds = IndexedDataset(str(tmp_path / "m/train"))
    assert ds.index.dtype == np.int32
    got = sorted(tuple(ds[i]) for i in range(len(ds)))
    want = sorted(tuple(wide.domain("web").doc(i)) for i in range(40))
    assert got == want
    with pytest.raises(ConfigError, match="uint16"):
        export(mix, wide, "nanogpt", tmp_path / "n")


def test_same_seed_same_bytes_other_seed_other_order(tmp_path, store, mix):
    from dataclasses import replace

    def digest(out):
        return hashlib.sha256((out / "train.bin").read_bytes()).hexdigest()

    export(mix, store, "nanogpt", tmp_path / "a")
    export(mix, store, "nanogpt", tmp_path / "b")
    export(replace(mix, seed=8), store, "nanogpt", tmp_path / "c")
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")
