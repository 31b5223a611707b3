"""llm.c / modded-nanogpt shards: a 256 x int32 header (magic 20240520, version 1, token
count), then uint16 tokens; ``<split>_000000.bin``, ``<split>_000001.bin``, ..."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...rundir import atomic_path
from . import Chunks, Target
from .nanogpt import check_uint16

MAGIC, VERSION, HEADER_INTS = 20240520, 1, 256
SHARD_TOKENS = 100_000_000


def _flush(out: Path, split: str, index: int, parts: list[np.ndarray]) -> Path:
    tokens = np.concatenate(parts).astype(np.uint16, copy=False)
    header = np.zeros(HEADER_INTS, dtype=np.int32)
    header[:3] = (MAGIC, VERSION, len(tokens))
    path = out / f"{split}_{index:06d}.bin"
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(header.tobytes())
        f.write(tokens.tobytes())
    return path


def write(out: Path, split: str, chunks: Chunks, target: Target,
          shard_tokens: int = SHARD_TOKENS) -> list[Path]:
    check_uint16(target, "llm.c")
    paths, parts, size = [], [], 0
    for tokens, _ in chunks:
        while len(tokens):
            take = tokens[: shard_tokens - size]
            parts.append(take)
            size += len(take)
            tokens = tokens[len(take):]
            if size == shard_tokens:
                paths.append(_flush(out, split, len(paths), parts))
                parts, size = [], 0
    if size:
        paths.append(_flush(out, split, len(paths), parts))
    return paths
