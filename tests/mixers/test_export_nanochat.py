"""The nanochat export (text parquet shards) read back the way nanochat's loader reads it."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mixforge.errors import ConfigError
from mixforge.export import ExportConfig, export
from mixforge.mixers.materialize import materialize
from mixforge.mixers.mix import Mix
from mixforge.stats import stage_files
from mixforge.tokenize.store import TokenStore


def nanochat_parquets_iter(data_dir: Path, split: str):
    """nanochat's `list_parquet_files` + `parquets_iter_batched` (nanochat/dataset.py)."""
    files = sorted(f for f in os.listdir(data_dir)
                   if f.endswith(".parquet") and not f.endswith(".tmp"))
    paths = [data_dir / f for f in files]
    paths = paths[:-1] if split == "train" else paths[-1:]
    for path in paths:
        pf = pq.ParquetFile(path)
        for rg in range(pf.num_row_groups):
            yield pf.read_row_group(rg).column("text").to_pylist()


def test_nanochat_reads_back_the_mix_as_text(tokenized_run, tmp_path):
    store = TokenStore(tokenized_run / "tokenize")
    mix = Mix({"fortunes": 2.0, "licenses": 1.0, "python_docs": 1.0}, budget_tokens=120_000,
              seed=4)
    cfg = ExportConfig(format="nanochat", out=tmp_path / "nc", val_fraction=0.05,
                       shard_tokens=30_000, over_cap="exceed")
    rep = export(store, mix, cfg)
    texts = {r["id"]: r["text"] for f in stage_files(tokenized_run / "ingest")
             for r in pq.read_table(f, columns=["id", "text"]).to_pylist()}
    m = materialize(store, mix, val_fraction=0.05, over_cap="exceed")
    ids = {d: store.domain(d).docs["id"].to_pylist() for d in m.domains}
    for split in ("train", "val"):
        sel = m.splits[split]
        want = [texts[ids[m.domains[d]][i]] for d, i in zip(sel.domain, sel.doc, strict=True)]
        got = [t for batch in nanochat_parquets_iter(rep.out, split) for t in batch]
        assert got == want and len(want) == rep.splits[split].docs > 0
    shards = sorted(rep.out.glob("shard_*.parquet"))
    assert len(shards) == len(rep.splits["train"].files) + 1 > 2
    for path in shards:
        meta = pq.ParquetFile(path).metadata
        assert all(meta.row_group(i).num_rows <= 1024 for i in range(meta.num_row_groups))
        assert meta.row_group(0).column(0).compression == "ZSTD"
    assert rep.manifest["splits"]["val"]["files"] == [shards[-1].name]


def test_nanochat_refuses_an_empty_validation_split(tokenized_run, tmp_path):
    store = TokenStore(tokenized_run / "tokenize")
    mix = Mix({"fortunes": 1.0}, budget_tokens=10_000)
    with pytest.raises(ConfigError, match="validation split is empty"):
        export(store, mix, ExportConfig(format="nanochat", out=tmp_path / "nc", val_fraction=0))
    assert not (tmp_path / "nc").exists()


def test_text_export_needs_the_run_the_store_came_from(token_store, tmp_path):
    with pytest.raises(ConfigError, match="document stage"):
        export(token_store, Mix({"fortunes": 1.0}, budget_tokens=5_000),
               ExportConfig(format="nanochat", out=tmp_path / "nc", val_fraction=0.1))
