"""nanoGPT and llm.c exports read back by their own loaders, compared to the token store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mixforge.errors import ConfigError
from mixforge.export import ExportConfig, export
from mixforge.mixers.mix import Mix
from mixforge.mixers.strategies import store_tokens, temperature
from mixforge.tokenize.store import TokenStore
from tests.mixers.stores import expected_docs, same_docs, split_on


@pytest.fixture(scope="module")
def real_mix(token_store) -> Mix:
    tokens = store_tokens(token_store)
    return temperature(tokens, 300_000, 2.0, epoch_cap=4.0, seed=5)


def nanogpt_get_batch(data_dir: Path, split: str) -> np.ndarray:
    """nanoGPT's train.py reader: a fresh uint16 memmap of <split>.bin."""
    return np.memmap(data_dir / f"{split}.bin", dtype=np.uint16, mode="r")


def test_nanogpt_reads_back_the_mix(token_store, real_mix, tmp_path):
    rep = export(token_store, real_mix, ExportConfig(format="nanogpt", out=tmp_path / "ng",
                                                     val_fraction=0.02, chunk_tokens=20_000))
    eos = TokenStore(token_store).meta["eos_id"]
    for split in ("train", "val"):
        data = nanogpt_get_batch(rep.out, split)
        want = expected_docs(token_store, real_mix, split, val_fraction=0.02)
        assert same_docs(split_on(np.asarray(data), eos), want)
        assert len(data) == sum(len(w) for w in want) == rep.splits[split].tokens
        assert rep.splits[split].docs == len(want)
    manifest = json.loads((rep.out / "mixforge-export.json").read_text())
    assert manifest["splits"]["train"]["tokens"] == len(nanogpt_get_batch(rep.out, "train"))


def modded_nanogpt_load_data_shard(file: Path) -> torch.Tensor:
    """modded-nanogpt's `_load_data_shard` (less pin_memory): the header checks as upstream."""
    header = torch.from_file(str(file), False, 256, dtype=torch.int32)
    assert header[0] == 20240520, "magic number mismatch in the data .bin file"
    assert header[1] == 1, "unsupported version"
    num_tokens = int(header[2])
    with file.open("rb", buffering=0) as f:
        tokens = torch.empty(num_tokens, dtype=torch.uint16)
        f.seek(256 * 4)
        nbytes = f.readinto(tokens.numpy())
        assert nbytes == 2 * num_tokens, "number of tokens read does not match header"
    return tokens


def test_llmc_shards_read_back_with_header_checks(token_store, real_mix, tmp_path):
    cfg = ExportConfig(format="llmc", out=tmp_path / "llmc", val_fraction=0.02,
                       shard_tokens=50_000, prefix="fineweb", chunk_tokens=30_000)
    rep = export(token_store, real_mix, cfg)
    eos = TokenStore(token_store).meta["eos_id"]
    files = sorted(rep.out.glob("fineweb_train_*.bin"))
    assert len(files) == -(-rep.splits["train"].tokens // 50_000) > 3
    shards = [modded_nanogpt_load_data_shard(f).numpy() for f in files]
    assert all(len(s) == 50_000 for s in shards[:-1])
    flat = np.concatenate(shards)
    want = expected_docs(token_store, real_mix, "train", val_fraction=0.02)
    assert same_docs(split_on(flat, eos), want)
    val = np.concatenate([modded_nanogpt_load_data_shard(f).numpy()
                          for f in sorted(rep.out.glob("fineweb_val_*.bin"))])
    assert same_docs(split_on(val, eos), expected_docs(token_store, real_mix, "val",
                                                       val_fraction=0.02))


def llmc_load_shard(file: Path) -> np.ndarray:
    """llm.c's loader logic (``dev/data/data_common.py`` HEADERS_INFO and the C dataloader's
    checks): the header's magic picks the version and token width; the count must match."""
    header = np.fromfile(file, dtype=np.int32, count=256)
    layouts = {20240520: (1, np.uint16), 20240801: (7, np.uint32)}
    assert int(header[0]) in layouts, "magic number mismatch in the data .bin file"
    version, dtype = layouts[int(header[0])]
    assert header[1] == version, "unsupported version"
    tokens = np.fromfile(file, dtype=dtype, offset=256 * 4)
    assert len(tokens) == header[2], "number of tokens read does not match header"
    return tokens


def test_llmc_uses_the_uint32_header_past_65536_ids(big_vocab_store, tmp_path):
    mix = Mix({"alpha": 1.0, "beta": 1.0}, budget_tokens=2_000, seed=3)
    cfg = ExportConfig(format="llmc", out=tmp_path / "llmc32", val_fraction=0.1,
                       shard_tokens=700, over_cap="shrink")
    rep = export(big_vocab_store, mix, cfg)
    files = sorted(rep.out.glob("mix_train_*.bin"))
    assert len(files) > 1
    assert {int(np.fromfile(f, np.int32, 2)[1]) for f in files} == {7}
    flat = np.concatenate([llmc_load_shard(f) for f in files])
    assert flat.max() > 65_535  # the ids a uint16 file would have wrapped
    want = expected_docs(big_vocab_store, mix, "train", val_fraction=0.1, over_cap="shrink")
    assert same_docs(split_on(flat, 99_999), want)


def test_llmc_small_vocabulary_keeps_version_1(token_store, tmp_path):
    mix = Mix({"fortunes": 1.0}, budget_tokens=5_000)
    rep = export(token_store, mix, ExportConfig(format="llmc", out=tmp_path / "l16"))
    for f in rep.out.glob("mix_*.bin"):
        assert tuple(np.fromfile(f, np.int32, 2)) == (20240520, 1)
        assert llmc_load_shard(f).dtype == np.uint16


def test_flat_formats_refuse_what_they_cannot_hold(big_vocab_store, tmp_path):
    mix = Mix({"alpha": 1.0, "beta": 1.0}, budget_tokens=1_000)
    with pytest.raises(ConfigError, match="65,535"):
        export(big_vocab_store, mix, ExportConfig(format="nanogpt", out=tmp_path / "nanogpt"))
    assert not (tmp_path / "nanogpt").exists()
    with pytest.raises(ConfigError, match="flat token stream"):
        ExportConfig(format="nanogpt", seq_len=128).validate()
