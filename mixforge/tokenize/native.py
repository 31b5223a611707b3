"""The native engine: byte-level BPE in Numba over Arrow's UTF-8 buffers.

tiktoken spends its time in a general regex engine (fancy-regex) and gets its text as
Python strings (for non-ASCII text: a UTF-8 copy of every string, and a joined chunk
widened to 4 bytes a character as soon as one emoji is in it). This engine matches the
common split regexes with hand-written matchers (`_kernels.py`: GPT-2, cl100k, GPT-4 /
Llama 3 style) over the UTF-8 bytes of a whole Arrow column, zero copy, and runs
tiktoken's merge algorithm on each pre-token with ranks in a hash table: no Python per
document, no string conversions, the GIL released.

What it takes: a tiktoken recipe (`fast.tiktoken_compat`: a `tokenizers` byte-level BPE
rebuilt as ranks, or a tiktoken source) whose split regex is one of `PATTERNS`, with no
added token matched in text (with ``specials="text"``, control tokens never are).
Anything else stays on tiktoken. A document holding a code point this Python's Unicode
database does not assign (its tables could differ from the regex engines') is encoded by
tiktoken instead; `fast.build_encoder` proves the ids on a sample at load time.
"""

from __future__ import annotations

import itertools
import os
import threading
import unicodedata

import numpy as np

from ..storage import cache_dir
from . import _kernels as K
from ._kernels import CLS_UNKNOWN

__all__ = ["CLS_UNKNOWN", "PATTERNS", "NativeBPE", "char_classes", "supports"]

# The split regexes the matchers implement, exactly as written in the tokenizers and
# tiktoken encodings that use them (an equivalent regex written otherwise is not taken).
PATTERNS: dict[str, int] = {
    # GPT-2 (ByteLevel's own regex; tiktoken's r50k/p50k write it with possessives)
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""": K.PAT_GPT2,
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""":
        K.PAT_GPT2,
    # cl100k_base (tiktoken: `$` is the end of the text)
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
    r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""": K.PAT_CL100K,
    # GPT-4 without `\s++$`: mixforge's trainer, and Llama 3's
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*"""
    r"""|\s*[\r\n]|\s+(?!\S)|\s+""": K.PAT_GPT4,
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+"""
    r"""[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""": K.PAT_GPT4,
}

_CLASSES: np.ndarray | None = None


def char_classes() -> np.ndarray:
    """uint8 per code point: `_kernels.CLS_L` (``\\p{L}``), ``CLS_N`` (``\\p{N}``),
    ``CLS_WS`` (White_Space: ``\\s`` of the regex engines), ``CLS_UNKNOWN`` (unassigned
    or a surrogate in this Python's Unicode database).

    Built from `unicodedata` (~0.2 s), then kept in memory and in
    `mixforge.storage.cache_dir` (``$MIXFORGE_CACHE``, default ``~/.cache/mixforge``),
    keyed by the Unicode version.
    """
    global _CLASSES
    if _CLASSES is not None:
        return _CLASSES
    path = cache_dir() / f"unicode-classes-{unicodedata.unidata_version}-v1.npy"
    try:
        table = np.load(path)
        if table.shape == (0x110000,) and table.dtype == np.uint8:
            _CLASSES = table
            return table
    except (OSError, ValueError):
        pass
    cats = [unicodedata.category(chr(c)) for c in range(0x110000)]
    table = np.zeros(0x110000, dtype=np.uint8)
    for c, cat in enumerate(cats):
        if cat[0] == "L":
            table[c] = K.CLS_L
        elif cat[0] == "N":
            table[c] = K.CLS_N
        elif cat in ("Cn", "Cs"):
            table[c] = K.CLS_UNKNOWN
    # White_Space: str.isspace() less the four information separators U+001C..U+001F
    for c in (*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028,
              0x2029, 0x202F, 0x205F, 0x3000):
        table[c] |= K.CLS_WS
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, table)
        os.replace(tmp, path)
    except OSError:
        pass
    _CLASSES = table
    return table


TABLE_ARRAYS = ("slots", "slot_hash", "tok_data", "tok_off", "ranks")
PAIR_ARRAYS = ("pairs_key", "pairs_val")


def build_tables(mergeable_ranks: dict[bytes, int]) -> dict[str, np.ndarray]:
    """The kernels' tables of a tiktoken recipe's ranks, by name (`TABLE_ARRAYS`: the
    open-addressing hash table of token bytes -> rank, and the token bytes and ranks
    themselves; `PAIR_ARRAYS`: rank pair -> merged rank). Plain arrays, so
    `tokenizer_cache` can keep them on disk (~2.5 MB for an 8k vocabulary, 40 MB for
    cl100k; building them takes 10-230 ms)."""
    singles = [bytes([b]) for b in range(256)]
    tokens = singles + [t for t in mergeable_ranks if len(t) > 1]
    ranks = np.fromiter((mergeable_ranks[t] for t in tokens), dtype=np.int64,
                        count=len(tokens))
    table, pairs = K.build_table(tokens, ranks)
    return dict(zip(TABLE_ARRAYS + PAIR_ARRAYS, table + pairs, strict=True))


def ranks_of(tables: dict[str, np.ndarray]) -> dict[bytes, int]:
    """The recipe's ranks back from its tables (token bytes -> rank)."""
    raw, off = tables["tok_data"].tobytes(), tables["tok_off"].tolist()
    return dict(zip((raw[a:b] for a, b in itertools.pairwise(off)),
                    tables["ranks"].tolist(), strict=True))


class NativeBPE:
    """Ranks of a tiktoken recipe in the kernels' hash table, and its split regex.

    ``tables``: `build_tables` of ``mergeable_ranks``, when the caller has them (from
    the disk cache); else they are built here."""

    def __init__(self, pattern: str, mergeable_ranks: dict[bytes, int] | None = None,
                 tables: dict[str, np.ndarray] | None = None) -> None:
        self.pattern = PATTERNS[pattern]
        if tables is None:
            assert mergeable_ranks is not None
            tables = build_tables(mergeable_ranks)
        self.table = tuple(tables[k] for k in TABLE_ARRAYS)
        self.pairs = tuple(tables[k] for k in PAIR_ARRAYS)
        self.classes = char_classes()
        self._local = threading.local()

    def __getstate__(self) -> dict:  # the caches are per thread, never shipped
        return {k: v for k, v in self.__dict__.items() if k != "_local"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def encode_range(self, data: np.ndarray, offsets: np.ndarray, lo: int, hi: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Encode documents lo..hi-1 of an Arrow string column's buffers (``data``: the
        UTF-8 bytes, read-only uint8; ``offsets``: int64).

        Returns (ranks uint32 back to back, lengths int64, flags uint8); a flagged
        document (a code point outside this Python's Unicode tables) has no tokens and
        must be encoded by another engine.
        """
        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = K.new_cache()
        a, b = int(offsets[lo]), int(offsets[hi])
        out = np.empty(max(1, b - a), dtype=np.uint32)  # a token is at least one byte
        lens = np.zeros(hi - lo, dtype=np.int64)
        flags = np.zeros(hi - lo, dtype=np.uint8)
        n = K._encode_docs(data[a:b], offsets, lo, hi, a, self.classes, self.pattern,
                           self.table, *self.pairs, cache, out, lens, flags)
        return out[:n], lens, flags


    def split(self, text: str) -> list[str]:
        """The pre-tokens of ``text`` (what the split regex's ``findall`` gives)."""
        data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        ends = np.empty(len(data), dtype=np.int64)
        k = K._split(data, 0, len(data), self.classes, self.pattern, ends)
        raw = text.encode("utf-8")
        cuts = [0, *ends[:k].tolist()]
        return [raw[a:b].decode("utf-8") for a, b in itertools.pairwise(cuts)]


def supports(pattern: str) -> bool:
    """Whether the native matchers implement this split regex."""
    return pattern in PATTERNS
