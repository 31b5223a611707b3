"""UTF-8 of Arrow string columns: zero-copy buffer views and the one decoder every curate
kernel uses (dedup's normalizer and shingler, the filters' text statistics).

Invalid UTF-8 decodes as Python's ``bytes.decode("utf-8", errors="replace")`` does: each
maximal prefix of a valid sequence that is cut short (a bad continuation byte, the end of
the document) and each byte that cannot start a sequence (0x80-0xC1, 0xF5-0xFF) is one
U+FFFD; overlong forms, surrogates and code points above U+10FFFF are invalid (the
Unicode "maximal subpart" practice). Tested against Python on random bytes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from .._numba import JIT
from ..errors import ConfigError

REPLACEMENT = 0xFFFD


@njit(**JIT)
def _decode(data, j, end):
    """(code point, bytes used) of the UTF-8 sequence at ``data[j]``, never reading at or
    past ``end``; invalid input gives (U+FFFD, length of its maximal subpart)."""
    c = np.int64(data[j])
    if c < 0x80:
        return c, 1
    if c < 0xC2 or c > 0xF4:
        return np.int64(REPLACEMENT), 1
    # fast paths for well-formed 2- and 3-byte sequences (all of the BMP): one check of
    # the continuation bits, then the general walk below only for the rest (measured 2x
    # on Cyrillic/CJK text, whose every code point comes here)
    if c < 0xE0:
        if j + 1 < end:
            b1 = np.int64(data[j + 1])
            if (b1 & 0xC0) == 0x80:
                return ((c & 0x1F) << 6) | (b1 & 0x3F), 2
    elif c < 0xF0 and j + 2 < end:
        b1 = np.int64(data[j + 1])
        b2 = np.int64(data[j + 2])
        if ((b1 & 0xC0) == 0x80 and (b2 & 0xC0) == 0x80 and not (c == 0xE0 and b1 < 0xA0)
                and not (c == 0xED and b1 > 0x9F)):
            return ((c & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F), 3
    if c < 0xE0:
        need, lo, hi, cp = 1, 0x80, 0xBF, c & 0x1F
    elif c < 0xF0:
        need, cp = 2, c & 0x0F
        lo = 0xA0 if c == 0xE0 else 0x80
        hi = 0x9F if c == 0xED else 0xBF
    else:
        need, cp = 3, c & 0x07
        lo = 0x90 if c == 0xF0 else 0x80
        hi = 0x8F if c == 0xF4 else 0xBF
    for k in range(1, need + 1):
        if j + k >= end:
            return np.int64(REPLACEMENT), k
        b = np.int64(data[j + k])
        if k == 1:
            if b < lo or b > hi:
                return np.int64(REPLACEMENT), 1
        elif b < 0x80 or b > 0xBF:
            return np.int64(REPLACEMENT), k
        cp = (cp << 6) | (b & 0x3F)
    return cp, need + 1


def string_buffers(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets int64 ``(n + 1,)``, UTF-8 data uint8) views of a string column's buffers.

    Zero copy for ``large_string``; a ``string`` column's int32 offsets are widened (a
    copy of the offsets only). Offsets index ``data`` directly (slices are handled); an
    empty data buffer comes back as one zero byte. Raises `ConfigError` for a column
    that is not text.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_string(arr.type):
        otype = np.int32
    elif pa.types.is_large_string(arr.type):
        otype = np.int64
    else:
        msg = f"text column has type {arr.type}; expected string or large_string"
        raise ConfigError(msg)
    _, obuf, dbuf = arr.buffers()
    offsets = np.frombuffer(obuf, dtype=otype, count=len(arr) + 1, offset=arr.offset
                            * np.dtype(otype).itemsize).astype(np.int64, copy=False)
    data = (np.frombuffer(dbuf, dtype=np.uint8) if dbuf is not None and dbuf.size
            else np.zeros(1, dtype=np.uint8))
    return offsets, data
