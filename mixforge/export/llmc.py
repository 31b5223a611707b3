"""llm.c / modded-nanogpt shards: a 256 × int32 header, then the tokens.

Header: magic, version, token count, then zeros (llm.c's ``dev/data/data_common.py``,
``HEADERS_INFO``): magic 20240520 / version 1 with uint16 tokens ("gpt-2"), or magic
20240801 / version 7 with uint32 tokens ("llama-3"). The version is chosen from the
vocabulary: 1 when every id fits 16 bits (what modded-nanogpt's ``_load_data_shard``
reads), 7 otherwise. The loaders check magic, version and that the file holds exactly
``count`` tokens. Files are ``<prefix>_<split>_<NNNNNN>.bin`` (modded-nanogpt globs
``fineweb_train_*.bin``: pass ``--prefix fineweb``), each at most ``shard_tokens`` tokens
(llm.c uses 10^8); a document may span two shards, as in llm.c. Documents are separated by
the end-of-text token after each (llm.c puts it before each; the loaders do not care).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..mixers.materialize import Chunk
from .base import ExportContext, SplitResult, SplitWriter, rel, require_eot

NAME = "llmc"
PACKABLE = False
HEADER_INTS = 256
#: (magic, version, token dtype) of llm.c's HEADERS_INFO, by name
HEADERS = {"gpt-2": (20240520, 1, np.dtype(np.uint16)),
           "llama-3": (20240801, 7, np.dtype(np.uint32))}


def header_kind(vocab_size: int) -> str:
    """``"gpt-2"`` (version 1, uint16) when every id fits 16 bits, else ``"llama-3"``."""
    return "gpt-2" if vocab_size <= 1 << 16 else "llama-3"


def check(ctx: ExportContext) -> None:
    require_eot(ctx, "llm.c shards mark")
    if ctx.vocab_size > 1 << 32:
        msg = f"llm.c shards hold uint32 ids at most; the vocabulary has {ctx.vocab_size:,}"
        raise ConfigError(msg)
    if ctx.shard_tokens < 1 or ctx.shard_tokens >= 1 << 31:
        msg = f"llm.c shard_tokens must be in [1, 2^31), got {ctx.shard_tokens}"
        raise ConfigError(msg)


def header(n_tokens: int, kind: str = "gpt-2") -> bytes:
    """The 256 int32 header of a shard of ``n_tokens`` tokens in the ``kind`` layout."""
    magic, version, _ = HEADERS[kind]
    h = np.zeros(HEADER_INTS, np.int32)
    h[:3] = magic, version, n_tokens
    return h.tobytes()


class Writer(SplitWriter):
    """Fill shards of ``shard_tokens`` tokens; each header is written when its shard closes."""

    def __init__(self, folder: Path, split: str, ctx: ExportContext) -> None:
        self.folder, self.split, self.ctx = folder, split, ctx
        self.kind = header_kind(ctx.vocab_size)
        self.dtype = HEADERS[self.kind][2]
        self.paths: list[Path] = []
        self.f = None
        self.in_shard = self.docs = self.tokens = 0

    def _next(self) -> None:
        self._close_shard()
        path = self.folder / f"{self.ctx.prefix}_{self.split}_{len(self.paths):06d}.bin"
        self.paths.append(path)
        self.f = path.open("wb")
        self.f.write(header(0, self.kind))
        self.in_shard = 0

    def _close_shard(self) -> None:
        if self.f is not None:
            self.f.seek(0)
            self.f.write(header(self.in_shard, self.kind))
            self.f.close()
            self.f = None

    def write(self, chunk: Chunk) -> None:
        toks = np.ascontiguousarray(chunk.tokens, self.dtype)
        self.docs += len(chunk.doc_lens)
        self.tokens += len(toks)
        while len(toks):
            if self.f is None or self.in_shard == self.ctx.shard_tokens:
                self._next()
            take = min(len(toks), self.ctx.shard_tokens - self.in_shard)
            self.f.write(memoryview(toks[:take]).cast("B"))
            self.in_shard += take
            toks = toks[take:]

    def close(self) -> SplitResult:
        self._close_shard()
        return SplitResult(rel(self.folder, self.paths), self.docs, self.tokens)


def open_split(folder: Path, split: str, ctx: ExportContext) -> Writer:
    return Writer(folder, split, ctx)
