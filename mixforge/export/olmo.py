"""OLMo-core / dolma token arrays: ``<split>/part-NNNNN.npy`` + ``part-NNNNN.csv.gz``.

The layout dolma's tokenizer writes and OLMo-core's numpy datasets read
(``olmo_core.data.numpy_dataset.NumpyFSLDataset`` and friends): each ``.npy``-named file is
a raw array of token ids as ``np.memmap`` writes it (no ``.npy`` header), uint16 when every
id fits 16 bits, else uint32 (the dataset's ``dtype``), an end-of-text token after every
document; beside it a gzipped CSV, one line per document, ``start,end,id,src`` in tokens
(OLMo-core's ``iter_document_indices`` reads ``start,end`` from it when it does not scan
for EOS). A file closes at the first document end after ``--shard-tokens`` tokens, so no
document spans two files. The gzip members carry no name or time, so reruns are
byte-identical.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..mixers.materialize import Chunk
from .base import ExportContext, SplitResult, SplitWriter, rel, require_eot


def check(ctx: ExportContext) -> None:
    require_eot(ctx, "OLMo-core's numpy datasets find")


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


class Writer(SplitWriter):
    """Append whole documents to the current part; start a new part past shard_tokens."""

    def __init__(self, folder: Path, split: str, ctx: ExportContext) -> None:
        self.folder, self.ctx = folder, ctx
        self.dir = folder / split
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dtype = token_dtype(ctx.vocab_size)
        self.paths: list[Path] = []
        self.f = self.meta = None
        self.in_part = self.docs = self.tokens = 0

    def _next(self) -> None:
        self._close_part()
        path = self.dir / f"part-{len(self.paths) // 2:05d}.npy"
        meta = path.with_suffix(".csv.gz")
        self.paths += [path, meta]
        self.f = path.open("wb")
        self._raw = meta.open("wb")
        self.meta = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
        self.in_part = 0

    def _close_part(self) -> None:
        if self.f is not None:
            self.f.close()
            self.meta.close()
            self._raw.close()
            self.f = self.meta = None

    def write(self, chunk: Chunk) -> None:
        toks = np.ascontiguousarray(chunk.tokens, self.dtype)
        lens = np.asarray(chunk.doc_lens, np.int64)
        ends = np.cumsum(lens)
        names = self.ctx.domains
        i = 0
        while i < len(lens):
            if self.f is None or self.in_part >= self.ctx.shard_tokens:
                self._next()
            # documents i..j-1 start before the part is full (at least document i does)
            starts_in_part = self.in_part + ends[i:] - lens[i:] - (ends[i] - lens[i])
            j = i + int(np.searchsorted(starts_in_part, self.ctx.shard_tokens, "left"))
            a = int(ends[i] - lens[i])
            self.f.write(memoryview(toks[a:int(ends[j - 1])]).cast("B"))
            start = self.in_part + ends[i:j] - lens[i:j] - a
            self.meta.write("".join(
                f"{s},{s + n},{names[d]}/{k},{names[d]}\n"
                for s, n, d, k in zip(start.tolist(), lens[i:j].tolist(),
                                      chunk.domain[i:j].tolist(), chunk.doc[i:j].tolist(),
                                      strict=True)).encode())
            self.in_part += int(ends[j - 1]) - a
            i = j
        self.docs += len(lens)
        self.tokens += len(toks)

    def close(self) -> SplitResult:
        self._close_part()
        return SplitResult(rel(self.folder, self.paths), self.docs, self.tokens)

    def abort(self) -> None:
        self._close_part()


def open_split(folder: Path, split: str, ctx: ExportContext) -> Writer:
    return Writer(folder, split, ctx)
