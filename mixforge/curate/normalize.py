"""Text normalization for dedup: the view of a document two copies must agree on.

Unicode NFKC, lowercase, punctuation and symbols to spaces, whitespace runs to one space
(each switchable). One Numba pass classifies each document (all-ASCII ones at memory
speed); one more folds punctuation and whitespace, lowercases, and applies NFKC where
it does not depend on context (code points with a "boundary before", and learned chunks
of a base and its combining marks: see `_learn`); only documents holding anything else
(3 of 24,383 on the project corpus, 130 of 6,444 on the gettext corpus of 131 locales)
first go through Python's own NFKC and lowercase (`unicodedata`, `str.lower`, the
reference). The hashing that follows is a Numba kernel over the result's buffers
(`_kernels`). Where the time goes: docs/benchmarks.md, "MinHash signatures".

Examples
--------
>>> import pyarrow as pa
>>> normalize(pa.array(["Hello,  WORLD!"]), NormConfig()).to_pylist()
['hello world']
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..config import opt
from . import _kernels as K
from ._utf8 import string_buffers


@dataclass
class NormConfig:
    """How text is normalized before hashing (exact keys and MinHash shingles alike)."""

    nfkc: bool = opt(True, "Unicode NFKC normalization (full-width, ligatures, compat forms).")
    lowercase: bool = opt(True, "Lowercase (full Unicode case mapping).")
    punctuation: bool = opt(True, "Replace punctuation and symbols (Unicode P*, S*) by spaces.")
    whitespace: bool = opt(True, "Collapse whitespace runs to one space and trim the ends.")


@lru_cache(maxsize=1)
def char_classes() -> np.ndarray:
    """Class bits of code points below U+30000 (none above is punctuation or space):
    1 = Unicode category P* or S*, 2 = whitespace as ``str.isspace``. Built once per
    process from `unicodedata` (~0.1 s)."""
    table = np.zeros(0x30000, np.uint8)
    for cp in range(0x30000):
        c = chr(cp)
        if unicodedata.category(c)[0] in "PS":
            table[cp] = K.SEP_PUNCT
        elif c.isspace():
            table[cp] = K.SEP_SPACE
    return table


@lru_cache(maxsize=2)
def _ascii_out(lower: bool) -> np.ndarray:
    """What each ASCII byte becomes when punctuation and whitespace are folded: a space
    for a separator (`char_classes` != 0), else itself, lowercased when ``lower``."""
    out = np.arange(128, dtype=np.uint8)
    if lower:
        out[65:91] += 32
    out[char_classes()[:128] != 0] = 32
    return out


# Per process, what NFKC + lowercase do to each code point below U+30000 when that does
# not depend on its neighbours: -2 not looked at yet, -1 it may (the document goes to
# Python's NFKC + lowercase), >= 0 the lowercase code point of one that NFKC leaves
# alone, <= -3 expansion ``-3 - v``: the code points lower(NFKC(c)) of one NFKC replaces
# ("…" -> "...", no-break space -> space, fullwidth forms, ligatures, "İ" -> "i̇"; used
# when both NFKC and lowercase are on). Filled lazily with the code points the batches
# actually contain, so a process pays for the few hundred it meets.
_LOWMAP = np.full(0x30000, -2, np.int32)
_EXPANSIONS: list[str] = []
# Marks: code points unsafe alone only because something before them may compose or
# reorder with them (combining marks, composition seconds) while NFKC and lowercase leave
# them alone; safe inside a learned chunk (a safe base and its run of marks) whose NFKC
# is itself. Chunks are keyed by a 64-bit hash of their bytes in an open-addressing
# table kept at most half full (2^17 slots; past that, new chunks take the slow path).
_MARKS = np.zeros(0x30000, np.bool_)
_CHUNK_KEYS = np.zeros(1 << 17, np.uint64)
_CHUNK_STATES = np.zeros(1 << 17, np.int8)
_CHUNKS = {"n": 0}
MAX_UNKNOWN_CHUNKS = 4096  # learned per classification pass
# Hangul vowel and trailing jamo: a leading + vowel (+ trailing) jamo compose
# algorithmically (not through the decomposition data), so these count as composition
# seconds (with the fillers and the old-Hangul vowel/trailing extension, to be safe).
# Precomposed syllables (NFKD: a leading jamo first) are then safe: only a following
# vowel or trailing jamo can change them, and that sends the document to the slow path.
_JAMO = ((0x1160, 0x11FF), (0xD7B0, 0xD7FF))
MAX_GROWTH = 3  # an expansion's UTF-8 is at most 3x its code point's (longer: slow path)


@lru_cache(maxsize=1)
def _composition_seconds() -> frozenset[int]:
    """Code points that can be the second half of a canonical composition."""
    out = set()
    for cp in range(0x30000):
        d = unicodedata.decomposition(chr(cp))
        if d and not d.startswith("<") and len(d.split()) == 2:
            out.add(int(d.split()[1], 16))
    out.update(cp for lo, hi in _JAMO for cp in range(lo, hi + 1))
    return frozenset(out)


def _learn(cps: np.ndarray) -> None:
    """Classify new code points. NFKC is decomposition, then reordering of combining
    marks, then composition of a starter with what follows it; a code point c is safe in
    any context when nothing before it can reorder or compose with it: combining class 0,
    never the second half of a composition, and the same holds for the first code point
    of its full decomposition NFKD(c). Then NFKC of a text of such code points is the
    concatenation of NFKC(c) ("boundary before" every one of them, Unicode UAX #15), and
    lowercase is per code point unless a capital sigma appears (the final-sigma rule).
    Safe code points NFKC leaves alone and lowercase maps to one code point get that
    code point; the others get an expansion (lower(NFKC(c)), at most `MAX_GROWTH` x its
    bytes). All from Python's `unicodedata` and `str.lower`, the reference."""
    seconds = _composition_seconds()
    for cp in cps.tolist():
        c = chr(cp)
        _LOWMAP[cp] = -1
        first = unicodedata.normalize("NFKD", c)[:1] or c
        if (cp in seconds or ord(first) in seconds or unicodedata.combining(c)
                or unicodedata.combining(first)):
            _MARKS[cp] = unicodedata.normalize("NFKC", c) == c == c.lower()
            continue
        k = unicodedata.normalize("NFKC", c)
        if "\u03a3" in k:  # its lowercase depends on the neighbours (final sigma)
            continue
        if k == c and len(c.lower()) == 1:
            _LOWMAP[cp] = ord(c.lower())
            continue
        e = k.lower()
        if len(e.encode()) <= MAX_GROWTH * len(c.encode()):
            _LOWMAP[cp] = -3 - len(_EXPANSIONS)
            _EXPANSIONS.append(e)


def _learn_chunks(data: np.ndarray, spans: np.ndarray) -> None:
    """Learn chunks (byte spans of ``data``: a safe base and its run of marks): safe when
    what the fast path writes for it (the base lowercased or expanded, the marks as they
    are) equals Python's ``NFKC(chunk).lower()`` and holds no capital sigma. A chunk is
    then context-free: its base and the code point after it both start a new NFKC
    segment (see `_learn`)."""
    for a, b in spans.tolist():
        chunk = bytes(data[a:b]).decode("utf-8")
        base = ord(chunk[0])
        v = _LOWMAP[base] if base >= 0x80 else -4
        fast = (chunk[0].lower() if v == -4 else chr(v) if v >= 0
                else _EXPANSIONS[-3 - v]) + chunk[1:]
        nfkc = unicodedata.normalize("NFKC", chunk)
        safe = nfkc.lower() == fast and "\u03a3" not in nfkc
        K._chunk_set(_CHUNK_KEYS, _CHUNK_STATES, np.uint64(K._chunk_hash(data, a, b)),
                     1 if safe else 2)
        _CHUNKS["n"] += 1


def _expansion_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(offsets int64, code points int32) of `_EXPANSIONS`, cached by their count."""
    n = len(_EXPANSIONS)
    if _EXP_CACHE.get("n") != n:
        cps = [ord(ch) for e in _EXPANSIONS for ch in e]
        off = np.zeros(n + 1, np.int64)
        np.cumsum([len(e) for e in _EXPANSIONS], out=off[1:])
        _EXP_CACHE.update(n=n, arrays=(off, np.array(cps or [0], np.int32)))
    return _EXP_CACHE["arrays"]


_EXP_CACHE: dict = {}


def _reference_fold(texts: list[str | None], nfkc: bool, lower: bool) -> list[str]:
    """Python's own NFKC and lowercase of each text: the slow path, and the reference."""
    out = []
    for t in texts:
        t = t or ""
        if nfkc:
            t = unicodedata.normalize("NFKC", t)
        out.append(t.lower() if lower else t)
    return out


def normalize(texts: pa.Array | pa.ChunkedArray, cfg: NormConfig) -> pa.Array:
    """The normalized column (large_string, one chunk), in the order nfkc, lower, punct, ws.

    One Numba pass over every document's UTF-8 folds punctuation and whitespace (a code
    point class table) and lowercases ASCII and the non-ASCII code points whose NFKC and
    lowercase are context-free (most letters of every script; with NFKC and lowercase
    both on also "…", no-break space, fullwidth forms, ligatures, and combining marks in
    chunks Python has checked). Only documents holding another code point (the capital
    sigma, a chunk NFKC changes) go through Python's ``unicodedata.normalize("NFKC")``
    and ``str.lower`` first (C code, one call per such document): the reference the
    result must equal for every code point in every context (tested over all of
    Unicode). Arrow's kernels are not used for this: they follow a different Unicode
    version and no final-sigma rule, and disagreed on 243 code points.
    """
    arr = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    offsets, data = string_buffers(arr)
    n = len(arr)
    src = np.full(n, -1, np.int64)  # -1: fold the text as given; k: slow-path document k
    s_offsets, s_data = np.zeros(1, np.int64), np.zeros(1, np.uint8)
    expand = cfg.nfkc and cfg.lowercase  # expansions are lower(NFKC(c))
    if (cfg.nfkc or cfg.lowercase) and n:
        unsafe = np.empty(n, np.bool_)
        seen = np.zeros(len(_LOWMAP), np.bool_)
        for _ in range(3):  # code points, then the chunks of new marks, then settled
            room = min(MAX_UNKNOWN_CHUNKS, len(_CHUNK_KEYS) // 2 - _CHUNKS["n"])
            unk = np.empty((room, 2), np.int64)
            new_docs, n_unk = K._classify(offsets, data, _LOWMAP, _MARKS, expand, _CHUNK_KEYS,
                                          _CHUNK_STATES, seen, unsafe, unk)
            if not new_docs:
                break
            if seen.any():
                _learn(np.flatnonzero(seen))
                seen[:] = False
            _learn_chunks(data, unk[:n_unk])
        slow_idx = np.flatnonzero(unsafe)
        if len(slow_idx):
            slow = pa.array(_reference_fold(arr.take(pa.array(slow_idx)).to_pylist(),
                                            cfg.nfkc, cfg.lowercase), pa.large_string())
            s_offsets, s_data = string_buffers(slow)
            src[slow_idx] = np.arange(len(slow_idx))
    out_off = np.empty(n + 1, np.int64)
    # an expansion is at most MAX_GROWTH x its code point's bytes (a 2-byte letter can
    # lowercase to 3 bytes); slow-path documents are read from s_data. Pages of `out`
    # past what is written are never touched (np.empty), so the bound costs no memory.
    size = int(offsets[-1] - offsets[0]) + int(s_offsets[-1] - s_offsets[0])
    out = np.empty(size * MAX_GROWTH + 4, np.uint8)
    exp_off, exp_cps = _expansion_arrays()
    K._normalize_utf8(offsets, data, src, s_offsets, s_data, cfg.lowercase, cfg.punctuation,
                      cfg.whitespace, char_classes(), _LOWMAP, expand, exp_off, exp_cps,
                      _ascii_out(cfg.lowercase), out_off, out)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(out_off),
                                            pa.py_buffer(out[: max(out_off[-1], 1)]))


# Keys of documents that normalize to nothing are taken over their raw bytes, with this
# mark in the low half so they can never equal the key of a normalized text.
RAW_KEY_MARK = np.uint64(0x5BD1E9955BD1E995)


def exact_keys(texts: pa.Array | pa.ChunkedArray, cfg: NormConfig) -> tuple[np.ndarray, np.ndarray]:
    """128-bit keys (hi, lo uint64) of the normalized texts: equal text -> equal key.

    A document that normalizes to nothing (only punctuation, symbols, emoji or
    whitespace) is keyed by its raw UTF-8 bytes instead, so unrelated such documents
    never form one group; byte-equal ones still do.

    Examples
    --------
    >>> hi, lo = exact_keys(pa.array(["A  b", "a b!", "c", "!!", "?"]), NormConfig())
    >>> bool(hi[0] == hi[1] and lo[0] == lo[1]), bool(hi[0] == hi[2]), bool(hi[3] == hi[4])
    (True, False, False)
    """
    offsets, data = string_buffers(normalize(texts, cfg))
    n = len(offsets) - 1
    hi, lo = np.empty(n, np.uint64), np.empty(n, np.uint64)
    K._doc_hash128(offsets, data, hi, lo)
    empty = np.flatnonzero(np.diff(offsets) == 0)
    if len(empty):
        raw = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
        raw = pc.fill_null(raw.take(pa.array(empty)), "").cast(pa.large_string())
        r_off, r_data = string_buffers(raw)
        r_hi, r_lo = np.empty(len(empty), np.uint64), np.empty(len(empty), np.uint64)
        K._doc_hash128(r_off, r_data, r_hi, r_lo)
        hi[empty], lo[empty] = r_hi, r_lo ^ RAW_KEY_MARK
    return hi, lo


def shingle_hashes(texts: pa.Array | pa.ChunkedArray, ngram: int, cfg: NormConfig | None = None,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(hashes uint64, offsets int64 ``(n + 1,)``): each document's token ``ngram``
    shingle hashes, in text order.

    Tokens are words (runs of non-whitespace bytes), except that each code point of a
    script written without spaces (Han, Kana, Bopomofo, Thai, Lao, Tibetan, Myanmar,
    Khmer) is a token of its own: character n-grams for those scripts, decided per
    character, so mixed text works too. A document with fewer than ``ngram`` tokens is
    one shingle of all of them, one with none has no shingles. ``cfg=None`` hashes the
    text as given (already normalized).
    """
    arr = normalize(texts, cfg) if cfg is not None else texts
    offsets, data = string_buffers(arr)
    counts = np.empty(len(offsets) - 1, np.int64)
    K._count_shingles(offsets, data, ngram, counts)
    hoffsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=hoffsets[1:])
    out = np.empty(int(hoffsets[-1]), np.uint64)
    if K._shingle_hashes(offsets, data, ngram, hoffsets, out):
        msg = "shingle count and shingle hashes disagree (a kernel bug)"
        raise AssertionError(msg)
    return out, hoffsets
