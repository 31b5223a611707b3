"""What every export shares: byte-identical reruns, atomic replacement, the manifest,
and datatrove's .ds files read back by datatrove's own dataset."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from mixforge.errors import ConfigError
from mixforge.export import FORMATS, ExportConfig, export, megatron
from mixforge.mixers.mix import Mix
from mixforge.mixers.strategies import store_tokens, temperature
from tests.mixers.stores import expected_docs, make_store, random_docs, same_docs


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_same_seed_byte_identical_other_seed_differs(token_store, tokenized_run, tmp_path, fmt):
    if getattr(FORMATS[fmt], "TEXT", False):  # text formats read the documents beside the store
        token_store = tokenized_run / "tokenize"
    tokens = store_tokens(token_store)
    mix = temperature(tokens, 120_000, 2.0, seed=3)
    cfg = {"format": fmt, "val_fraction": 0.01, "shard_tokens": 50_000, "chunk_tokens": 30_000}
    a = export(token_store, mix, ExportConfig(out=tmp_path / "a", **cfg))
    b = export(token_store, mix, ExportConfig(out=tmp_path / "b", **cfg))
    da, db = tree_digest(a.out), tree_digest(b.out)
    assert da == db and len(da) >= 4
    other = temperature(tokens, 120_000, 2.0, seed=4)
    c = export(token_store, other, ExportConfig(out=tmp_path / "c", **cfg))
    assert tree_digest(c.out) != da


def test_manifest_and_document_order(token_store, tmp_path):
    mix = temperature(store_tokens(token_store), 100_000, 1.5, seed=2)
    rep = export(token_store, mix, ExportConfig(format="nanogpt", out=tmp_path / "x"))
    man = json.loads((rep.out / "mixforge-export.json").read_text())
    assert man["plan"]["mix"]["seed"] == 2 and man["format"] == "nanogpt"
    assert man["splits"]["train"]["files"] == ["train.bin"]
    per = man["splits"]["train"]["per_domain"]
    plan = {r["domain"]: r for r in man["plan"]["domains"]}
    for d, got in per.items():
        assert abs(got["tokens"] - plan[d]["train"]) < 20_000
    order = pq.read_table(rep.out / ".mixforge" / "train-docs.parquet")
    assert order.num_rows == man["splits"]["train"]["docs"]
    assert sum(order["n_tokens"].to_pylist()) == man["splits"]["train"]["tokens"]
    first = order.slice(0, 1).to_pylist()[0]
    store_ids = pq.read_table(Path(token_store) / first["domain"] / "shard-00000.docs.parquet")
    assert store_ids["id"][first["doc"]].as_py() == first["id"]


def test_export_is_atomic_and_refuses_to_clobber(token_store, tmp_path, monkeypatch):
    mix = Mix(store_tokens(token_store), budget_tokens=50_000)
    out = tmp_path / "e"
    export(token_store, mix, ExportConfig(format="megatron", out=out))
    before = tree_digest(out)
    with pytest.raises(ConfigError, match="--overwrite"):
        export(token_store, mix, ExportConfig(format="megatron", out=out))
    # a refused export (over cap) and one that dies mid-write leave the old folder as it
    # was, and no temp folder
    greedy = Mix(store_tokens(token_store), budget_tokens=10**7, epoch_cap=1.0)
    with pytest.raises(ConfigError, match="epoch cap"):
        export(token_store, greedy, ExportConfig(format="megatron", out=out, overwrite=True,
                                                 val_fraction=0.0))

    def crash(self):
        msg = "disk full"
        raise OSError(msg)

    monkeypatch.setattr(megatron.Writer, "close", crash)
    with pytest.raises(OSError, match="disk full"):
        export(token_store, mix, ExportConfig(format="megatron", out=out, overwrite=True))
    monkeypatch.undo()
    assert tree_digest(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["e"]
    rep = export(token_store, Mix(store_tokens(token_store), budget_tokens=20_000),
                 ExportConfig(format="megatron", out=out, overwrite=True))
    assert rep.splits["train"].tokens < 25_000 and tree_digest(out) != before


def test_no_eos_anywhere_is_refused_by_flat_formats(tmp_path):
    rng = np.random.default_rng(0)
    store = make_store(tmp_path / "s", {"a": [random_docs(rng, 20, 500)]}, 500)
    mix = Mix({"a": 1.0}, budget_tokens=300)
    with pytest.raises(ConfigError, match="pass --eos-id"):
        export(store, mix, ExportConfig(format="nanogpt", out=tmp_path / "o"))
    rep = export(store, mix, ExportConfig(format="nanogpt", out=tmp_path / "o", eos_id=499,
                                          val_fraction=0.0))
    assert rep.manifest["eos_appended"] and rep.manifest["eos_id"] == 499


def test_datatrove_reads_back(big_vocab_store, tmp_path):
    import torch
    from datatrove.utils.dataset import DatatroveFileDataset

    mix = Mix({"alpha": 1.0, "beta": 1.0}, budget_tokens=3_000, seed=6)
    rep = export(big_vocab_store, mix, ExportConfig(format="datatrove", out=tmp_path / "dt",
                                                    val_fraction=0.0, chunk_tokens=500))
    want = expected_docs(big_vocab_store, mix, "train")
    path = rep.out / "train" / "000_mix.ds"
    seq = 31
    ds = DatatroveFileDataset(str(path), seq, token_size=4, return_positions=True)
    flat = np.concatenate(want)
    assert len(ds) == len(flat) // (seq + 1)
    got = [ds[i] for i in range(len(ds))]
    tokens = torch.cat([g["input_ids"] for g in got]).numpy()
    assert np.array_equal(tokens, flat[: len(tokens)])
    # positions restart at 0 exactly where a document starts
    starts = np.zeros(len(flat), bool)
    starts[np.cumsum([len(w) for w in want])[:-1]] = True
    starts[0] = True
    pos = torch.cat([g["positions"] for g in got]).numpy()
    window_start = np.arange(len(pos)) % (seq + 1) == 0
    assert np.array_equal(pos == 0, starts[: len(pos)] | window_start)
    ends = np.fromfile(str(path) + ".index", np.uint64)
    assert np.array_equal(ends, np.cumsum([len(w) for w in want]))
    assert same_docs(np.split(np.fromfile(path, np.uint32), ends[:-1].astype(np.int64)), want)
