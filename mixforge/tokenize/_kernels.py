"""Numba kernels of the native BPE engine (`native.py`): split regex + byte-level BPE.

Arrays and scalars only, no raising or logging. A batch of documents arrives as the
UTF-8 ``data`` buffer and ``offsets`` of an Arrow string column; each kernel call walks
a contiguous range of documents and releases the GIL, so threads encode in parallel.

Pre-tokenizers: hand-written matchers of the common split regexes, evaluated exactly
as a backtracking regex engine does (leftmost alternative first, greedy runs):

* ``PAT_GPT2``:   GPT-2 (``'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|...``)
* ``PAT_CL100K``: cl100k/GPT-4 (tiktoken: with ``\\s++$``, ``$`` = end of text)
* ``PAT_GPT4``:   the same without ``\\s++$`` (mixforge's trainer, Llama 3 style)

Character classes come from a table per code point (``cls``): letter (``\\p{L}``), number
(``\\p{N}``), White_Space (``\\s``), and UNKNOWN for code points this Python's Unicode
database does not assign: a document holding one is flagged and encoded by the fallback
engine, so a Unicode-version difference can never change ids silently.

BPE: tiktoken's algorithm (merge the adjacent pair whose concatenation has the lowest
rank, leftmost first; a piece that is itself a token is returned whole), with ranks in
an open-addressing hash table keyed by the bytes (FNV-1a 64).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._numba import JIT

_JIT = JIT  # the flags of every kernel module: mixforge/_numba.py

CLS_L = 1
CLS_N = 2
CLS_WS = 4
CLS_UNKNOWN = 8
PAT_GPT2 = 0
PAT_CL100K = 1
PAT_GPT4 = 2

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)


@njit(**_JIT, inline="always")
def _cp(data, i, end):
    """(code point, byte length) of the UTF-8 character at i; (-1, 0) at the end."""
    if i >= end:
        return -1, 0
    b = np.int64(data[i])
    if b < 0x80:
        return b, 1
    if b < 0xE0:
        return ((b & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F), 2
    if b < 0xF0:
        return (((b & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6)
                | (np.int64(data[i + 2]) & 0x3F)), 3
    return (((b & 0x07) << 18) | ((np.int64(data[i + 1]) & 0x3F) << 12)
            | ((np.int64(data[i + 2]) & 0x3F) << 6) | (np.int64(data[i + 3]) & 0x3F)), 4


@njit(**_JIT, inline="always")
def _cls(cls, cp):
    return 0 if cp < 0 else cls[cp]


@njit(**_JIT)
def _has_unknown(data, start, end, cls):
    """True when [start, end) holds a code point flagged UNKNOWN (or invalid UTF-8)."""
    i = start
    while i < end:
        b = data[i]
        if b < 0x80:
            i += 1
            continue
        n = 2 if b < 0xE0 else (3 if b < 0xF0 else 4)
        if b < 0xC2 or b > 0xF4 or i + n > end:
            return True
        cp, n = _cp(data, i, end)
        if cp > 0x10FFFF or cls[cp] & CLS_UNKNOWN:
            return True
        i += n
    return False


QC_NOT_YES = 255  # in a quick-check table (`native.quick_check_table`): No or Maybe


@njit(**_JIT, inline="always")
def _qc_char(data, i, end, qc):
    """(quick-check entry, byte length) of the non-ASCII UTF-8 character at i: its
    combining class, or QC_NOT_YES (also for malformed UTF-8: then to the end). One
    exit: Numba compiles this form ~3x faster than early returns."""
    b = data[i]
    n = 2 if b < 0xE0 else (3 if b < 0xF0 else 4)
    k = QC_NOT_YES
    if b >= 0xC2 and b <= 0xF4 and i + n <= end:
        cp, n = _cp(data, i, end)
        if cp <= 0x10FFFF:
            k = qc[cp]
    else:
        n = end - i
    return k, n


@njit(**_JIT)
def _quick_check_spans(data, offsets, qc, lo, hi):
    """The Unicode normalization quick check (UAX #15, section 9) of each document
    data[offsets[d]:offsets[d + 1]], answered as the byte spans [lo[k], hi[k]) that
    need normalizing; everything outside them is in the normal form already.

    The check fails at a code point whose Quick_Check is not Yes (``qc``:
    `QC_NOT_YES`) or whose non-zero combining class is below the previous one. A span
    runs from the last normalization boundary before the failure to the next one after
    it: a boundary is the start of a code point with combining class 0 and
    Quick_Check Yes, which nothing before it can compose or reorder with, so a
    document's normal form is its spans' normal forms spliced in (UAX #15, section
    9.1, "Stable Code Points"). Spans that touch within a document are merged.
    Malformed UTF-8 lands in a span (the decoder then names it).

    Writes the first len(lo) spans; returns how many there are (call again with
    room for that many when it is more)."""
    cap = len(lo)
    w = 0
    for d in range(len(offsets) - 1):
        i = offsets[d]
        end = offsets[d + 1]
        last = 0
        bound = i
        while i < end:
            if data[i] < 0x80:  # ASCII: class 0, Yes
                last = 0
                bound = i
                i += 1
                continue
            k, n = _qc_char(data, i, end, qc)
            if k == 0:
                last = 0
                bound = i
                i += n
                continue
            if k != QC_NOT_YES and last <= k:
                last = k
                i += n
                continue
            j = i + n
            while j < end and data[j] >= 0x80:
                k2, n2 = _qc_char(data, j, end, qc)
                if k2 == 0:
                    break
                j += n2
            if 0 < w <= cap and hi[w - 1] == bound and bound > offsets[d]:  # same doc
                hi[w - 1] = j
            else:
                if w < cap:
                    lo[w] = bound
                    hi[w] = j
                w += 1
            last = 0
            bound = j
            i = j
    return w


@njit(**_JIT)
def _gather(data, lo, hi, sep, out):
    """The spans data[lo[k]:hi[k]], each followed by ``sep``, back to back into out."""
    w = 0
    for k in range(len(lo)):
        m = hi[k] - lo[k]
        out[w:w + m] = data[lo[k]:hi[k]]
        w += m
        out[w:w + len(sep)] = sep
        w += len(sep)


@njit(**_JIT)
def _splice(data, offsets, lo, hi, rep, rep_off, out, out_offsets):
    """Documents data[offsets[d]:offsets[d + 1]] with each span [lo[k], hi[k]) (sorted,
    inside documents) replaced by rep[rep_off[k]:rep_off[k + 1]], back to back into
    ``out``, their bounds (from 0) into ``out_offsets``."""
    w = 0
    k = 0
    out_offsets[0] = 0
    for d in range(len(offsets) - 1):
        i = offsets[d]
        end = offsets[d + 1]
        while k < len(lo) and lo[k] < end:
            m = lo[k] - i
            out[w:w + m] = data[i:lo[k]]
            w += m
            m = rep_off[k + 1] - rep_off[k]
            out[w:w + m] = rep[rep_off[k]:rep_off[k + 1]]
            w += m
            i = hi[k]
            k += 1
        out[w:w + end - i] = data[i:end]
        w += end - i
        out_offsets[d + 1] = w


@njit(**_JIT, inline="always")
def _run(data, i, end, cls, want):
    """End of the run of characters whose class has a bit of ``want``, from i."""
    while i < end:
        cp, n = _cp(data, i, end)
        if not (cls[cp] & want):
            break
        i += n
    return i


@njit(**_JIT, inline="always")
def _is_punct(k, cp):
    """``[^\\s\\p{L}\\p{N}]`` (k: the class of cp; cp -1 is the end)."""
    return cp >= 0 and (k & (CLS_L | CLS_N | CLS_WS)) == 0


@njit(**_JIT)
def _ws_tail(data, i, end, cls, newline_branch, dollar):
    """The whitespace alternatives at i (a whitespace character):
    [``\\s++$``] [``\\s*[\\r\\n]``] ``\\s+(?!\\S)`` then ``\\s+`` (or ``\\s``)."""
    r = i
    last_nl = -1
    last_start = i
    count = 0
    while r < end:
        cp, n = _cp(data, r, end)
        if not (cls[cp] & CLS_WS):
            break
        if cp == 10 or cp == 13:
            last_nl = r
        last_start = r
        r += n
        count += 1
    if dollar and r == end:
        return end
    if newline_branch and last_nl >= 0:
        return last_nl + 1
    if r == end:
        return r
    if count >= 2:
        return last_start
    return r


@njit(**_JIT)
def _next_gpt2(data, i, end, cls):
    """End of the GPT-2 pre-token starting at i."""
    c, n = _cp(data, i, end)
    if c == 39:  # '  -> 's 't 're 've 'm 'll 'd (case-sensitive)
        c1, n1 = _cp(data, i + 1, end)
        if c1 == 115 or c1 == 116 or c1 == 109 or c1 == 100:
            return i + 2
        c2, _ = _cp(data, i + 1 + n1, end)
        if ((c1 == 114 and c2 == 101) or (c1 == 118 and c2 == 101)
                or (c1 == 108 and c2 == 108)):
            return i + 3
    j = i
    k = cls[c]
    if c == 32:
        c1, n1 = _cp(data, i + 1, end)
        k1 = _cls(cls, c1)
        if c1 >= 0 and not (k1 & CLS_WS):
            j, c, n, k = i + 1, c1, n1, k1
    if k & CLS_L:
        return _run(data, j + n, end, cls, CLS_L)
    if k & CLS_N:
        return _run(data, j + n, end, cls, CLS_N)
    if not (k & CLS_WS):
        p = j + n
        while p < end:
            cp, m = _cp(data, p, end)
            if not _is_punct(cls[cp], cp):
                break
            p += m
        return p
    return _ws_tail(data, i, end, cls, False, False)


@njit(**_JIT, inline="always")
def _ci(c, lower):
    return c == lower or c == lower - 32


@njit(**_JIT)
def _next_cl100k(data, i, end, cls, dollar):
    """End of the cl100k/GPT-4 pre-token starting at i."""
    c, n = _cp(data, i, end)
    k = cls[c]
    if c == 39:  # '(?i:[sdmt]|ll|ve|re)  (s also folds from U+017F LONG S)
        c1, n1 = _cp(data, i + 1, end)
        if _ci(c1, 115) or _ci(c1, 100) or _ci(c1, 109) or _ci(c1, 116) or c1 == 0x17F:
            return i + 1 + n1
        c2, n2 = _cp(data, i + 1 + n1, end)
        if ((_ci(c1, 108) and _ci(c2, 108)) or (_ci(c1, 118) and _ci(c2, 101))
                or (_ci(c1, 114) and _ci(c2, 101))):
            return i + 1 + n1 + n2
    if k & CLS_L:  # [^\r\n\p{L}\p{N}]?+\p{L}+
        return _run(data, i + n, end, cls, CLS_L)
    if c != 10 and c != 13 and not (k & CLS_N):
        c1, n1 = _cp(data, i + n, end)
        if _cls(cls, c1) & CLS_L:
            return _run(data, i + n + n1, end, cls, CLS_L)
    if k & CLS_N:  # \p{N}{1,3}
        p = i + n
        for _ in range(2):
            c1, n1 = _cp(data, p, end)
            if not (_cls(cls, c1) & CLS_N):
                break
            p += n1
        return p
    # ` ?[^\s\p{L}\p{N}]++[\r\n]*`
    j, cj, nj, kj = i, c, n, k
    if c == 32:
        c1, n1 = _cp(data, i + 1, end)
        if _is_punct(_cls(cls, c1), c1):
            j, cj, nj, kj = i + 1, c1, n1, cls[c1]
    if _is_punct(kj, cj):
        p = j + nj
        while p < end:
            cp, m = _cp(data, p, end)
            if not _is_punct(cls[cp], cp):
                break
            p += m
        while p < end and (data[p] == 10 or data[p] == 13):
            p += 1
        return p
    return _ws_tail(data, i, end, cls, True, dollar)


@njit(**_JIT, inline="always")
def _hash(data, a, b):
    h = FNV_OFFSET
    for i in range(a, b):
        h = (h ^ np.uint64(data[i])) * FNV_PRIME
    return h


@njit(**_JIT)
def _rank(data, a, b, slots, slot_hash, tok_data, tok_off, ranks):
    """The rank of the bytes data[a:b] (-1 when they are not a token)."""
    return _rank_h(_hash(data, a, b), data, a, b, slots, slot_hash, tok_data, tok_off, ranks)


@njit(**_JIT)
def _rank_h(h, data, a, b, slots, slot_hash, tok_data, tok_off, ranks):
    """`_rank` with the hash of data[a:b] given."""
    mask = len(slots) - 1
    s = np.int64(h & np.uint64(mask))
    n = b - a
    while True:
        t = slots[s]
        if t < 0:
            return -1
        if slot_hash[s] == h:
            o = tok_off[t]
            if tok_off[t + 1] - o == n:
                same = True
                for q in range(n):
                    if tok_data[o + q] != data[a + q]:
                        same = False
                        break
                if same:
                    return ranks[t]
        s = (s + 1) & mask


@njit(**_JIT, inline="always")
def _pair(pairs_key, pairs_val, ra, rb):
    """The rank of the concatenation of the tokens ranked ra and rb (-1: not a token)."""
    key = (np.uint64(ra) << np.uint64(32)) | np.uint64(rb)
    mask = len(pairs_key) - 1
    s = np.int64((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)) & mask
    while True:
        k = pairs_key[s]
        if k == key:
            return pairs_val[s]
        if pairs_val[s] < 0:
            return -1
        s = (s + 1) & mask


@njit(**_JIT)
def _bpe(data, a, b, ranks, pairs_key, pairs_val, out, w, part, pr):
    """tiktoken's byte-pair merge of the piece data[a:b] (at least 2 bytes, not itself a
    token): repeatedly merge the adjacent pair whose concatenation has the lowest rank,
    leftmost first. ``part`` holds the parts' ranks, ``pr`` each adjacent pair's merged
    rank (a pair's merged token is the concatenation, so its rank is the new part's).
    Writes ranks at out[w:] and returns the new w."""
    n = b - a
    m = n
    big = np.int64(1) << 62
    for k in range(n):
        part[k] = ranks[data[a + k]]
    for k in range(n - 1):
        r = _pair(pairs_key, pairs_val, part[k], part[k + 1])
        pr[k] = r if r >= 0 else big
    while m > 1:
        best = big
        bi = -1
        for k in range(m - 1):
            if pr[k] < best:
                best = pr[k]
                bi = k
        if bi < 0:
            break
        part[bi] = best
        for k in range(bi + 1, m - 1):
            part[k] = part[k + 1]
        for k in range(bi, m - 2):
            pr[k] = pr[k + 1]
        m -= 1
        if bi + 1 < m:
            r = _pair(pairs_key, pairs_val, part[bi], part[bi + 1])
            pr[bi] = r if r >= 0 else big
        if bi > 0:
            r = _pair(pairs_key, pairs_val, part[bi - 1], part[bi])
            pr[bi - 1] = r if r >= 0 else big
    for k in range(m):
        out[w] = part[k]
        w += 1
    return w


CACHE_SLOTS = 1 << 18  # per thread: ~20 MB; pieces merged once, then copied
CACHE_KEY_BYTES = 1 << 23
CACHE_IDS = 1 << 21
CACHE_MAX_PIECE = 96


def new_cache():
    """A pre-token cache (bytes -> ranks) for `_encode_docs`: one per thread, kept across
    calls; once full it is no longer filled (its contents never change the output)."""
    return (np.full(CACHE_SLOTS, -1, np.int64), np.zeros(CACHE_SLOTS, np.uint64),
            np.empty(CACHE_KEY_BYTES, np.uint8), np.empty(CACHE_IDS, np.uint32),
            np.zeros(CACHE_SLOTS // 2 + 1, np.int64), np.zeros(CACHE_SLOTS // 2 + 1, np.int64),
            np.zeros(1, np.int64))


@njit(**_JIT)
def _encode_docs(data, offsets, lo, hi, base, cls, pattern, table, pairs_key, pairs_val,
                 cache, out, lens, flags):
    """Encode documents lo..hi-1; ranks back to back into ``out`` (from 0), the count of
    each into ``lens``; a document holding an UNKNOWN code point gets flags = 1 and no
    tokens. ``base``: the offset of data[0] in the offsets' numbering. Returns the count.

    Pre-tokens that are not whole tokens are merged once and kept in ``cache``
    (`new_cache`; most words repeat)."""
    slots, slot_hash, tok_data, tok_off, ranks = table
    c_slot, c_hash, c_key, c_ids, c_koff, c_voff, c_n = cache
    w = 0
    cap = 64
    parts = np.empty(cap + 1, np.int64)
    pr = np.empty(cap, np.int64)
    mask = CACHE_SLOTS - 1
    n_entries = c_n[0]
    for d in range(lo, hi):
        start = offsets[d] - base
        end = offsets[d + 1] - base
        w0 = w
        if _has_unknown(data, start, end, cls):
            flags[d - lo] = 1
            lens[d - lo] = 0
            continue
        i = start
        while i < end:
            if pattern == PAT_GPT2:
                j = _next_gpt2(data, i, end, cls)
            else:
                j = _next_cl100k(data, i, end, cls, pattern == PAT_CL100K)
            n = j - i
            if n == 1:
                out[w] = ranks[data[i]]  # the 256 single bytes are entries 0..255
                w += 1
                i = j
                continue
            h = _hash(data, i, j)
            r = _rank_h(h, data, i, j, slots, slot_hash, tok_data, tok_off, ranks)
            if r >= 0:
                out[w] = r
                w += 1
                i = j
                continue
            s = np.int64(h & np.uint64(mask))
            found = -1
            while c_slot[s] >= 0:
                e = c_slot[s]
                if c_hash[s] == h and c_koff[e + 1] - c_koff[e] == n:
                    same = True
                    o = c_koff[e]
                    for q in range(n):
                        if c_key[o + q] != data[i + q]:
                            same = False
                            break
                    if same:
                        found = e
                        break
                s = (s + 1) & mask
            if found >= 0:
                for q in range(c_voff[found], c_voff[found + 1]):
                    out[w] = c_ids[q]
                    w += 1
                i = j
                continue
            if n > cap:
                while cap < n:
                    cap *= 2
                parts = np.empty(cap + 1, np.int64)
                pr = np.empty(cap, np.int64)
            w1 = _bpe(data, i, j, ranks, pairs_key, pairs_val, out, w, parts, pr)
            if (n <= CACHE_MAX_PIECE and n_entries < CACHE_SLOTS // 2
                    and c_koff[n_entries] + n <= CACHE_KEY_BYTES
                    and c_voff[n_entries] + (w1 - w) <= CACHE_IDS):
                e = n_entries
                ko = c_koff[e]
                vo = c_voff[e]
                for q in range(n):
                    c_key[ko + q] = data[i + q]
                for q in range(w1 - w):
                    c_ids[vo + q] = out[w + q]
                c_koff[e + 1] = ko + n
                c_voff[e + 1] = vo + (w1 - w)
                c_slot[s] = e
                c_hash[s] = h
                n_entries += 1
            w = w1
            i = j
        lens[d - lo] = w - w0
    c_n[0] = n_entries
    return w


def build_table(tokens: list[bytes], ranks: np.ndarray):
    """The hash table of token bytes -> rank (tokens[k] has rank ranks[k]); the first 256
    entries must be the single bytes 0..255 in order (`_bpe` indexes them directly)."""
    n = len(tokens)
    size = 1 << max(10, int(2 * n - 1).bit_length())
    lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=n)
    tok_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=tok_off[1:])
    tok_data = np.frombuffer(b"".join(tokens), dtype=np.uint8)
    slots = np.full(size, -1, dtype=np.int64)
    slot_hash = np.zeros(size, dtype=np.uint64)
    _fill(slots, slot_hash, tok_data, tok_off)
    ranks = ranks.astype(np.int64)
    n_splits = int((lengths - 1).clip(0).sum())
    psize = 1 << max(10, int(2 * n_splits - 1).bit_length())
    pairs_key = np.zeros(psize, dtype=np.uint64)
    pairs_val = np.full(psize, -1, dtype=np.int64)
    _fill_pairs(slots, slot_hash, tok_data, tok_off, ranks, pairs_key, pairs_val)
    return (slots, slot_hash, tok_data, tok_off, ranks), (pairs_key, pairs_val)


@njit(**_JIT)
def _fill_pairs(slots, slot_hash, tok_data, tok_off, ranks, pairs_key, pairs_val):
    """Every (rank a, rank b) whose concatenation is a token -> that token's rank."""
    mask = len(pairs_key) - 1
    for t in range(len(tok_off) - 1):
        o, e = tok_off[t], tok_off[t + 1]
        for k in range(o + 1, e):
            ra = _rank(tok_data, o, k, slots, slot_hash, tok_data, tok_off, ranks)
            if ra < 0:
                continue
            rb = _rank(tok_data, k, e, slots, slot_hash, tok_data, tok_off, ranks)
            if rb < 0:
                continue
            key = (np.uint64(ra) << np.uint64(32)) | np.uint64(rb)
            s = np.int64((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)) & mask
            while pairs_val[s] >= 0:
                s = (s + 1) & mask
            pairs_key[s] = key
            pairs_val[s] = ranks[t]


@njit(**_JIT)
def _fill(slots, slot_hash, tok_data, tok_off):
    """Insert every token into the open-addressing table (linear probing)."""
    mask = len(slots) - 1
    for t in range(len(tok_off) - 1):
        h = _hash(tok_data, tok_off[t], tok_off[t + 1])
        s = np.int64(h & np.uint64(mask))
        while slots[s] >= 0:
            s = (s + 1) & mask
        slots[s] = t
        slot_hash[s] = h


@njit(**_JIT)
def _frame(tokens, starts, lens, order, bos, eos, out):
    """Copy the tokens of documents ``order[0], order[1], ...`` (document d is
    tokens[starts[d]:starts[d] + lens[d]]) into ``out`` back to back, with ``bos`` before
    and/or ``eos`` after each (a negative id: none). ``out``'s dtype is the store's: the
    framing, the grouping by domain and the narrowing to uint16 are one pass."""
    w = 0
    for k in range(len(order)):
        d = order[k]
        if bos >= 0:
            out[w] = bos
            w += 1
        r = starts[d]
        for _ in range(lens[d]):
            out[w] = tokens[r]
            w += 1
            r += 1
        if eos >= 0:
            out[w] = eos
            w += 1


@njit(**_JIT)
def _split(data, start, end, cls, pattern, out):
    """The pre-token ends of data[start:end] into ``out``; returns their count (tests and
    `native.NativeBPE.split` use it: the matchers alone, without BPE)."""
    i = start
    k = 0
    while i < end:
        if pattern == PAT_GPT2:
            i = _next_gpt2(data, i, end, cls)
        else:
            i = _next_cl100k(data, i, end, cls, pattern == PAT_CL100K)
        out[k] = i
        k += 1
    return k
