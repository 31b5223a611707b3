"""MosaicML MDS: ``train/`` and ``val/`` folders of ``shard.NNNNN.mds`` + ``index.json``.

One sample a document (or packed row), one column ``tokens`` encoded ``ndarray:int32``
(llm-foundry's convention for pre-tokenized data: ``np.frombuffer(sample["tokens"],
...)`` is not needed, the reader returns the array). Byte layout as ``MDSWriter`` writes
it (streaming 0.13): a shard is the sample count (u32), ``count + 1`` u32 offsets, the
writer's config JSON, then the samples; ``index.json`` lists the shards. Samples are
encoded by a Numba kernel (`_kernels.mds_encode`), a chunk at a time; a shard is kept in
memory until it is full (``size_limit``, 64 MiB as MDSWriter's default) because its
offsets precede its data. MDS cannot hold an empty array: empty documents (no tokens and
no EOS appended) are dropped and counted (``dropped_empty_docs``).

Read back by ``streaming.StreamingDataset`` in its own environment (``make .venv-mds``):
mosaicml-streaming pins numpy<2.2 and imports torchvision (see docs/export.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..mixers._kernels import mds_encode, mds_sample_sizes
from ..mixers.materialize import Chunk
from .base import ExportContext, SplitResult, SplitWriter, rel

NAME = "mds"
PACKABLE = True
SIZE_LIMIT = 1 << 26
ENCODING = "ndarray:int32"


def check(ctx: ExportContext) -> None:
    """Every vocabulary fits: ids are int32."""


def shard_config(size_limit: int) -> dict:
    return {"column_encodings": [ENCODING], "column_names": ["tokens"], "column_sizes": [None],
            "compression": None, "format": "mds", "hashes": [], "size_limit": size_limit,
            "version": 2}


class Writer(SplitWriter):
    """Encode chunks into samples; flush a shard when the next sample would pass the limit."""

    def __init__(self, folder: Path, split: str, ctx: ExportContext,
                 size_limit: int = SIZE_LIMIT) -> None:
        self.folder, self.dir = folder, folder / split
        self.dir.mkdir(parents=True, exist_ok=True)
        self.size_limit = size_limit
        self.config = json.dumps(shard_config(size_limit), sort_keys=True).encode()
        self.pending: list[np.ndarray] = []   # encoded samples of the open shard
        self.sizes: list[np.ndarray] = []     # their sizes
        self.fill = 0
        self.shards: list[dict] = []
        self.docs = self.tokens = self.dropped = 0

    def write(self, chunk: Chunk) -> None:
        lens, toks = chunk.doc_lens, np.ascontiguousarray(chunk.tokens, np.int32)
        if (lens == 0).any():
            self.dropped += int((lens == 0).sum())
            lens = lens[lens > 0]
        self.docs += len(lens)
        self.tokens += len(toks)
        sizes = mds_sample_sizes(lens, 4)
        data = mds_encode(toks, lens)
        start, a = 0, 0
        cost = np.cumsum(sizes + 4)  # MDSWriter counts 4 offset bytes a sample
        while a < len(lens):
            room = self.size_limit - self.fill
            # samples [a, b) fit in this shard; a full shard with nothing pending takes one
            b = int(np.searchsorted(cost, room + (cost[a - 1] if a else 0), side="right"))
            if b == a and not self.pending:
                b = a + 1
            if b > a:
                end = start + int(sizes[a:b].sum())
                self.pending.append(data[start:end])
                self.sizes.append(sizes[a:b])
                self.fill += int((sizes[a:b] + 4).sum())
                start, a = end, b
            if a < len(lens):
                self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        sizes = np.concatenate(self.sizes)
        n = len(sizes)
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(sizes, out=offsets[1:])
        offsets += 4 + 4 * (n + 1) + len(self.config)
        name = f"shard.{len(self.shards):05d}.mds"
        with (self.dir / name).open("wb") as f:
            f.write(np.uint32(n).tobytes())
            f.write(offsets.astype(np.uint32).tobytes())
            f.write(self.config)
            for part in self.pending:
                f.write(memoryview(part))
        self.shards.append({**shard_config(self.size_limit), "samples": n, "zip_data": None,
                            "raw_data": {"basename": name, "bytes": int(offsets[-1]),
                                         "hashes": {}}})
        self.pending, self.sizes, self.fill = [], [], 0

    def close(self) -> SplitResult:
        self._flush()
        index = self.dir / "index.json"
        index.write_text(json.dumps({"shards": self.shards, "version": 2}, sort_keys=True))
        files = [self.dir / s["raw_data"]["basename"] for s in self.shards] + [index]
        return SplitResult(rel(self.folder, files), self.docs, self.tokens,
                           {"dropped_empty_docs": self.dropped})


def open_split(folder: Path, split: str, ctx: ExportContext) -> Writer:
    return Writer(folder, split, ctx)
