"""nanoGPT: ``train.bin`` / ``val.bin``, raw uint16 tokens, an end-of-text after each document.

What nanoGPT's ``train.py`` reads with ``np.memmap(path, dtype=np.uint16, mode="r")``
(the layout of its ``data/openwebtext/prepare.py``). Document boundaries live only in the
end-of-text tokens, so the export refuses documents that do not end with one, and a
vocabulary whose ids do not fit 16 bits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import ConfigError
from ..materialize import Chunk
from .base import ExportContext, SplitResult, SplitWriter, rel

NAME = "nanogpt"
PACKABLE = False


def check(ctx: ExportContext) -> None:
    if ctx.vocab_size > 1 << 16:
        msg = (f"nanoGPT's .bin files are uint16: ids up to 65,535, but the vocabulary has "
               f"{ctx.vocab_size:,}; use --format megatron, hf-parquet or mds")
        raise ConfigError(msg)
    if not ctx.eos_terminated:
        msg = ("nanoGPT marks document boundaries with an end-of-text token, but the "
               "documents do not end with one and the store names no eos_id; pass --eos-id")
        raise ConfigError(msg)


class Writer(SplitWriter):
    """Append each chunk's tokens to ``<split>.bin`` as uint16."""

    dtype = np.dtype(np.uint16)

    def __init__(self, folder: Path, split: str, ctx: ExportContext) -> None:
        self.folder, self.path = folder, folder / f"{split}.bin"
        self.f = self.path.open("wb")
        self.docs = self.tokens = 0

    def write(self, chunk: Chunk) -> None:
        self.f.write(memoryview(np.ascontiguousarray(chunk.tokens, self.dtype)).cast("B"))
        self.docs += len(chunk.doc_lens)
        self.tokens += len(chunk.tokens)

    def close(self) -> SplitResult:
        self.f.close()
        return SplitResult(rel(self.folder, [self.path]), self.docs, self.tokens)


def open_split(folder: Path, split: str, ctx: ExportContext) -> Writer:
    return Writer(folder, split, ctx)
