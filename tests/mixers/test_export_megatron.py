"""Megatron .bin/.idx read back by megatron-core's IndexedDataset."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mixforge.export import ExportConfig, export
from mixforge.mixers.mix import Mix
from mixforge.mixers.strategies import store_tokens, unimax
from tests.mixers.stores import expected_docs, same_docs


@pytest.fixture(scope="module")
def indexed_dataset():
    with warnings.catch_warnings():  # megatron-core's import warns (torch.jit deprecations)
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import IndexedDataset
    return IndexedDataset


def read_all(ds) -> list[np.ndarray]:
    return [np.asarray(ds[i]) for i in range(len(ds))]


def test_megatron_uint16_reads_back(token_store, indexed_dataset, tmp_path):
    mix = unimax(store_tokens(token_store), 250_000, epoch_cap=2.0, seed=4)
    rep = export(token_store, mix, ExportConfig(format="megatron", out=tmp_path / "meg",
                                                val_fraction=0.01, chunk_tokens=40_000))
    for split in ("train", "val"):
        ds = indexed_dataset(str(rep.out / split))
        want = expected_docs(token_store, mix, split, val_fraction=0.01)
        assert ds.index.dtype == np.uint16
        assert len(ds) == len(want) == rep.splits[split].docs
        assert np.array_equal(ds.sequence_lengths, [len(w) for w in want])
        assert np.array_equal(ds.document_indices, np.arange(len(want) + 1))
        assert same_docs(read_all(ds), want)
        # partial reads (what GPTDataset does) land on the same tokens
        i = len(want) // 2
        assert np.array_equal(ds.get(i, offset=1, length=3), want[i][1:4])


def test_megatron_big_vocab_is_int32_and_packing(big_vocab_store, indexed_dataset, tmp_path):
    mix = Mix({"alpha": 2.0, "beta": 1.0}, budget_tokens=2_000, seed=1)
    rep = export(big_vocab_store, mix, ExportConfig(format="megatron", out=tmp_path / "m32",
                                                    val_fraction=0.0))
    ds = indexed_dataset(str(rep.out / "train"))
    want = expected_docs(big_vocab_store, mix, "train")
    assert ds.index.dtype == np.int32
    assert max(int(w.max()) for w in want) > 65_535
    assert same_docs(read_all(ds), want)
    assert all(w[-1] == 99_999 for w in want)  # the store's eos_id was appended
    packed = export(big_vocab_store, mix, ExportConfig(format="megatron", out=tmp_path / "p",
                                                       val_fraction=0.0, seq_len=64))
    pds = indexed_dataset(str(packed.out / "train"))
    flat = np.concatenate(want)
    assert len(pds) == len(flat) // 64 and set(pds.sequence_lengths) == {64}
    assert np.array_equal(np.concatenate(read_all(pds)), flat[: len(pds) * 64])
    assert packed.manifest["splits"]["train"]["dropped_tail_tokens"] == len(flat) % 64
