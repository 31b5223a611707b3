"""What every format writer shares: the context it writes in and the writer interface.

A format module defines ``NAME``, ``check(ctx)`` (refuse what the format cannot hold,
before any byte is written), ``open_split(folder, split, ctx) -> SplitWriter`` and
optionally ``finish(folder, ctx, results)`` for format-level files. A ``SplitWriter``
takes chunks of whole documents in order (`materialize.Chunk`) and, on ``close``, returns
what it wrote. Writers stream: nothing holds more than one chunk (or one shard, for
formats whose shard header must precede the data) plus a few bytes per document.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..mixers.materialize import Chunk


@dataclass
class ExportContext:
    """What a writer needs to know about the export."""

    vocab_size: int
    eos_id: int | None
    eos_terminated: bool          # every document ends with eos_id (as written)
    seq_len: int = 0              # > 0: rows are packed sequences of this many tokens
    shard_tokens: int = 100_000_000
    prefix: str = "mix"
    fingerprint: str = ""         # a hash of the mix, store and config (HF's _fingerprint)
    tokenizer: dict[str, Any] = field(default_factory=dict)
    domains: list[str] = field(default_factory=list)  # Chunk.domain indexes this
    framing: str | None = None    # the store's framing (eos, bos, both, none), if recorded


@dataclass
class SplitResult:
    """What one split's writer wrote."""

    files: list[str]
    docs: int
    tokens: int
    extra: dict[str, Any] = field(default_factory=dict)


class SplitWriter:
    """Interface of a split writer; subclasses implement ``write`` and ``close``."""

    dtype: np.dtype = np.dtype(np.int32)

    def write(self, chunk: Chunk) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> SplitResult:  # pragma: no cover - interface
        raise NotImplementedError

    def abort(self) -> None:
        """Release open files after a failure (the export's temp folder is then removed)."""
        for name in ("f", "fi", "writer"):
            handle = getattr(self, name, None)
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.close()


def rel(folder: Path, paths: list[Path]) -> list[str]:
    """Paths relative to the export folder, as strings (for the manifest)."""
    return [str(Path(p).relative_to(folder)) for p in paths]


def require_eot(ctx: ExportContext, boundaries: str) -> None:
    """Every document must end with the end-of-text token a flat format's loader splits on."""
    if not ctx.eos_terminated:
        why = ("the store was tokenized with --framing none, so its documents carry no "
               "end-of-text token" if ctx.framing == "none" else
               "the documents do not end with one and the store names no eos_id")
        msg = (f"{boundaries} document boundaries with an end-of-text token, but {why}: "
               "re-tokenize with --framing eos, or pass --eos-id N to append one (N: the "
               "tokenizer's end-of-text id, listed by `mixforge tokenizer inspect`)")
        raise ConfigError(msg)


def require_uint16_eot(ctx: ExportContext, files: str, boundaries: str) -> None:
    """The checks of the flat uint16 formats (nanoGPT, llm.c version 1): ids fit in 16 bits,
    and every document ends with the end-of-text token their loaders split documents on."""
    if ctx.vocab_size > 1 << 16:
        msg = (f"{files} uint16: ids up to 65,535, but the vocabulary has "
               f"{ctx.vocab_size:,}; use --format megatron, hf-parquet or mds")
        raise ConfigError(msg)
    require_eot(ctx, boundaries)
