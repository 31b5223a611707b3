"""datatrove tokenized files: ``<split>/000_<prefix>.ds`` + ``.ds.index`` (+ ``.ds.metadata``).

The layout of datatrove's ``DocumentTokenizer`` (0.10): the ``.ds`` file holds tokens
back to back (uint16 for vocabularies up to 65,536 ids, else uint32: its ``token_size``
2 or 4), the ``.ds.index`` file the end position (in tokens) of every document as uint64,
and ``.ds.metadata`` a ``<tokenizer>|<token_size>`` line. Read by datatrove's
``DatatroveFolderDataset`` / ``DatatroveFileDataset`` (nanotron's loader).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..mixers.materialize import Chunk
from .base import ExportContext, SplitResult, SplitWriter, rel

NAME = "datatrove"
PACKABLE = False


def check(ctx: ExportContext) -> None:
    """Every vocabulary fits (uint32 tokens above 65,536 ids)."""


class Writer(SplitWriter):
    """Stream tokens to the .ds file and document ends to the .ds.index file."""

    def __init__(self, folder: Path, split: str, ctx: ExportContext) -> None:
        self.folder, self.ctx = folder, ctx
        self.dtype = np.dtype(np.uint16 if ctx.vocab_size <= 1 << 16 else np.uint32)
        self.ds = folder / split / f"000_{ctx.prefix}.ds"
        self.ds.parent.mkdir(parents=True, exist_ok=True)
        self.index = self.ds.with_name(self.ds.name + ".index")
        self.meta = self.ds.with_name(self.ds.name + ".metadata")
        self.f, self.fi = self.ds.open("wb"), self.index.open("wb")
        self.docs = self.tokens = 0

    def write(self, chunk: Chunk) -> None:
        self.f.write(memoryview(np.ascontiguousarray(chunk.tokens, self.dtype)).cast("B"))
        ends = self.tokens + np.cumsum(chunk.doc_lens, dtype=np.uint64)
        self.fi.write(ends.astype("<u8").tobytes())
        self.docs += len(chunk.doc_lens)
        self.tokens += len(chunk.tokens)

    def close(self) -> SplitResult:
        self.f.close()
        self.fi.close()
        name = self.ctx.tokenizer.get("name") or json.dumps(self.ctx.tokenizer, sort_keys=True)
        self.meta.write_text(f"{name}|{self.dtype.itemsize}\n{self.tokens}")
        return SplitResult(rel(self.folder, [self.ds, self.index, self.meta]), self.docs,
                           self.tokens)


def open_split(folder: Path, split: str, ctx: ExportContext) -> Writer:
    return Writer(folder, split, ctx)
