"""nanoGPT: ``train.bin`` / ``val.bin``, raw uint16 tokens, EOT after each document
(read by ``np.memmap(path, dtype=np.uint16, mode="r")``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import ConfigError
from ...rundir import atomic_path
from . import Chunks, Target


def check_uint16(target: Target, fmt: str) -> None:
    if target.vocab_size > 1 << 16:
        msg = (f"{fmt} stores uint16 tokens; this vocabulary has {target.vocab_size:,} ids. "
               "Use the megatron or hf format, or a smaller tokenizer")
        raise ConfigError(msg)


def write(out: Path, split: str, chunks: Chunks, target: Target) -> list[Path]:
    check_uint16(target, "nanoGPT")
    path = out / f"{split}.bin"
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        for tokens, _ in chunks:
            f.write(tokens.astype(np.uint16, copy=False).tobytes())
    return [path]
