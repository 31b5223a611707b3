"""Megatron-LM / megatron-core indexed dataset: ``<split>.bin`` + ``<split>.idx`` (MMIDIDX
version 1), one sequence per document; uint16 when vocab < 65,500, else int32 (as
megatron's ``DType.optimal_dtype``)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ...rundir import atomic_path
from . import Chunks, Target

MAGIC = b"MMIDIDX\x00\x00"
DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}


def optimal_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size < 65500 else np.int32)


def write(out: Path, split: str, chunks: Chunks, target: Target) -> list[Path]:
    dtype = optimal_dtype(target.vocab_size)
    bin_path, idx_path = out / f"{split}.bin", out / f"{split}.idx"
    lengths = []
    with atomic_path(bin_path) as tmp, open(tmp, "wb") as f:
        for tokens, lens in chunks:
            f.write(tokens.astype(dtype, copy=False).tobytes())
            lengths.append(lens)
    lens = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    pointers = np.zeros(len(lens), dtype=np.int64)
    np.cumsum(lens[:-1] * dtype.itemsize, out=pointers[1:])
    with atomic_path(idx_path) as tmp, open(tmp, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<Q", 1))
        f.write(struct.pack("<B", DTYPE_CODES[dtype]))
        f.write(struct.pack("<Q", len(lens)))
        f.write(struct.pack("<Q", len(lens) + 1))
        f.write(lens.astype(np.int32).tobytes())
        f.write(pointers.tobytes())
        f.write(np.arange(len(lens) + 1, dtype=np.int64).tobytes())
    return [bin_path, idx_path]
