"""Hugging Face datasets: a parquet file per split with an ``input_ids`` column (one row per
document, or per packed sequence of ``seq_len`` tokens), plus a ``save_to_disk`` copy
(read by ``load_dataset("parquet", ...)`` and ``load_from_disk``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ...rundir import atomic_path
from . import Chunks, Target, pack

SCHEMA = pa.schema([("input_ids", pa.list_(pa.int32()))])


def _lists(tokens: np.ndarray, lens: np.ndarray) -> pa.Table:
    offsets = np.zeros(len(lens) + 1, dtype=np.int32)
    np.cumsum(lens, out=offsets[1:])
    arr = pa.ListArray.from_arrays(pa.array(offsets), pa.array(tokens.astype(np.int32)))
    return pa.Table.from_arrays([arr], schema=SCHEMA)


def _tables(chunks: Chunks, target: Target):
    if target.seq_len:
        for block in pack(chunks, target.seq_len):
            yield _lists(block.reshape(-1), np.full(len(block), target.seq_len))
    else:
        for tokens, lens in chunks:
            yield _lists(tokens, lens)


def write(out: Path, split: str, chunks: Chunks, target: Target) -> list[Path]:
    path = out / f"{split}.parquet"
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, SCHEMA, compression="zstd") as w:
        for table in _tables(chunks, target):
            w.write_table(table)
    import datasets

    disk, staging = out / f"hf_{split}", out / f".hf_{split}.tmp"
    cache = out / ".hf_cache"
    datasets.Dataset.from_parquet(str(path), cache_dir=str(cache)).save_to_disk(str(staging))
    shutil.rmtree(disk, ignore_errors=True)
    staging.rename(disk)
    shutil.rmtree(cache, ignore_errors=True)
    return [path, disk]
