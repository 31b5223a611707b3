"""litdata (Lightning): ``{train,val}/chunk-0-N.bin`` + ``index.json``, read with ``TokensLoader``.

The layout litdata's ``optimize(..., item_loader=TokensLoader())`` writes (litdata 0.2.76,
``streaming/writer.py``) when each item is one document's token ids as a 1-D int32 tensor,
the way LitGPT prepares pretraining data. A chunk file is the item count (u32), ``count + 1``
u32 byte offsets of the items from the file's start, then the items' tokens back to back
(``no_header_tensor:16``: raw int32, litdata's index for ``torch.int32``); one item is one
document, so the offsets keep the document boundaries. ``index.json`` lists the chunks
(``chunk_size``: documents, ``dim``: tokens, ``chunk_bytes``, ``filename``) and the
writer's config. Chunks are cut as litdata's ``BinaryWriter`` cuts them with
``chunk_size=--shard-tokens``: a chunk takes whole documents while its tokens stay within
``--shard-tokens`` (an empty document counts as one, as litdata counts it); a document
larger than that is a chunk of its own. So the same documents give byte-identical chunk
files to litdata's own writer (tested).

Reading: ``StreamingDataset("<out>/train", item_loader=TokensLoader(block_size=B))`` yields
the tokens of each chunk in blocks of ``B``, in order; a block never spans two chunks, so
the last ``dim % B`` tokens of every chunk are not read (at most ``B - 1`` per chunk: with
LitGPT's 2049 x 8012-token chunks and ``B = 2049``, none of them). The blocks see document
boundaries only through the end-of-text token, so the export requires one after every
document. ``index.json``'s ``updated_at`` (litdata writes the time; its remote cache is
keyed by it) is the export's fingerprint, so a changed export is never served from a stale
cache and a rerun is byte-identical.

Memory: one chunk (``--shard-tokens`` x 4 bytes: 64 MB at LitGPT's 16M-token chunks), as
the offsets precede the data.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..mixers.materialize import Chunk
from .base import ExportContext, SplitResult, SplitWriter, rel, require_eot

NAME = "litdata"
PACKABLE = False
DATA_FORMAT = "no_header_tensor:16"  # litdata's _TORCH_DTYPES_MAPPING: 16 is torch.int32
MAX_CHUNK_BYTES = (1 << 32) - 1      # the offsets are uint32


def check(ctx: ExportContext) -> None:
    require_eot(ctx, "litdata's TokensLoader finds")
    if 4 * ctx.shard_tokens > MAX_CHUNK_BYTES - 64:
        msg = (f"--shard-tokens {ctx.shard_tokens:,}: a litdata chunk addresses its items with "
               "uint32 byte offsets, so it holds at most ~1.07B int32 tokens; lower "
               "--shard-tokens (LitGPT uses 2049 x 8012)")
        raise ConfigError(msg)


def index_config(chunk_tokens: int) -> dict:
    """The ``config`` of ``index.json`` as litdata 0.2.76's BinaryWriter writes it for
    int32 token tensors with ``chunk_size=chunk_tokens`` and ``TokensLoader``."""
    return {"chunk_bytes": None, "chunk_size": chunk_tokens, "compression": None,
            "compression_batch_size": None, "compression_level": None,
            "data_format": [DATA_FORMAT],
            "data_spec": '[1, {"type": null, "context": null, "children_spec": []}]',
            "encryption": None, "ipc_compression": None, "item_loader": "TokensLoader",
            "types": "tensor"}


class Writer(SplitWriter):
    """Gather whole documents into the open chunk; write it when the next would not fit."""

    dtype = np.dtype(np.int32)

    def __init__(self, folder: Path, split: str, ctx: ExportContext) -> None:
        self.folder, self.ctx = folder, ctx
        self.dir = folder / split
        self.dir.mkdir(parents=True, exist_ok=True)
        self.pending: list[np.ndarray] = []   # tokens of the open chunk's documents
        self.lens: list[np.ndarray] = []      # their lengths
        self.fill = 0                         # the open chunk's tokens, as litdata counts them
        self.chunks: list[dict] = []
        self.docs = self.tokens = 0

    def write(self, chunk: Chunk) -> None:
        toks = np.ascontiguousarray(chunk.tokens, np.int32)
        lens = np.asarray(chunk.doc_lens, np.int64)
        ends = np.cumsum(lens)
        cost = np.cumsum(np.maximum(lens, 1))  # litdata counts an empty item as one
        limit = self.ctx.shard_tokens
        a = 0
        while a < len(lens):
            before = cost[a - 1] if a else 0
            # documents [a, b) keep the open chunk within the limit; an empty chunk takes one
            b = int(np.searchsorted(cost, limit - self.fill + before, side="right"))
            if b == a and not self.lens:
                b = a + 1
            if b > a:
                start = int(ends[a - 1]) if a else 0
                self.pending.append(toks[start:int(ends[b - 1])].copy())
                self.lens.append(lens[a:b])
                self.fill += int(cost[b - 1] - before)
                a = b
            if a < len(lens):
                self._flush()
        self.docs += len(lens)
        self.tokens += len(toks)

    def _flush(self) -> None:
        if not self.lens:
            return
        lens = np.concatenate(self.lens)
        n = len(lens)
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(lens * 4, out=offsets[1:])
        offsets += 4 * (n + 2)
        if offsets[-1] > MAX_CHUNK_BYTES:
            msg = (f"a litdata chunk of {int(lens.sum()):,} tokens passes the 4 GiB its uint32 "
                   "offsets address (one document that long); litdata cannot hold it")
            raise ConfigError(msg)
        name = f"chunk-0-{len(self.chunks)}.bin"
        with (self.dir / name).open("wb") as f:
            f.write(np.uint32(n).tobytes())
            f.write(offsets.astype(np.uint32).tobytes())
            for part in self.pending:
                f.write(memoryview(part).cast("B"))
        self.chunks.append({"chunk_bytes": int(offsets[-1]), "chunk_size": n,
                            "dim": int(lens.sum()), "filename": name})
        self.pending, self.lens, self.fill = [], [], 0

    def close(self) -> SplitResult:
        self._flush()
        index = self.dir / "index.json"
        index.write_text(json.dumps({"chunks": self.chunks,
                                     "config": index_config(self.ctx.shard_tokens),
                                     "updated_at": self.ctx.fingerprint}, sort_keys=True))
        files = [self.dir / c["filename"] for c in self.chunks] + [index]
        return SplitResult(rel(self.folder, files), self.docs, self.tokens)


def open_split(folder: Path, split: str, ctx: ExportContext) -> Writer:
    return Writer(folder, split, ctx)
