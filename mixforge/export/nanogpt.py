"""nanoGPT: ``train.bin`` / ``val.bin``, raw uint16 tokens, an end-of-text after each document.

What nanoGPT's ``train.py`` reads with ``np.memmap(path, dtype=np.uint16, mode="r")``
(the layout of its ``data/openwebtext/prepare.py``). Document boundaries live only in the
end-of-text tokens, so the export refuses documents that do not end with one, and a
vocabulary whose ids do not fit 16 bits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..mixers.materialize import Chunk
from .base import ExportContext, SplitResult, SplitWriter, rel, require_uint16_eot

NAME = "nanogpt"
PACKABLE = False


def check(ctx: ExportContext) -> None:
    require_uint16_eot(ctx, "nanoGPT's .bin files are", "nanoGPT marks")


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
