"""Numba kernels of the mixers: gather documents from memory-mapped shards into a buffer.

One call copies every selected document of one (domain, shard) pair of a chunk, so the
per-document cost is a few machine instructions, not a Python call: export throughput is
bounded by memory and disk (docs/benchmarks.md), not by the interpreter.
Arrays and scalars only, no raising or logging; `gather_docs` validates and converts.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, boundscheck=False)
def _gather(src, starts, lens, dst, dst_pos, eos, append):  # pragma: no cover - jitted
    for i in range(starts.shape[0]):
        s = starts[i]
        n = lens[i]
        p = dst_pos[i]
        for j in range(n):
            dst[p + j] = src[s + j]
        if append:
            dst[p + n] = eos


def gather_docs(src: np.ndarray, starts: np.ndarray, lens: np.ndarray, dst: np.ndarray,
                dst_pos: np.ndarray, eos: int | None = None) -> None:
    """Copy ``src[starts[i]:starts[i]+lens[i]]`` to ``dst[dst_pos[i]:]`` for every i.

    With ``eos`` set, that token follows each document (so each takes ``lens[i] + 1``
    slots). ``dst`` may have another integer dtype than ``src`` (uint16 -> int32).
    """
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    lens = np.ascontiguousarray(lens, dtype=np.int64)
    dst_pos = np.ascontiguousarray(dst_pos, dtype=np.int64)
    if not (len(starts) == len(lens) == len(dst_pos)):
        msg = f"starts, lens, dst_pos differ in length: {len(starts)}, {len(lens)}, {len(dst_pos)}"
        raise ValueError(msg)
    if len(starts) == 0:
        return
    extra = 1 if eos is not None else 0
    if (starts.min() < 0 or (starts + lens).max() > len(src)
            or dst_pos.min() < 0 or (dst_pos + lens + extra).max() > len(dst)):
        msg = "gather_docs: a document lies outside its source or destination array"
        raise ValueError(msg)
    _gather(np.asarray(src), starts, lens, dst, dst_pos, int(eos or 0), eos is not None)
