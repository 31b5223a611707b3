"""The one UTF-8 decoder and buffer helper of the curate kernels (`curate._utf8`)."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from mixforge.curate import _textstats_kernels as TK
from mixforge.curate._utf8 import string_buffers
from mixforge.errors import ConfigError

# bytes around every boundary of the UTF-8 grammar
EDGES = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
         0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]


def _decode(b: bytes) -> list[int]:
    data = np.frombuffer(b + b"\0", np.uint8)  # one byte past the end must not be read
    cps = np.empty(len(b) + 1, np.int64)
    n = TK._decode(data, 0, len(b), cps)
    return cps[:n].tolist()


def test_valid_text_decodes_to_its_code_points():
    text = "aé€😀日本語ไทย\x00\U0010ffff"
    assert _decode(text.encode()) == [ord(c) for c in text]


@pytest.mark.parametrize("seed", range(4))
def test_invalid_bytes_decode_as_python_replace(seed):
    """Random byte strings (mostly boundary bytes): the same code points as
    ``bytes.decode("utf-8", "replace")``, one U+FFFD per maximal subpart."""
    rng = random.Random(seed)
    for _ in range(3000):
        b = bytes(rng.choice(EDGES) if rng.random() < 0.7 else rng.randrange(256)
                  for _ in range(rng.randint(0, 12)))
        assert _decode(b) == [ord(c) for c in b.decode("utf-8", "replace")], b


def test_every_two_and_three_byte_prefix():
    for a in range(0x80, 0x100):
        for b in [*EDGES, 0x85, 0xA5]:
            for tail in (b"", b"\x80", b"\xbf", b"a"):
                s = bytes([a, b]) + tail
                assert _decode(s) == [ord(c) for c in s.decode("utf-8", "replace")], s


def test_string_buffers_views():
    arr = pa.array(["ab", None, "", "日本"])
    for col in (arr, arr.cast(pa.large_string()), pa.chunked_array([arr[:2], arr[2:]])):
        off, data = string_buffers(col)
        assert off.dtype == np.int64 and len(off) == 5
        assert bytes(data[off[3]:off[4]]).decode() == "日本"
    off, data = string_buffers(arr.slice(3))
    assert bytes(data[off[0]:off[1]]).decode() == "日本"
    off, data = string_buffers(pa.array([""]))
    assert off.tolist() == [0, 0] and len(data) >= 1
    with pytest.raises(ConfigError, match="expected string"):
        string_buffers(pa.array([1, 2]))
