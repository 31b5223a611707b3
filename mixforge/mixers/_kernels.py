"""Numba kernels of the mixers: gather documents from memory-mapped shards into a buffer.

One call copies every selected document of one (domain, shard) pair of a chunk, so the
per-document cost is a few machine instructions, not a Python call: export throughput is
bounded by memory and disk (docs/benchmarks.md), not by the interpreter.
Arrays and scalars only, no raising or logging; `gather_docs` validates and converts.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._numba import JIT


@njit(**JIT)
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


@njit(**JIT)
def _mds_samples(tok_bytes, lens, itemsize, out, pos):  # pragma: no cover - jitted
    src = 0
    for i in range(lens.shape[0]):
        n = lens[i]
        p = pos[i]
        nb = n * itemsize
        code = 0 if n < 256 else (1 if n < 65536 else 2)
        width = 1 << code
        body = 1 + width + nb
        for k in range(4):
            out[p + k] = (body >> (8 * k)) & 255
        out[p + 4] = (1 << 2) | code
        for k in range(width):
            out[p + 5 + k] = (n >> (8 * k)) & 255
        q = p + 5 + width
        out[q:q + nb] = tok_bytes[src:src + nb]  # a slice copy: memcpy speed, not a byte loop
        src += nb


def mds_sample_sizes(lens: np.ndarray, itemsize: int) -> np.ndarray:
    """Bytes of each encoded MDS sample of one ``ndarray:<dtype>`` column (length > 0).

    A sample is its column size (u32), then MDS's NDArray encoding with a static dtype and
    a dynamic shape: one byte ``ndim << 2 | shape-width code``, the shape in the narrowest
    unsigned type that holds it, then the values.
    """
    lens = np.asarray(lens, np.int64)
    width = np.where(lens < 256, 1, np.where(lens < 65536, 2, 4))
    return 4 + 1 + width + lens * itemsize


def mds_encode(tokens: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Encode documents (``tokens`` back to back, ``lens`` each, all > 0) as MDS samples.

    Returns the samples back to back as uint8; `mds_sample_sizes` gives their sizes.
    """
    lens = np.ascontiguousarray(lens, np.int64)
    if len(lens) and (lens.min() < 1 or lens.max() >= 1 << 32):
        msg = "MDS samples need 1 <= length < 2^32 tokens"
        raise ValueError(msg)
    if int(lens.sum()) != len(tokens):
        msg = f"lengths sum to {int(lens.sum())} but there are {len(tokens)} tokens"
        raise ValueError(msg)
    tokens = np.ascontiguousarray(tokens)
    sizes = mds_sample_sizes(lens, tokens.dtype.itemsize)
    pos = np.zeros(len(lens), np.int64)
    np.cumsum(sizes[:-1], out=pos[1:])
    out = np.empty(int(sizes.sum()), np.uint8)
    _mds_samples(tokens.view(np.uint8), lens, tokens.dtype.itemsize, out, pos)
    return out
