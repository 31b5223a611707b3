"""Numba kernels of exact and fuzzy dedup: private, arrays and scalars only, no raising.

Every kernel walks the UTF-8 bytes of a whole Arrow string column (its ``offsets`` and
``data`` buffers, zero copy) in one call; nothing here runs Python per document. The
public wrappers that validate and convert live in `normalize`, `minhash` and `lsh`; the
slow obvious twins live in tests/curate/naive_curate.py.

Hashes (all 64-bit, wrapping arithmetic):
- bytes -> FNV-1a 64, finalized with MurmurHash3's fmix64 (the word hash);
- a token n-gram -> ``h = SEED; h = fmix64(h ^ w)`` over its n token hashes (the
  shingle); a token is a word (a run of non-whitespace bytes) or one code point of a
  script written without spaces (CJK, Thai, ...), so those get character n-grams;
- a document -> two independent byte hashes (FNV-1a and a multiplicative one, each
  finalized with the length), 128 bits for exact dedup;
- MinHash -> datasketch's ``affine32`` (``fmix32(fold32(shingle)) * a_k + b_k mod
  2^32``) or ``affine64`` (``fmix64(shingle) * a_k + b_k mod 2^64``) scheme, the minimum
  over shingles, for each permutation ``k``.

Speed notes that apply to every byte loop here (measured, docs/benchmarks.md "MinHash
signatures"): index through a view that starts at 0 or with an unsigned cast (a signed
index costs Numba a negative-index fix-up per access and blocks vectorization), and keep
per-byte work free of branches whose outcome flips at every word.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint32, uint64

from .._numba import JIT
from ._utf8 import _decode

FNV_OFFSET = uint64(0xCBF29CE484222325)
FNV_PRIME = uint64(0x100000001B3)
MUL2 = uint64(0x9E3779B97F4A7C15)
SHINGLE_SEED = uint64(0x243F6A8885A308D3)
BAND_SEED = uint64(0x13198A2E03707344)
FM1 = uint64(0xFF51AFD7ED558CCD)
FM2 = uint64(0xC4CEB9FE1A85EC53)
S33 = uint64(33)
MAXU64 = uint64(0xFFFFFFFFFFFFFFFF)
MAXU32 = uint32(0xFFFFFFFF)
M32 = uint64(0xFFFFFFFF)
S32 = uint64(32)

_JIT = JIT  # the flags of every kernel module: mixforge/_numba.py


@njit(**_JIT)
def _fmix64(h):
    h ^= h >> S33
    h *= FM1
    h ^= h >> S33
    h *= FM2
    h ^= h >> S33
    return h


@njit(**_JIT)
def _is_space(c):
    return c == 32 or (c >= 9 and c <= 13)


SEP_PUNCT = 1
SEP_SPACE = 2


@njit(**_JIT)
def _encode(cp, out, pos):
    """Write code point ``cp`` as UTF-8 at ``out[pos]``; return the new position."""
    p = uint64(pos)  # unsigned: no negative-index fix-up
    if cp < 0x80:
        out[p] = cp
        return pos + 1
    if cp < 0x800:
        out[p] = 0xC0 | (cp >> 6)
        out[p + uint64(1)] = 0x80 | (cp & 0x3F)
        return pos + 2
    if cp < 0x10000:
        out[p] = 0xE0 | (cp >> 12)
        out[p + uint64(1)] = 0x80 | ((cp >> 6) & 0x3F)
        out[p + uint64(2)] = 0x80 | (cp & 0x3F)
        return pos + 3
    out[p] = 0xF0 | (cp >> 18)
    out[p + uint64(1)] = 0x80 | ((cp >> 12) & 0x3F)
    out[p + uint64(2)] = 0x80 | ((cp >> 6) & 0x3F)
    out[p + uint64(3)] = 0x80 | (cp & 0x3F)
    return pos + 4


@njit(**_JIT)
def _chunk_hash(seg, a, b):
    """fmix64(FNV-1a 64) of ``seg[a:b]``, never 0 (0 marks an empty table slot)."""
    h = FNV_OFFSET
    for t in range(a, b):
        h = (h ^ uint64(seg[t])) * FNV_PRIME
    h = _fmix64(h)
    return h if h != 0 else uint64(1)


@njit(**_JIT)
def _chunk_slot(keys, h):
    """The slot of key ``h`` in the open-addressing table ``keys`` (or the empty slot
    where it would go); the table is never more than half full."""
    mask = uint64(keys.shape[0] - 1)
    s = h & mask
    while keys[s] != 0 and keys[s] != h:
        s = (s + uint64(1)) & mask
    return s


@njit(**_JIT)
def _chunk_set(keys, states, h, v):
    s = _chunk_slot(keys, h)
    keys[s] = h
    states[s] = v


@njit(**_JIT)
def _classify(offsets, data, lowmap, marks, expand, keys, states, seen, unsafe, unk):
    """unsafe[i] = document i holds a code point NFKC or lowercase may change in context;
    returns (documents with something not learned yet, unknown chunks written to ``unk``).

    Per code point, ``lowmap``: -2 not learned yet (seen[cp] = True, the document counts
    as unsafe until it is learned), -1 unsafe unless ``marks[cp]``, <= -3 an expansion
    (unsafe when not ``expand``). A mark (a combining mark, or a code point a composition
    may absorb, e.g. a Bengali vowel sign) is safe in its chunk: the code point before
    it (ASCII, ``lowmap`` >= 0 or an expansion) and the run of marks after, when
    ``expand``; the chunk's bytes are looked up by hash in ``keys``/``states`` (1 safe,
    2 unsafe, 3 sent to Python in this pass); an unknown chunk's byte range (into
    ``data``) goes to ``unk`` for Python to learn, once, while ``unk`` has room (it is
    sized to what the table may still take; past that, the document is unsafe).
    A document is first OR-reduced (vectorized): all-ASCII ones are safe without
    decoding."""
    unknown = 0
    nunk = 0
    for i in range(offsets.shape[0] - 1):
        # a view from 0: indices numba and LLVM know are >= 0 need no wraparound fix-up,
        # so the OR loop vectorizes (7x faster than indexing ``data`` from offsets[i])
        seg = data[offsets[i]:offsets[i + 1]]
        end = seg.shape[0]
        acc = np.uint8(0)
        for t in range(end):
            acc |= seg[t]
        bad = False
        new = False
        j = 0
        if acc >= 0x80:
            while j < end and not bad:
                if seg[uint64(j)] < 0x80:
                    if j + 16 <= end:  # in ASCII text: skip 16 bytes at a time
                        a16 = np.uint8(0)
                        for t in range(16):
                            a16 |= seg[uint64(j + t)]
                        if a16 < 0x80:
                            j += 16
                            continue
                    j += 1
                    continue
                cp, n = _decode(seg, j, end)
                v = lowmap[cp] if cp < lowmap.shape[0] else -1
                if v == -2:
                    seen[cp] = True
                    new = True
                elif v == -1:
                    if not (expand and marks[cp]) or j == 0:
                        bad = True
                    else:
                        b = j - 1  # the base: the code point before the marks
                        while b > 0 and j - b < 4 and (seg[b] & 0xC0) == 0x80:
                            b -= 1
                        bcp, bn = _decode(seg, b, end)
                        if b + bn != j or (bcp >= 0x80 and (bcp >= lowmap.shape[0]
                                                          or lowmap[bcp] in (-1, -2))):
                            bad = True
                        else:
                            e = j + n  # the run of marks
                            while e < end and seg[e] >= 0x80:
                                c2, n2 = _decode(seg, e, end)
                                if c2 >= lowmap.shape[0] or lowmap[c2] != -1 or not marks[c2]:
                                    break
                                e += n2
                            h = _chunk_hash(seg, b, e)
                            s = _chunk_slot(keys, h)
                            st = states[s] if keys[s] == h else 0
                            if st == 2:
                                bad = True
                            elif st == 3:  # already sent to Python in this pass
                                new = True
                            elif st == 0:
                                if nunk < unk.shape[0]:  # the table's room for new keys
                                    keys[s] = h
                                    states[s] = 3
                                    unk[nunk, 0] = offsets[i] + b
                                    unk[nunk, 1] = offsets[i] + e
                                    nunk += 1
                                    new = True
                                else:
                                    bad = True
                            n = e - j
                elif v < 0 and not expand:
                    bad = True
                j += n
        unsafe[i] = bad or new
        unknown += new and not bad
    return unknown, nunk


@njit(**_JIT)
def _fold_cp(cp, punct, space, table, out, pos, start, prev_punct, prev_space):
    """Fold one code point of an expansion (already NFKC'd and lowercased) the way
    `_fold_doc` folds the text's own; returns (pos, prev_punct, prev_space)."""
    cls = table[cp] if cp < table.shape[0] else 0
    if punct and (cls & SEP_PUNCT):
        if prev_punct:
            return pos, prev_punct, prev_space
        prev_punct = True
        cls = SEP_SPACE
        cp = 32
    else:
        prev_punct = False
    if cp == 32 or (cls & SEP_SPACE):
        if space:
            if not (prev_space or pos == start):
                out[pos] = 32
                pos += 1
            return pos, prev_punct, True
        if cp == 32:
            out[pos] = 32
            return pos + 1, prev_punct, prev_space
    return _encode(cp, out, pos), prev_punct, False


@njit(**_JIT)
def _fold_doc(data, lower, punct, space, table, lowmap, expand, exp_off, exp_cps, ascii_out,
              out, pos):
    """`_normalize_utf8` of one document (``data``: a view of its bytes), written at
    ``out[pos]``; returns the new end of the output."""
    j = 0
    end = data.shape[0]
    fast = punct and space
    prev_punct = False
    prev_space = False
    start = pos
    while j < end:
        c = data[j]
        if fast and c < 0x80:
            started = pos != start  # a letter was written (the sep rule's "not at start")
            while True:  # a run of ASCII bytes, branch-free per byte
                o = ascii_out[c]
                out[uint64(pos)] = o  # unsigned index: no negative-index fix-up
                letter = o != 32
                pos += letter | ((not prev_space) & started)  # bitwise, no branch
                started |= letter  # not `pos != start`: keeps `pos` off the critical path
                prev_space = not letter
                j += 1
                if j >= end:
                    break
                c = data[uint64(j)]
                if c >= 0x80:
                    break
            prev_punct = (table[data[j - 1]] & SEP_PUNCT) != 0
            continue
        cp, n = _decode(data, j, end)
        if expand and cp < lowmap.shape[0] and lowmap[cp] <= -3:
            e = -3 - lowmap[cp]
            for q in range(exp_off[e], exp_off[e + 1]):
                pos, prev_punct, prev_space = _fold_cp(exp_cps[q], punct, space, table, out,
                                                       pos, start, prev_punct, prev_space)
            j += n
            continue
        cls = table[cp] if cp < table.shape[0] else 0
        if punct and (cls & SEP_PUNCT):
            if prev_punct:
                j += n
                continue
            prev_punct = True
            cls = SEP_SPACE
            cp = 32
        else:
            prev_punct = False
        if cp == 32 or (cls & SEP_SPACE):
            if space:
                if not (prev_space or pos == start):
                    out[pos] = 32
                    pos += 1
                prev_space = True
                j += n
                continue
            if cp == 32:  # a space, or punctuation made a space
                out[pos] = 32
                pos += 1
                j += n
                continue
        prev_space = False
        if n == 1:
            out[pos] = c + 32 if lower and 65 <= c <= 90 else c
            pos += 1
        elif lower and cp < lowmap.shape[0] and lowmap[cp] >= 0 and lowmap[cp] != cp:
            pos = _encode(lowmap[cp], out, pos)
        else:
            for t in range(n):
                out[uint64(pos + t)] = data[uint64(j + t)]
            pos += n
        j += n
    if space and pos > start and out[pos - 1] == 32:
        pos -= 1
    return pos


@njit(**_JIT)
def _normalize_utf8(offsets, data, src, s_offsets, s_data, lower, punct, space, table, lowmap,
                    expand, exp_off, exp_cps, ascii_out, out_offsets, out):
    """Punctuation and whitespace folding over UTF-8 (after NFKC and lowercase).

    Document i is read from ``data`` (``src[i] < 0``) or, when the slow path folded it
    first, from document ``src[i]`` of ``s_offsets``/``s_data`` (no splicing copy).
    Decodes each code point, looks its class up in ``table`` (bit 1: Unicode P*/S*,
    bit 2: whitespace as Python's ``str.isspace``), and writes: each run of punctuation
    -> one space; each run of whitespace -> one space, ends trimmed; other code points
    copied, lowercased when ``lower`` (ASCII directly, others through ``lowmap`` where
    it holds a code point, >= 0). With ``expand``, a code point whose ``lowmap`` entry
    v <= -3 is replaced by expansion ``-3 - v``: the code points
    ``exp_cps[exp_off[e]:exp_off[e + 1]]`` (its lowercased NFKC), folded in turn. ``out``
    needs the input bytes times the largest growth (3x).

    With ``punct`` and ``space`` both on (the default), a run of ASCII bytes takes a
    branch-free path: ``ascii_out[c]`` is the byte it becomes (a space for punctuation
    and whitespace, else itself, lowercased when ``lower``), and a space is written only
    after a letter (any run of separators is one space): the general path's separator
    branch mispredicts at every word boundary (docs/benchmarks.md, "where the time goes").
    """
    pos = 0
    for i in range(offsets.shape[0] - 1):
        out_offsets[i] = pos
        k = src[i]
        if k < 0:
            seg = data[offsets[i]:offsets[i + 1]]
        else:
            seg = s_data[s_offsets[k]:s_offsets[k + 1]]
        # a slow-path document is NFKC'd and lowercased already: nothing to expand
        pos = _fold_doc(seg, lower, punct, space, table, lowmap, expand and k < 0, exp_off,
                        exp_cps, ascii_out, out, pos)
    out_offsets[offsets.shape[0] - 1] = pos


@njit(**_JIT)
def _doc_hash128(offsets, data, out_hi, out_lo):
    """Two independent 64-bit hashes of each document's bytes (exact dedup keys)."""
    n = offsets.shape[0] - 1
    for i in range(n):
        h1 = FNV_OFFSET
        h2 = uint64(0)
        for j in range(offsets[i], offsets[i + 1]):
            c = uint64(data[j])
            h1 = (h1 ^ c) * FNV_PRIME
            h2 = (h2 + c + uint64(1)) * MUL2
        length = uint64(offsets[i + 1] - offsets[i])
        out_hi[i] = _fmix64(h1 ^ length)
        out_lo[i] = _fmix64(h2 ^ (length * FM2))


@njit(**_JIT)
def _unspaced_len(data, j, end):
    """Bytes of the code point at ``data[j]`` when its script is written without spaces
    between words (Han, Hiragana, Katakana, Bopomofo, Thai, Lao, Tibetan, Myanmar,
    Khmer), else 0. Those code points are one token each (character shingles)."""
    if data[j] < 0xE0:  # every such code point is 3 or 4 bytes long
        return 0
    cp, n = _decode(data, j, end)
    if cp < 0x2E80:
        if (0x0E00 <= cp <= 0x0FFF or 0x1000 <= cp <= 0x109F or 0x1780 <= cp <= 0x17FF
                or 0x19E0 <= cp <= 0x19FF):
            return n
        return 0
    if (cp <= 0x2FDF or 0x3005 <= cp <= 0x3007 or 0x3021 <= cp <= 0x3029
            or 0x3038 <= cp <= 0x303B or 0x3040 <= cp <= 0x30FF or 0x3100 <= cp <= 0x312F
            or 0x31A0 <= cp <= 0x31BF or 0x31F0 <= cp <= 0x31FF or 0x3400 <= cp <= 0x4DBF
            or 0x4E00 <= cp <= 0x9FFF or 0xA9E0 <= cp <= 0xA9FF or 0xAA60 <= cp <= 0xAA7F
            or 0xF900 <= cp <= 0xFAFF or 0xFF66 <= cp <= 0xFF9F or 0x20000 <= cp <= 0x3FFFF):
        return n
    return 0


# ASCII whitespace as the shingler cuts words (Python's bytes.split): 1, else 0
_SPACE = np.zeros(256, np.uint8)
_SPACE[[9, 10, 11, 12, 13, 32]] = 1


@njit(**_JIT)
def _token_bounds(seg, bnd):
    """Token boundaries of one document (``seg``: a view of its bytes) into ``bnd``:
    start0, end0, start1, end1, ...; returns how many entries (twice the tokens).

    A token is a run of non-whitespace bytes (a word), except that a code point of a
    script written without spaces is a token by itself and ends the word before it.
    Branch-free per ASCII byte: every byte stores its index at ``bnd[nb]`` and ``nb``
    moves on only where space/non-space flips (measured 2.4x faster than branching on
    each byte, whose outcome flips at every word boundary). Indices are unsigned casts:
    a signed index costs a negative-index fix-up on every access in Numba.
    """
    nb = 0
    prev = np.int64(1)  # "the previous byte was a space": a document starts outside a word
    j = 0
    end = seg.shape[0]
    while j < end:
        c = seg[uint64(j)]
        if c >= 0xE0:
            m = _unspaced_len(seg, j, end)
            if m:
                if prev == 0:
                    bnd[uint64(nb)] = j
                    nb += 1
                bnd[uint64(nb)] = j
                bnd[uint64(nb + 1)] = j + m
                nb += 2
                prev = 1
                j += m
                continue
        sp = np.int64(_SPACE[c])
        bnd[uint64(nb)] = j
        nb += sp ^ prev
        prev = sp
        j += 1
    if prev == 0:
        bnd[uint64(nb)] = end
        nb += 1
    return nb


@njit(**_JIT)
def _token_hashes(seg, bnd, ntok, tok):
    """tok[t] = fmix64(FNV-1a 64 of token t's bytes), for the ``ntok`` tokens in ``bnd``."""
    for t in range(ntok):
        h = FNV_OFFSET
        for k in range(uint64(bnd[2 * t]), uint64(bnd[2 * t + 1])):
            h = (h ^ uint64(seg[k])) * FNV_PRIME
        tok[t] = _fmix64(h)


@njit(**_JIT)
def _doc_shingles(seg, ngram, bnd, tok, out):
    """Write the shingle hashes of one document (``seg``: a view of its bytes) to
    ``out``; return how many. ``bnd`` and ``tok`` are scratch (2 * len(seg) + 2 and
    len(seg) + 1 entries).

    The one shingler (exact verification and MinHash both use it): token n-grams
    (tokens as `_token_bounds` cuts them), ``h = SEED; h = fmix64(h ^ t)`` over the n
    token hashes. A document with fewer than ``ngram`` tokens is one shingle of them
    all. The n-gram hashes are computed one token position at a time over all shingles
    (``ngram`` passes of independent lanes the compiler vectorizes) rather than one
    shingle at a time (a chain of ``ngram`` dependent fmix64 per shingle).
    """
    ntok = _token_bounds(seg, bnd) // 2
    _token_hashes(seg, bnd, ntok, tok)
    if ntok == 0:
        return 0
    if ntok < ngram:
        sh = SHINGLE_SEED
        for k in range(ntok):
            sh = _fmix64(sh ^ tok[k])
        out[0] = sh
        return 1
    m = ntok - ngram + 1
    for i in range(m):
        out[i] = SHINGLE_SEED
    for k in range(ngram):
        t = tok[k:k + m]
        for i in range(m):
            out[i] = _fmix64(out[i] ^ t[i])
    return m


@njit(**_JIT)
def _longest(offsets):
    longest = 0
    for i in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[i + 1] - offsets[i])
    return longest


@njit(**_JIT)
def _count_shingles(offsets, data, ngram, counts):
    """Shingles per document: max(tokens - n + 1, 1 if any token else 0), tokens as
    `_token_bounds` cuts them (a pass without hashing)."""
    bnd = np.empty(2 * _longest(offsets) + 2, np.int64)
    for i in range(offsets.shape[0] - 1):
        tokens = _token_bounds(data[offsets[i]:offsets[i + 1]], bnd) // 2
        if tokens == 0:
            counts[i] = 0
        elif tokens < ngram:
            counts[i] = 1
        else:
            counts[i] = tokens - ngram + 1


@njit(**_JIT)
def _shingle_hashes(offsets, data, ngram, out_offsets, out):
    """Write each document's shingle hashes (in text order) at ``out[out_offsets[i]:]``;
    returns how many documents did not fill their slot exactly (0 unless
    `_count_shingles` and `_doc_shingles` disagree)."""
    longest = _longest(offsets)
    bnd = np.empty(2 * longest + 2, np.int64)
    tok = np.empty(longest + 1, np.uint64)
    bad = 0
    for i in range(offsets.shape[0] - 1):
        m = _doc_shingles(data[offsets[i]:offsets[i + 1]], ngram, bnd, tok,
                          out[out_offsets[i]:out_offsets[i + 1]])
        if m != out_offsets[i + 1] - out_offsets[i]:
            bad += 1
    return bad


@njit(**_JIT)
def _fmix32(x):
    # numba widens uint32 products to 64 bits: truncate after every multiply
    h = uint64(x)
    h ^= h >> uint64(16)
    h = (h * uint64(0x85EBCA6B)) & M32
    h ^= h >> uint64(13)
    h = (h * uint64(0xC2B2AE35)) & M32
    return uint32(h ^ (h >> uint64(16)))


@njit(**_JIT)
def _fold32(h):
    """A 64-bit shingle hash folded to the 32 bits the affine32 scheme takes."""
    return uint32((h ^ (h >> S32)) & M32)


@njit(**_JIT)
def _apply64(hashes, m, a, b, row):
    """affine64: row[k] = min over shingles of fmix64(h) * a[k] + b[k] (mod 2^64)."""
    for k in range(a.shape[0]):
        row[k] = MAXU64
    for j in range(m):
        x = _fmix64(hashes[j])
        for k in range(a.shape[0]):
            row[k] = min(row[k], x * a[k] + b[k])


@njit(**_JIT)
def _apply32(hashes, m, a, b, row):
    """affine32: row[k] = min over shingles of fmix32(fold32(h)) * a[k] + b[k] (mod 2^32).

    32-bit lanes: AVX2 multiplies and takes minima of 8 at once (u64 has no SIMD
    multiply before AVX-512), which is why this is the default scheme. Four shingles
    per pass over the permutations: a[k], b[k] and row[k] are loaded once for four
    candidates (measured 1.5-2x over one shingle per pass; eight gained nothing more).
    """
    for k in range(a.shape[0]):
        row[k] = MAXU32
    j = 0
    while j + 4 <= m:
        x0 = _fmix32(_fold32(hashes[j]))
        x1 = _fmix32(_fold32(hashes[j + 1]))
        x2 = _fmix32(_fold32(hashes[j + 2]))
        x3 = _fmix32(_fold32(hashes[j + 3]))
        for k in range(a.shape[0]):
            ak = a[k]
            bk = b[k]
            v01 = min(uint32(x0 * ak + bk), uint32(x1 * ak + bk))
            v23 = min(uint32(x2 * ak + bk), uint32(x3 * ak + bk))
            row[k] = min(row[k], min(v01, v23))
        j += 4
    while j < m:
        x = _fmix32(_fold32(hashes[j]))
        for k in range(a.shape[0]):
            row[k] = min(row[k], uint32(x * a[k] + b[k]))
        j += 1


@njit(**_JIT)
def _minhash_from_text(offsets, data, ngram, a, b, sig, nshingles):
    """Shingling + MinHash of each document (scheme chosen by ``a``'s dtype: uint32 ->
    affine32, uint64 -> affine64), one call per batch."""
    n = offsets.shape[0] - 1
    longest = _longest(offsets)
    bnd = np.empty(2 * longest + 2, np.int64)
    tok = np.empty(longest + 1, np.uint64)
    buf = np.empty(longest + 1, dtype=np.uint64)
    row = np.empty(a.shape[0], dtype=a.dtype)
    for i in range(n):
        m = _doc_shingles(data[offsets[i]:offsets[i + 1]], ngram, bnd, tok, buf)
        if a.itemsize == 4:
            _apply32(buf, m, a, b, row)
        else:
            _apply64(buf, m, a, b, row)
        for k in range(a.shape[0]):
            sig[i, k] = row[k]
        nshingles[i] = m


@njit(**_JIT)
def _minhash_from_hashes(hashes, hoffsets, a, b, sig):
    """MinHash of pre-computed shingle hashes, ``hoffsets`` delimiting the documents."""
    n = hoffsets.shape[0] - 1
    row = np.empty(a.shape[0], dtype=a.dtype)
    for i in range(n):
        seg = hashes[hoffsets[i]:hoffsets[i + 1]]
        if a.itemsize == 4:
            _apply32(seg, seg.shape[0], a, b, row)
        else:
            _apply64(seg, seg.shape[0], a, b, row)
        for k in range(a.shape[0]):
            sig[i, k] = row[k]


@njit(**_JIT)
def _band_hashes(sig, bands, rows, out):
    """One 64-bit hash per (document, band) of the band's ``rows`` signature values."""
    n = sig.shape[0]
    for i in range(n):
        for bi in range(bands):
            h = _fmix64(BAND_SEED ^ uint64(bi))
            for r in range(bi * rows, (bi + 1) * rows):
                h = _fmix64(h ^ sig[i, r])
            out[i, bi] = h


@njit(**_JIT)
def _run_edges(h1, h2, idx, all_pairs_max, eu, ev, write):
    """Edges of each run of equal (h1, h2) in key-sorted rows; returns how many (only
    counts when not ``write``). A run of at most ``all_pairs_max`` rows gives every pair
    (u, v) of different idx; a longer one star edges (first, other)."""
    n = h1.shape[0]
    m = 0
    start = 0
    for i in range(1, n + 1):
        if i == n or h1[i] != h1[start] or h2[i] != h2[start]:
            if i - start <= all_pairs_max:
                for a in range(start, i):
                    for b in range(a + 1, i):
                        if idx[a] != idx[b]:
                            if write:
                                eu[m] = idx[a]
                                ev[m] = idx[b]
                            m += 1
            else:
                for j in range(start + 1, i):
                    if idx[j] != idx[start]:
                        if write:
                            eu[m] = idx[start]
                            ev[m] = idx[j]
                        m += 1
            start = i
    return m


@njit(**_JIT)
def _greedy_keep(is_ref, nbr_off, nbr, nbr_j, kept, rep, rep_j):
    """Keep documents greedily in rank order (0, 1, ...): document v is removed when a
    neighbour ranked before it is kept (``rep[v]``: the best-ranked such neighbour,
    ``rep_j[v]``: that edge's Jaccard), else kept. Reference documents are always kept."""
    for v in range(kept.shape[0]):
        best = -1
        for e in range(nbr_off[v], nbr_off[v + 1]):
            u = nbr[e]
            if u < v and kept[u] and (best < 0 or u < best):
                best = u
                rep_j[v] = nbr_j[e]
        if is_ref[v] or best < 0:
            kept[v] = True
            rep[v] = v
            rep_j[v] = 1.0
        else:
            kept[v] = False
            rep[v] = best


@njit(**_JIT)
def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]  # path halving
        x = parent[x]
    return x


@njit(**_JIT)
def _union_edges(parent, eu, ev):
    """Union every edge; the root of a set is always its smallest index. Returns merges."""
    merges = 0
    for e in range(eu.shape[0]):
        ru = _find(parent, eu[e])
        rv = _find(parent, ev[e])
        if ru != rv:
            if ru < rv:
                parent[rv] = ru
            else:
                parent[ru] = rv
            merges += 1
    return merges


@njit(**_JIT)
def _flatten(parent):
    """Point every element straight at its root (roots are set minima, so one pass)."""
    for i in range(parent.shape[0]):
        parent[i] = parent[parent[i]]


@njit(**_JIT)
def _sort_unique_segments(hashes, offsets, out_offsets):
    """Sort each document's segment in place and compact its distinct values to the
    front of the array (segments keep their order); ``out_offsets`` gets the new bounds."""
    pos = 0
    for i in range(offsets.shape[0] - 1):
        seg = np.sort(hashes[offsets[i]:offsets[i + 1]])
        out_offsets[i] = pos
        for j in range(seg.shape[0]):
            if j == 0 or seg[j] != seg[j - 1]:
                hashes[pos] = seg[j]
                pos += 1
    out_offsets[offsets.shape[0] - 1] = pos


@njit(**_JIT)
def _pair_jaccard(hashes, hoffsets, pu, pv, out):
    """Exact Jaccard of sorted, de-duplicated shingle sets for each pair (pu[i], pv[i])."""
    for e in range(pu.shape[0]):
        i0 = hoffsets[pu[e]]
        i1 = hoffsets[pu[e] + 1]
        j0 = hoffsets[pv[e]]
        j1 = hoffsets[pv[e] + 1]
        inter = 0
        i = i0
        j = j0
        while i < i1 and j < j1:
            if hashes[i] == hashes[j]:
                inter += 1
                i += 1
                j += 1
            elif hashes[i] < hashes[j]:
                i += 1
            else:
                j += 1
        union = (i1 - i0) + (j1 - j0) - inter
        out[e] = inter / union if union > 0 else 1.0
