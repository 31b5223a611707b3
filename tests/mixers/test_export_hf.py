"""Hugging Face exports read back by `datasets.load_dataset` and `load_from_disk`."""

from __future__ import annotations

import numpy as np
import pytest

from mixforge.export import ExportConfig, export
from mixforge.mixers.mix import Mix
from mixforge.mixers.strategies import natural, store_tokens
from tests.mixers.stores import expected_docs, same_docs


@pytest.fixture(scope="module")
def mix(token_store) -> Mix:
    return natural(store_tokens(token_store), 200_000, seed=8)


def ids_of(ds) -> list[np.ndarray]:
    return [np.asarray(r, np.int64) for r in ds.with_format("numpy")["input_ids"]]


def test_hf_parquet_loads_with_load_dataset(token_store, mix, tmp_path):
    from datasets import load_dataset

    rep = export(token_store, mix, ExportConfig(format="hf-parquet", out=tmp_path / "hf",
                                                val_fraction=0.02, shard_tokens=60_000,
                                                chunk_tokens=20_000))
    assert len(list((rep.out / "data").glob("train-*-of-*.parquet"))) >= 3
    for kwargs in ({"path": "parquet", "data_dir": str(rep.out / "data")},
                   {"path": str(rep.out)}):
        dd = load_dataset(**kwargs, cache_dir=str(tmp_path / "cache"))
        assert sorted(dd) == ["train", "validation"]
        for split, name in (("train", "train"), ("val", "validation")):
            want = expected_docs(token_store, mix, split, val_fraction=0.02)
            assert dd[name].num_rows == len(want) == rep.splits[split].docs
            assert same_docs(ids_of(dd[name]), want)
            assert dd[name].features["input_ids"].feature.dtype == "int32"


def test_hf_disk_loads_with_load_from_disk_and_packs(token_store, mix, tmp_path):
    from datasets import DatasetDict, load_from_disk

    rep = export(token_store, mix, ExportConfig(format="hf-disk", out=tmp_path / "disk",
                                                val_fraction=0.02, shard_tokens=80_000,
                                                chunk_tokens=20_000))
    dd = load_from_disk(str(rep.out))
    assert isinstance(dd, DatasetDict) and sorted(dd) == ["train", "validation"]
    want = expected_docs(token_store, mix, "train", val_fraction=0.02)
    assert len(dd["train"].cache_files) >= 2
    assert same_docs(ids_of(dd["train"]), want)
    # one split on its own loads as a Dataset
    val = load_from_disk(str(rep.out / "validation"))
    assert same_docs(ids_of(val), expected_docs(token_store, mix, "val", val_fraction=0.02))
    packed = export(token_store, mix, ExportConfig(format="hf-disk", out=tmp_path / "packed",
                                                   val_fraction=0.02, seq_len=256))
    rows = np.stack(ids_of(load_from_disk(str(packed.out))["train"]))
    flat = np.concatenate(want)
    assert rows.shape == (len(flat) // 256, 256)
    assert np.array_equal(rows.reshape(-1), flat[: rows.size])
