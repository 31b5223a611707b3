"""Megatron-LM ``.bin`` + ``.idx`` (MMIDIDX version 1), what ``IndexedDataset`` reads.

``<split>.bin`` holds the documents' tokens back to back; ``<split>.idx`` is the header
``MMIDIDX\\0\\0``, version (u64 1), dtype code (u8), sequence count (u64), document count
(u64), then int32 sequence lengths, int64 byte pointers and int64 document indices
(``[0, 1, ..., n]``: one sequence per document, as ``preprocess_data.py`` writes without
sentence splitting). The dtype is Megatron's own choice (``DType.optimal_dtype``): uint16
when the vocabulary is under 65,500, else int32. With packing, every row is a document.

The index needs every length before its arrays start, so lengths are kept while the .bin
streams: 4 bytes a document (250M documents: 1 GB).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..mixers.materialize import Chunk
from .base import ExportContext, SplitResult, SplitWriter, rel

NAME = "megatron"
PACKABLE = True
INDEX_HEADER = b"MMIDIDX\x00\x00"
DTYPE_CODES = {np.dtype(np.uint8): 1, np.dtype(np.int8): 2, np.dtype(np.int16): 3,
               np.dtype(np.int32): 4, np.dtype(np.int64): 5, np.dtype(np.float64): 6,
               np.dtype(np.float32): 7, np.dtype(np.uint16): 8}


def megatron_dtype(vocab_size: int) -> np.dtype:
    """Megatron's ``DType.optimal_dtype``: uint16 below 65,500 ids, else int32."""
    return np.dtype(np.uint16 if vocab_size is not None and vocab_size < 65500 else np.int32)


def check(ctx: ExportContext) -> None:
    """Every vocabulary fits (int32 above 65,500 ids)."""


class Writer(SplitWriter):
    """Stream tokens to ``<split>.bin``; write ``<split>.idx`` from the lengths on close."""

    def __init__(self, folder: Path, split: str, ctx: ExportContext) -> None:
        self.folder = folder
        self.dtype = megatron_dtype(ctx.vocab_size)
        self.bin, self.idx = folder / f"{split}.bin", folder / f"{split}.idx"
        self.f = self.bin.open("wb")
        self.lens: list[np.ndarray] = []

    def write(self, chunk: Chunk) -> None:
        self.f.write(memoryview(np.ascontiguousarray(chunk.tokens, self.dtype)).cast("B"))
        self.lens.append(chunk.doc_lens.astype(np.int32))

    def close(self) -> SplitResult:
        self.f.close()
        lens = np.concatenate(self.lens) if self.lens else np.zeros(0, np.int32)
        pointers = np.zeros(len(lens), np.int64)
        np.cumsum(lens[:-1].astype(np.int64) * self.dtype.itemsize, out=pointers[1:])
        with self.idx.open("wb") as f:
            f.write(INDEX_HEADER)
            f.write(struct.pack("<Q", 1))
            f.write(struct.pack("<B", DTYPE_CODES[self.dtype]))
            f.write(struct.pack("<Q", len(lens)))
            f.write(struct.pack("<Q", len(lens) + 1))
            f.write(lens.tobytes())
            f.write(pointers.tobytes())
            f.write(np.arange(len(lens) + 1, dtype=np.int64).tobytes())
        return SplitResult(rel(self.folder, [self.bin, self.idx]), len(lens), int(lens.sum()),
                           {"dtype": self.dtype.name})


def open_split(folder: Path, split: str, ctx: ExportContext) -> Writer:
    return Writer(folder, split, ctx)
