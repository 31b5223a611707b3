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

A Unicode normal form (NFC, NFD, NFKC, NFKD: the 65k NFKC tokenizer's normalizer) is
checked here too (`normalize_column`): the quick check of UAX #15 runs over the same
buffers and only the spans it cannot pass reach Python, ~0.4% of the bytes of a
mixed-script corpus (gettext, 28 languages: 17,170 spans, 82 KB of 22.6 MB).
"""

from __future__ import annotations

import itertools
import threading
import unicodedata
from collections.abc import Callable

import numpy as np

from ..errors import InputError
from ..storage import cache_dir
from . import _kernels as K
from . import tokenizer_cache
from ._kernels import CLS_UNKNOWN

__all__ = ["CLS_UNKNOWN", "FORMS", "PATTERNS", "NativeBPE", "char_classes", "normalization_spans",
           "normalize_column", "quick_check_table", "supports"]

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

_TABLES: dict[str, np.ndarray] = {}


def _code_point_table(name: str, layout: int, build) -> np.ndarray:
    """A uint8-per-code-point table that depends only on this Python's Unicode database:
    ``build()`` once, then kept in memory and as a cache entry
    (`tokenizer_cache.write_entry`: atomic, checksummed) at
    ``<cache_dir>/unicode/<name>-<Unicode version>-v<layout>.npz`` in
    `mixforge.storage.cache_dir` (``$MIXFORGE_CACHE``, default ``~/.cache/mixforge``);
    bump ``layout`` when ``build`` changes. A damaged entry is rebuilt; a read-only cache
    directory only means no cache."""
    key = f"{name}-{unicodedata.unidata_version}-v{layout}"
    table = _TABLES.get(key)
    if table is not None:
        return table
    path = cache_dir() / "unicode" / f"{key}.npz"
    hit = tokenizer_cache.read_entry(path, key)
    table = hit[1].get("table") if hit else None
    if table is None or table.shape != (0x110000,) or table.dtype != np.uint8:
        table = build()
        tokenizer_cache.write_entry(path, key, {}, {"table": table})
    _TABLES[key] = table
    return table


def char_classes() -> np.ndarray:
    """uint8 per code point: `_kernels.CLS_L` (``\\p{L}``), ``CLS_N`` (``\\p{N}``),
    ``CLS_WS`` (White_Space: ``\\s`` of the regex engines), ``CLS_UNKNOWN`` (unassigned
    or a surrogate in this Python's Unicode database).

    Built from `unicodedata` (~0.2 s), then cached (`_code_point_table`).
    """
    return _code_point_table("classes", 1, _build_classes)


def _build_classes() -> np.ndarray:
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
    return table


FORMS = ("NFC", "NFD", "NFKC", "NFKD")


def quick_check_table(form: str) -> np.ndarray:
    """uint8 per code point for the normalization quick check of ``form`` (one of
    `FORMS`; `_kernels._quick_check_spans`): the canonical combining class, or
    `_kernels.QC_NOT_YES` where the code point's ``<form>_Quick_Check`` property is No or
    Maybe (Unicode Standard Annex #15, section 9, "Detecting Normalization Forms").

    Derived from this Python's `unicodedata` (~0.7 s once, then cached like
    `char_classes`), which does not expose the property: No = the code point alone is
    not in ``form`` (a character that may never occur in the form is not normalized
    alone either); Maybe (NFC, NFKC only) = the second code point of the two-character
    canonical decomposition of a primary composite (one NFC keeps), and the Hangul vowel
    and trailing jamo (U+1161..U+1175, U+11A8..U+11C2), which compose with what precedes
    them. Equal to the ``regex`` module's ``<form>_Quick_Check`` on every code point
    Python assigns (tests/tokenize/test_tokenize_quick_check.py). Code points this
    Python does not assign are marked No too: a later Unicode version (another
    normalizer's) may give them a combining class, so they are never taken for a
    normalization boundary; so are surrogates (malformed UTF-8 when encoded).
    """
    if form not in FORMS:
        msg = f"normalization form {form!r}: choose one of {', '.join(FORMS)}"
        raise ValueError(msg)
    return _code_point_table(f"quick-check-{form}", 1, lambda: _build_quick_check(form))


def _build_quick_check(form: str) -> np.ndarray:
    table = np.zeros(0x110000, dtype=np.uint8)
    for c in range(0x80, 0x110000):  # ASCII: class 0, Yes in every form
        ch = chr(c)
        if unicodedata.category(ch) in ("Cn", "Cs") or unicodedata.normalize(form, ch) != ch:
            table[c] = K.QC_NOT_YES
        else:
            table[c] = unicodedata.combining(ch)
    if form in ("NFC", "NFKC"):
        for c in range(0x80, 0x110000):
            d = unicodedata.decomposition(chr(c))
            if d and not d.startswith("<") and unicodedata.normalize("NFC", chr(c)) == chr(c):
                parts = d.split()  # c is a primary composite: its second part composes
                if len(parts) == 2:
                    table[int(parts[1], 16)] = K.QC_NOT_YES
        table[0x1161:0x1176] = K.QC_NOT_YES
        table[0x11A8:0x11C3] = K.QC_NOT_YES
    return table


def normalization_spans(form: str, data: np.ndarray, offsets: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The byte spans (lo, hi: int64 arrays, positions in ``data``) of an Arrow string
    column's documents that the Unicode quick check of ``form`` cannot pass
    (`_kernels._quick_check_spans`: each from the normalization boundary before a
    failing code point to the one after it); every byte outside them is in ``form``
    already. ``data``: the UTF-8 bytes, uint8; ``offsets``: int64, n + 1.
    """
    table = quick_check_table(form)
    room = 1024 + int(offsets[-1] - offsets[0]) // 256  # mixed-script text: ~1 in 1,300 bytes
    lo = np.empty(room, dtype=np.int64)
    hi = np.empty(room, dtype=np.int64)
    n = K._quick_check_spans(data, offsets, table, lo, hi)
    if n > len(lo):
        lo = np.empty(n, dtype=np.int64)
        hi = np.empty(n, dtype=np.int64)
        n = K._quick_check_spans(data, offsets, table, lo, hi)
    return lo[:n], hi[:n]


# Joins the spans for one normalizer call. Two ASCII characters: a normalization
# boundary on both sides; never inside a span (a span holds no ASCII past its first
# character) nor made by one (no character's normal form holds a C0 control).
SPAN_SEPARATOR = "\x00\x1f"


def normalize_column(form: str, data: np.ndarray, offsets: np.ndarray,
                     normalize: Callable[[str], str]
                     ) -> tuple[np.ndarray, np.ndarray] | None:
    """The buffers (data uint8, offsets int64 from 0) of an Arrow string column's
    documents in normal form ``form``, or None when they all are already.

    Only the spans the quick check cannot pass (`normalization_spans`) reach Python:
    gathered into one string, normalized in one call to ``normalize`` (a ``str -> str``
    that computes ``form``, and returns its argument itself when nothing changes), and
    spliced back. Equal to normalizing each whole document, since every span begins and
    ends at a normalization boundary (UAX #15, section 9.1).

    Raises `InputError` naming the document (``<batch>``, its row in the column) when a
    span is not valid UTF-8.
    """
    lo, hi = normalization_spans(form, data, offsets)
    if len(lo) == 0:
        return None
    sep = np.frombuffer(SPAN_SEPARATOR.encode(), dtype=np.uint8)
    sizes = hi - lo + len(sep)
    buf = np.empty(int(sizes.sum()), dtype=np.uint8)
    K._gather(data, lo, hi, sep, buf)
    try:
        text = buf.tobytes().decode("utf-8")
    except UnicodeDecodeError as e:
        starts = np.cumsum(sizes) - sizes
        k = int(np.searchsorted(starts, e.start, side="right")) - 1
        doc = int(np.searchsorted(offsets, lo[k], side="right")) - 1
        at = int(lo[k] - offsets[doc] + e.start - starts[k])
        msg = "<batch>"
        raise InputError(msg, doc, "invalid_utf8", f"byte {at} is not valid UTF-8") from e
    normed = normalize(text)
    if normed is text:
        return None
    parts = normed.split(SPAN_SEPARATOR)
    if len(parts) != len(lo) + 1:
        msg = f"{len(parts) - 1} normalized spans for {len(lo)} (a bug; report it)"
        raise AssertionError(msg)
    encoded = [p.encode() for p in parts[:-1]]
    rep_off = np.zeros(len(lo) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in encoded], out=rep_off[1:])
    rep = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8)
    total = int(offsets[-1] - offsets[0] + rep_off[-1] - (hi - lo).sum())
    out = np.empty(max(total, 1), dtype=np.uint8)
    out_offsets = np.empty(len(offsets), dtype=np.int64)
    K._splice(data, offsets, lo, hi, rep, rep_off, out, out_offsets)
    return out, out_offsets


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
