"""Training formats: one writer per format, each read back in the tests by its real reader.

A writer takes the chunks of one split (``train`` or ``val``: token arrays with their
per-document lengths, in output order) and writes its files atomically under ``out``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Chunks = Iterator[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Target:
    """What a writer needs to know of the tokens."""

    vocab_size: int
    eos_id: int | None
    seq_len: int | None = None  # pack documents into sequences of this many tokens


Writer = Callable[[Path, str, Chunks, Target], list[Path]]


def writers() -> dict[str, Writer]:
    from . import hf, llmc, megatron, nanogpt

    return {"nanogpt": nanogpt.write, "llmc": llmc.write, "megatron": megatron.write,
            "hf": hf.write}


def pack(chunks: Chunks, seq_len: int) -> Iterator[np.ndarray]:
    """Concatenate documents and cut into rows of ``seq_len`` tokens (the last partial row
    is dropped: at most seq_len - 1 tokens per split, stated in the export summary)."""
    rest = None
    for tokens, _ in chunks:
        buf = tokens if rest is None else np.concatenate([rest, tokens])
        n = len(buf) // seq_len
        if n:
            yield buf[: n * seq_len].reshape(n, seq_len)
        rest = buf[n * seq_len:]
