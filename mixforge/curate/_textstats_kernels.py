"""Numba kernels for the text statistics the quality filters threshold.

One call walks a whole Arrow string column (offsets + UTF-8 data, zero-copy): each
document is decoded to code points once (Python's ``len``/``splitlines``/``isalpha``
semantics are code-point semantics), split into words the way spaCy's blank English
tokenizer does (datatrove's English word tokenizer), and every statistic of the Gopher,
C4 and FineWeb rules is counted in that pass. No Python runs per document.

Private ``_name`` functions take arrays and scalars only and never raise; the public
wrapper is `mixforge.curate.textstats.compute_stats`. Only `_scratch` and the batch
drivers allocate; every per-document kernel compiles with ``JIT_NOALLOC`` (no reference
counting of the arrays it is handed: mixforge/_numba.py). Character classes come from a
per-code-point flag table built once by the wrapper (from ``str`` methods, unicodedata
and spaCy's own character classes, see ``_spacy_en_data``).

Strings are compared by 64-bit polynomial hashes of their code points (plus length):
duplicate lines, paragraphs and n-grams are found with open-addressing hash sets, so a
document costs O(characters), not O(n log n). A false match needs a 64-bit collision.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from .._numba import JIT, JIT_NOALLOC
from ._utf8 import _decode as _decode_at

# character flags (one uint32 per code point)
F_SPACE = 1 << 0  # str.isspace
F_ALPHA = 1 << 1  # str.isalpha
F_GPUNCT = 1 << 2  # datatrove PUNCTUATION_SET
F_TERM = 1 << 3  # datatrove TERMINAL_PUNCTUATION
F_LOWER = 1 << 4  # spaCy's "lower-case" letters (letters that are not upper case)
F_UPPER = 1 << 5  # spaCy's "upper-case" letters (letters that are not lower case)
F_PCAT = 1 << 6  # unicode category P* (spaCy's is_punct)
F_SENT = 1 << 7  # spaCy sentencizer punctuation
F_PREFIX = 1 << 8  # a one-character spaCy prefix
F_SUFFIX = 1 << 9  # a one-character spaCy suffix
F_QUOTE = 1 << 10  # spaCy quotes
F_ICON = 1 << 11  # spaCy icons
F_LINEBRK = 1 << 12  # a str.splitlines boundary
F_DOTPREV = 1 << 13  # a '.' after this character is a spaCy suffix
F_DIGIT = 1 << 14  # ASCII digit
F_PLAIN = 1 << 15  # a letter that is no spaCy prefix, suffix, quote or icon
F_INFIX = 1 << 16  # a character that can start a spaCy infix (`_infix_at`)

# columns of the statistics matrix
(N_CHARS, N_WORDS, N_NONSYM_WORDS, NONSYM_CHARS, ALPHA_WORDS, STOP_WORDS, HASHES, ELLIPSES,
 GQ_LINES, BULLET_LINES, ELLIPSIS_LINES, PARAS, DUP_PARAS, DUP_PARA_CHARS, GR_LINES,
 DUP_LINES, DUP_LINE_CHARS, TOP2, TOP3, TOP4, DUP5, DUP6, DUP7, DUP8, DUP9, DUP10,
 FW_LINES, FW_PUNCT_LINES, FW_SHORT_LINES, FW_DUP_LINE_CHARS, NEWLINES, C4_LOREM_LINES,
 C4_CURLY_LINES, C4_SENTENCES, C4_KEPT_LINES) = range(35)
N_STATS = 35

#: spaCy's English tokenizer tables (`textstats._tables`) and the per-code-point flags:
#: ``ex_keys`` is an open-addressing table of the special cases' keys; the tokens of the
#: case in slot k have lengths ``ex_lens[ex_off[k]:ex_off[k + 1]]`` (none for empty slots);
#: ``ex_bloom`` is a bit set over (first, second, last character, length) of every case
#: (`_bloom_bit`), so most spans are ruled out without hashing their characters.
Lexicon = namedtuple("Lexicon", "flags ex_keys ex_bloom ex_off ex_lens ex_maxlen unit_keys "
                     "unit_maxlen")
#: The settings that change the statistics (`textstats.StatsParams`): stop words, FineWeb's
#: line-ending characters and short-line length, C4's line rules and its patterns.
Rules = namedtuple("Rules", "stop_keys stop_chars short_line_length c4_max_word_length "
                   "c4_terminal c4_min_words c4_javascript c4_policy c4_citations pats pat_off "
                   "pat_pairs")
#: Work arrays of `_batch_stats`, sized once per batch by its longest document (`_scratch`):
#: code points, word spans (document, C4 line, suffix stack), prefix hashes of code points
#: (P) and powers of the base (pw), word-level prefix hashes and lengths (H0/L0 words, J/LJ
#: words + spaces), an open-addressing hash table (keys/vals) and the stop words seen.
Scratch = namedtuple("Scratch", "cps ts te ts2 te2 sufs sufe P pw H0 L0 J LJ keys vals "
                     "stop_seen")

_B = np.uint64(0x100000001B3)  # odd base of the polynomial hash
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_K = np.uint64(0x9E3779B97F4A7C15)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)


@njit(**JIT_NOALLOC, inline="always")
def _mix(h, n):
    """A non-zero 64-bit key from a polynomial hash and a length (splitmix64 finalizer)."""
    x = h ^ (np.uint64(n) * _K)
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    x = x ^ (x >> _S31)
    if x == _ZERO:
        x = _ONE
    return x


@njit(**JIT_NOALLOC)
def _decode(data, start, end, cps):
    """UTF-8 bytes -> code points in ``cps``; returns the count (invalid UTF-8 -> U+FFFD
    per maximal subpart, as `mixforge.curate._utf8` decodes it)."""
    n = 0
    i = start
    while i < end:
        if data[i] < 0x80:  # ASCII: no call
            cps[n] = data[i]
            n += 1
            i += 1
            continue
        cp, k = _decode_at(data, i, end)
        cps[n] = cp
        n += 1
        i += k
    return n


@njit(**JIT_NOALLOC, inline="always")
def _fnv(cps, a, b):
    """FNV-1a of code points [a, b) mixed with the length (the exception-table key)."""
    h = np.uint64(0xCBF29CE484222325)
    for i in range(a, b):
        h = (h ^ np.uint64(cps[i])) * np.uint64(0x100000001B3)
    return _mix(h, b - a)


@njit(**JIT_NOALLOC)
def _key_of(cps):
    """The polynomial-hash key of a whole code-point array (as `_doc_stats` keys words)."""
    h = _ZERO
    for i in range(cps.shape[0]):
        h = h * _B + np.uint64(cps[i] + 1)
    return _mix(h, cps.shape[0])


@njit(**JIT_NOALLOC)
def _lookup(keys, key):
    """Index of ``key`` in the sorted array ``keys``, or -1."""
    lo = 0
    hi = keys.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    if lo < keys.shape[0] and keys[lo] == key:
        return lo
    return -1


@njit(**JIT_NOALLOC, inline="always")
def _probe(table, key):
    """Slot of ``key`` in the open-addressing ``table`` (power-of-two size, 0 = empty;
    `textstats._tables` builds it with linear probing), or -1."""
    mask = table.shape[0] - 1
    i = np.int64(key & np.uint64(mask))
    while True:
        k = table[i]
        if k == key:
            return i
        if k == _ZERO:
            return -1
        i = (i + 1) & mask


@njit(**JIT_NOALLOC, inline="always")
def _bloom_bit(c0, c1, cl, n):
    """Bit of ``ex_bloom`` for a span of ``n`` code points starting ``c0, c1`` (``c1`` is
    ``c0`` when n == 1) and ending ``cl``: the top 16 bits of a multiplicative hash."""
    x = (np.uint64(c0) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(c1) * _M1
         + np.uint64(cl) * _M2 + np.uint64(n))
    return np.int64((x * _K) >> np.uint64(48))


@njit(**JIT_NOALLOC, inline="always")
def _special(cps, a, b, ex_keys, ex_bloom, ex_maxlen):
    """The slot of spaCy's special case spelled by ``cps[a:b]``, or -1. ``ex_bloom`` rules
    out ~99% of spans that are no special case from three characters and the length;
    the rest cost one probe of ``ex_keys`` (a hash table at most 1/3 full)."""
    n = b - a
    if n > ex_maxlen or n <= 0:
        return -1
    bit = _bloom_bit(cps[a], cps[a + 1] if n > 1 else cps[a], cps[b - 1], n)
    if not (ex_bloom[bit >> 6] >> np.uint64(bit & 63)) & _ONE:
        return -1
    return _probe(ex_keys, _fnv(cps, a, b))


@njit(**JIT_NOALLOC, inline="always")
def _find_prefix(cps, a, b, F):
    c = cps[a]
    if c == 46 and a + 1 < b and cps[a + 1] == 46:  # '..+'
        j = a + 1
        while j < b and cps[j] == 46:
            j += 1
        return j - a
    if c == 43:  # '+' not followed by a digit
        if a + 1 < b and (F[cps[a + 1]] & F_DIGIT):
            return 0
        return 1
    if c == 85 and a + 2 < b and cps[a + 1] == 83 and cps[a + 2] == 36:  # US$
        return 3
    if (c == 67 or c == 65) and a + 1 < b and cps[a + 1] == 36:  # C$ A$
        return 2
    if F[c] & F_PREFIX:
        return 1
    return 0


@njit(**JIT_NOALLOC)
def _find_suffix(cps, a, b, F, unit_keys, unit_maxlen):
    if b <= a:
        return 0
    best = b
    last = cps[b - 1]
    if F[last] & F_SUFFIX:
        best = b - 1
    if b - 2 >= a and last == 0x2026 and cps[b - 2] == 0x2026:
        best = min(best, b - 2)
    if last == 46 and b - 2 >= a and cps[b - 2] == 46:
        r = b - 1
        while r - 1 >= a and cps[r - 1] == 46:
            r -= 1
        best = min(best, r)
    if b - 2 >= a and (cps[b - 2] == 39 or cps[b - 2] == 0x2019) and (last == 115 or last == 83):
        best = min(best, b - 2)
    if last == 43 and b - 2 >= a and (F[cps[b - 2]] & F_DIGIT):
        best = min(best, b - 1)
    if last == 46 and b - 3 >= a and cps[b - 3] == 0xB0:
        p = cps[b - 2]
        if p == 70 or p == 102 or p == 67 or p == 99 or p == 75 or p == 107:
            best = min(best, b - 1)
    for ln in range(1, unit_maxlen + 1):
        st = b - ln
        if st - 1 < a:
            break
        if (F[cps[st - 1]] & F_DIGIT) and _lookup(unit_keys, _fnv(cps, st, b)) >= 0:
            best = min(best, st)
    if last == 46 and b - 2 >= a:
        p = cps[b - 2]
        if F[p] & F_DOTPREV:
            best = min(best, b - 1)
        elif b - 3 >= a and (F[p] & F_UPPER) and (F[cps[b - 3]] & F_UPPER):
            best = min(best, b - 1)
    return b - best


@njit(**JIT_NOALLOC)
def _url_like(cps, a, b, F):
    """An approximation of spaCy's URL match: a scheme, or host.tld[:port][/...]."""
    for i in range(a, b - 2):
        if cps[i] == 58 and cps[i + 1] == 47 and cps[i + 2] == 47:
            # a scheme ([\w+.-]{2,}) must open the string; then a host follows
            if i - a < 2:
                return False
            for q in range(a, i):
                c = cps[q]
                if not ((F[c] & F_ALPHA) or (F[c] & F_DIGIT) or c == 95 or c == 43
                        or c == 45 or c == 46):
                    return False
            a = i + 3
            break
    # host: up to the first '/', '?', '#' or ':'; an optional 'user@' before it
    h0 = a
    for i in range(a, b):
        if cps[i] == 64:
            h0 = i + 1
            break
    h1 = b
    for i in range(h0, b):
        c = cps[i]
        if c == 47 or c == 63 or c == 35 or c == 58:
            h1 = i
            break
    if h1 - h0 < 4:
        return False
    # labels: [A-Za-z0-9\u00a1-\uffff], with '-' and '_' inside (spaCy's URL_PATTERN)
    last_dot = -1
    for i in range(h0, h1):
        c = cps[i]
        if c == 46:
            if i == h0 or cps[i - 1] == 46 or cps[i - 1] == 45 or cps[i - 1] == 95:
                return False
            last_dot = i
        elif c == 45 or c == 95:
            if i == h0 or cps[i - 1] == 46:
                return False
        elif not ((48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122)
                  or (0xA1 <= c <= 0xFFFF)):
            return False
    if last_dot < 0 or h1 - last_dot - 1 < 2:
        return False
    for i in range(last_dot + 1, h1):  # spaCy: the TLD is lower-case letters only
        if not (F[cps[i]] & F_LOWER):
            return False
    if h1 < b and cps[h1] == 58:  # a port: digits, then [/?#] or the end
        j = h1 + 1
        while j < b and (F[cps[j]] & F_DIGIT):
            j += 1
        if j - h1 - 1 < 2:
            return False
        return j == b or cps[j] == 47 or cps[j] == 63 or cps[j] == 35
    return True


@njit(**JIT_NOALLOC)
def _infix_at(cps, i, a, b, F):
    """End of an infix match starting at ``i`` in [a, b), or -1 (spaCy's English infixes)."""
    c = cps[i]
    if c == 46 and i + 1 < b and cps[i + 1] == 46:
        j = i + 1
        while j < b and cps[j] == 46:
            j += 1
        return j
    if c == 0x2026 or (F[c] & F_ICON):
        return i + 1
    if i == a:
        return -1
    p = cps[i - 1]
    if (c == 43 or c == 45 or c == 42 or c == 94) and (F[p] & F_DIGIT) and i + 1 < b and (
            (F[cps[i + 1]] & F_DIGIT) or cps[i + 1] == 45):
        return i + 1
    if c == 46 and ((F[p] & F_LOWER) or (F[p] & F_QUOTE)) and i + 1 < b and (
            (F[cps[i + 1]] & F_UPPER) or (F[cps[i + 1]] & F_QUOTE)):
        return i + 1
    if c == 44 and (F[p] & F_ALPHA) and i + 1 < b and (F[cps[i + 1]] & F_ALPHA):
        return i + 1
    if (F[p] & F_ALPHA) or (F[p] & F_DIGIT):
        # hyphens, in spaCy's order: - – — -- --- —— ~
        if c == 45 or c == 0x2013 or c == 0x2014 or c == 126:
            if i + 1 < b and (F[cps[i + 1]] & F_ALPHA):
                return i + 1
            if c == 45 and i + 2 < b and cps[i + 1] == 45:
                if F[cps[i + 2]] & F_ALPHA:
                    return i + 2
                if i + 3 < b and cps[i + 2] == 45 and (F[cps[i + 3]] & F_ALPHA):
                    return i + 3
            if c == 0x2014 and i + 2 < b and cps[i + 1] == 0x2014 and (F[cps[i + 2]] & F_ALPHA):
                return i + 2
        if (c == 58 or c == 60 or c == 62 or c == 61 or c == 47) and i + 1 < b and (
                F[cps[i + 1]] & F_ALPHA):
            return i + 1
    return -1


@njit(**JIT_NOALLOC, inline="always")
def _emit_special(k, a, ex_off, ex_lens, ts, te, nt):
    pos = a
    for j in range(ex_off[k], ex_off[k + 1]):
        ts[nt] = pos
        pos += ex_lens[j]
        te[nt] = pos
        nt += 1
    return nt


@njit(**JIT_NOALLOC, inline="always")
def _tokenize_chunk(cps, s, e, F, ex_keys, ex_bloom, ex_off, ex_lens, ex_maxlen, unit_keys,
                    unit_maxlen, ts, te, nt, sufs, sufe):
    """Split one whitespace-free chunk into spaCy-like tokens appended at ``nt``."""
    t0 = nt
    k = _special(cps, s, e, ex_keys, ex_bloom, ex_maxlen)
    if k >= 0:
        return _emit_special(k, s, ex_off, ex_lens, ts, te, nt)
    a = s
    b = e
    nsuf = 0
    core_special = -1
    last = -1
    while a < b and (b - a) != last:
        k = _special(cps, a, b, ex_keys, ex_bloom, ex_maxlen)
        if k >= 0:
            core_special = k
            break
        last = b - a
        pre = _find_prefix(cps, a, b, F)
        if pre:
            k = _special(cps, a + pre, b, ex_keys, ex_bloom, ex_maxlen)
            if k >= 0:
                ts[nt] = a
                te[nt] = a + pre
                nt += 1
                a += pre
                core_special = k
                break
        suf = _find_suffix(cps, a + pre, b, F, unit_keys, unit_maxlen)
        if suf:
            k = _special(cps, a, b - suf, ex_keys, ex_bloom, ex_maxlen)
            if k >= 0:
                sufs[nsuf] = b - suf
                sufe[nsuf] = b
                nsuf += 1
                b -= suf
                core_special = k
                break
        if pre and suf and pre + suf <= b - a:
            ts[nt] = a
            te[nt] = a + pre
            nt += 1
            a += pre
            sufs[nsuf] = b - suf
            sufe[nsuf] = b
            nsuf += 1
            b -= suf
        elif pre:
            ts[nt] = a
            te[nt] = a + pre
            nt += 1
            a += pre
        elif suf:
            sufs[nsuf] = b - suf
            sufe[nsuf] = b
            nsuf += 1
            b -= suf
    if a < b:
        if core_special < 0:
            core_special = _special(cps, a, b, ex_keys, ex_bloom, ex_maxlen)
        if core_special >= 0:
            nt = _emit_special(core_special, a, ex_off, ex_lens, ts, te, nt)
        elif _url_like(cps, a, b, F):
            ts[nt] = a
            te[nt] = b
            nt += 1
        else:
            start = a
            i = a
            while i < b:
                if not (F[cps[i]] & F_INFIX):  # nearly every character: no call
                    i += 1
                    continue
                j = _infix_at(cps, i, a, b, F)
                if j < 0:
                    i += 1
                    continue
                if i != a:
                    if i != start:
                        ts[nt] = start
                        te[nt] = i
                        nt += 1
                    ts[nt] = i
                    te[nt] = j
                    nt += 1
                    start = j
                i = j if j > i else i + 1
            if start < b:
                ts[nt] = start
                te[nt] = b
                nt += 1
    for q in range(nsuf - 1, -1, -1):
        ts[nt] = sufs[q]
        te[nt] = sufe[q]
        nt += 1
    return _merge_specials(cps, t0, nt, ex_keys, ex_bloom, ex_off, ex_lens, ex_maxlen, ts, te)


@njit(**JIT_NOALLOC)
def _merge_specials(cps, t0, nt, ex_keys, ex_bloom, ex_off, ex_lens, ex_maxlen, ts, te):
    """spaCy's second pass: 2-3 adjacent tokens that spell a special case become it
    (e.g. ')' + ':' -> the emoticon '):'). Returns the new token count."""
    w = t0
    i = t0
    while i < nt:
        done = False
        for span in (3, 2):
            if i + span > nt or te[i + span - 1] - ts[i] > ex_maxlen:
                continue
            k = _special(cps, ts[i], te[i + span - 1], ex_keys, ex_bloom, ex_maxlen)
            if k >= 0 and ex_off[k + 1] - ex_off[k] <= span:
                w = _emit_special(k, ts[i], ex_off, ex_lens, ts, te, w)
                i += span
                done = True
                break
        if not done:
            ts[w] = ts[i]
            te[w] = te[i]
            w += 1
            i += 1
    return w


@njit(**JIT_NOALLOC)
def _tokenize(cps, a, b, F, ex_keys, ex_bloom, ex_off, ex_lens, ex_maxlen, unit_keys,
              unit_maxlen, ts, te, sufs, sufe):
    """Tokens of code points [a, b): whitespace chunks, each split like spaCy."""
    nt = 0
    i = a
    while i < b:
        while i < b and (F[cps[i]] & F_SPACE):
            i += 1
        if i >= b:
            break
        # Fast path, most chunks of prose: only plain letters, or only ASCII digits, and
        # no special case. No rule of `_tokenize_chunk` can split them (no prefix, suffix,
        # infix or unit character; no '.', so no URL) and a one-token chunk has nothing
        # to merge: the chunk is the token. Kept here, not in `_tokenize_chunk`, because
        # a call passing its eight arrays costs more than the rules themselves: on plain
        # words (1 MB of "hello world ...", one core) the split went from ~75 to ~7 ns
        # per byte; on bench/corpus_other.py's text the statistics pass from 11 to 17
        # MB/s of CPU time.
        plain = F[cps[i]] & (F_PLAIN | F_DIGIT)
        j = i
        while j < b:
            f = F[cps[j]]
            if f & F_SPACE:
                break
            if not (f & plain):
                plain = 0
            j += 1
        if plain and _special(cps, i, j, ex_keys, ex_bloom, ex_maxlen) < 0:
            ts[nt] = i
            te[nt] = j
            nt += 1
        else:
            nt = _tokenize_chunk(cps, i, j, F, ex_keys, ex_bloom, ex_off, ex_lens, ex_maxlen,
                                 unit_keys, unit_maxlen, ts, te, nt, sufs, sufe)
        i = j
    return nt


@njit(**JIT_NOALLOC)
def _sentences(ts, te, nt, cps, F):
    """spaCy's Sentencizer over tokens: a sentence starts after a sentence-final mark."""
    if nt == 0:
        return 0
    count = 1
    seen = False
    for t in range(nt):
        in_punct = te[t] - ts[t] == 1 and (F[cps[ts[t]]] & F_SENT) != 0
        is_punct = True
        for i in range(ts[t], te[t]):
            if not (F[cps[i]] & F_PCAT):
                is_punct = False
                break
        if seen and not is_punct and not in_punct:
            count += 1
            seen = False
        elif in_punct:
            seen = True
    return count


@njit(**JIT_NOALLOC, inline="always")
def _clear(keys, n):
    cap = 16
    while cap < 2 * n + 2:
        cap <<= 1
    for i in range(cap):
        keys[i] = _ZERO
    return cap - 1


@njit(**JIT_NOALLOC, inline="always")
def _seen(keys, mask, key):
    """Insert ``key``; True when it was already there."""
    i = np.int64(key & np.uint64(mask))
    while True:
        k = keys[i]
        if k == _ZERO:
            keys[i] = key
            return False
        if k == key:
            return True
        i = (i + 1) & mask


@njit(**JIT_NOALLOC, inline="always")
def _count(keys, vals, mask, key):
    """Increment the count of ``key``; return the new count."""
    i = np.int64(key & np.uint64(mask))
    while True:
        k = keys[i]
        if k == _ZERO:
            keys[i] = key
            vals[i] = 1
            return 1
        if k == key:
            vals[i] += 1
            return vals[i]
        i = (i + 1) & mask


@njit(**JIT_NOALLOC, inline="always")
def _get(keys, vals, mask, key):
    i = np.int64(key & np.uint64(mask))
    while True:
        k = keys[i]
        if k == key:
            return vals[i]
        if k == _ZERO:
            return 0
        i = (i + 1) & mask


@njit(**JIT_NOALLOC, inline="always")
def _sub(P, pw, i, j):
    return P[j] - P[i] * pw[j - i]


_CURLY = 1 << 8  # `_find_patterns`: the line holds a '{'


@njit(**JIT_NOALLOC, inline="always")
def _fold(c):
    """ASCII lower case (and KELVIN SIGN, which ``str.lower`` maps to 'k')."""
    if 65 <= c <= 90:
        return c + 32
    if c == 0x212A:
        return 107
    return c


@njit(**JIT_NOALLOC)
def _find_patterns(cps, a, b, pats, pat_off, pat_pairs):
    """Which of C4's first eight patterns (lower-case code points ``pats[pat_off[p]:
    pat_off[p + 1]]``, two or more each) occur in ``cps[a:b]``, case-insensitively, as
    bit p; bit 8 (`_CURLY`) for a '{'. One pass over the line: a pattern is compared
    only where the two characters there open one (``pat_pairs``: a bit set over
    ``first << 7 | second``), ~3% of positions in prose instead of one in four."""
    found = 0
    c1 = _fold(cps[a]) if a < b else 0
    for i in range(a, b):
        c0 = c1
        c1 = _fold(cps[i + 1]) if i + 1 < b else 0
        if c0 == 123:
            found |= _CURLY
            continue
        if c0 >= 128 or c1 >= 128:
            continue
        code = (c0 << 7) | c1
        if not (pat_pairs[code >> 6] >> np.uint64(code & 63)) & _ONE:
            continue
        for p in range(8):
            p0 = pat_off[p]
            m = pat_off[p + 1] - p0
            if pats[p0] != c0 or pats[p0 + 1] != c1 or found & (1 << p) or i + m > b:
                continue
            ok = True
            for j in range(2, m):
                if _fold(cps[i + j]) != pats[p0 + j]:
                    ok = False
                    break
            if ok:
                found |= 1 << p
    return found


@njit(**JIT_NOALLOC)
def _ends_with_citation(cps, a, b, cite_edit, cite_needed):
    """Start of a citation ('[12]', '[]', '[edit]', '[citation needed]') ending at b, or -1."""
    if b - a < 2 or cps[b - 1] != 93:
        return -1
    j = b - 2
    while j >= a and 48 <= cps[j] <= 57:
        j -= 1
    if j >= a and cps[j] == 91:
        return j
    for pat in (cite_edit, cite_needed):
        m = pat.shape[0]
        if b - a >= m:
            ok = True
            for q in range(m):
                if cps[b - m + q] != pat[q]:
                    ok = False
                    break
            if ok:
                return b - m
    return -1


@njit(**JIT_NOALLOC)
def _words(cps, a, b, lex, ts, te, sufs, sufe):
    """Word spans of ``cps[a:b]`` into ``ts``/``te`` (spaCy's English tokenizer); count."""
    return _tokenize(cps, a, b, lex.flags, lex.ex_keys, lex.ex_bloom, lex.ex_off, lex.ex_lens,
                     lex.ex_maxlen, lex.unit_keys, lex.unit_maxlen, ts, te, sufs, sufe)


@njit(**JIT_NOALLOC)
def _char_stats(cps, n, P, out):
    """Characters: '#', newlines and ellipses ('…', or '...' counted as ``str.count``
    does: a run of k dots holds k // 3), and the prefix hashes ``P`` of the code points.
    One pass without branches: the counts ride along the hash's multiply chain."""
    hashes = 0
    newlines = 0
    ellipses = 0
    dots = 0
    P[0] = _ZERO
    for i in range(n):
        c = cps[i]
        P[i + 1] = P[i] * _B + np.uint64(c + 1)
        hashes += c == 35
        newlines += c == 10
        ellipses += c == 0x2026
        dots = (dots + 1) * (c == 46)
        third = dots == 3
        ellipses += third
        dots -= 3 * third
    out[HASHES] = hashes
    out[NEWLINES] = newlines
    out[ELLIPSES] = ellipses


@njit(**JIT_NOALLOC)
def _word_stats(cps, n, lex, rules, s, out):
    """Words: counts, symbol/alpha/stop words, and the word-level prefix hashes the
    n-gram statistics use (``s.H0``/``s.L0`` words, ``s.J``/``s.LJ`` words + spaces)."""
    F = lex.flags
    B = _B
    P, pw, ts, te = s.P, s.pw, s.ts, s.te
    H0, L0, J, LJ = s.H0, s.L0, s.J, s.LJ
    stop_keys, stop_seen = rules.stop_keys, s.stop_seen
    nt = _words(cps, 0, n, lex, ts, te, s.sufs, s.sufe)
    out[N_WORDS] = nt
    for q in range(stop_seen.shape[0]):
        stop_seen[q] = False
    H0[0] = _ZERO
    J[0] = _ZERO
    L0[0] = 0
    LJ[0] = 0
    for t in range(nt):
        ln = te[t] - ts[t]
        nonsym = False
        alpha = False
        for i in range(ts[t], te[t]):
            f = F[cps[i]]
            if not (f & F_GPUNCT):
                nonsym = True
            if f & F_ALPHA:
                alpha = True
        if nonsym:
            out[N_NONSYM_WORDS] += 1
            out[NONSYM_CHARS] += ln
        if alpha:
            out[ALPHA_WORDS] += 1
        th = _sub(P, pw, ts[t], te[t])
        if stop_keys.shape[0]:
            key = _mix(th, ln)
            for q in range(stop_keys.shape[0]):
                if stop_keys[q] == key:
                    stop_seen[q] = True
        H0[t + 1] = H0[t] * pw[ln] + th
        L0[t + 1] = L0[t] + ln
        J[t + 1] = (J[t] * pw[ln] + th) * B + np.uint64(33)
        LJ[t + 1] = LJ[t] + ln + 1
    for q in range(stop_seen.shape[0]):
        if stop_seen[q]:
            out[STOP_WORDS] += 1
    return nt


@njit(**JIT_NOALLOC)
def _ngram_stats(nt, s, out):
    """Gopher repetition over words: top 2/3/4-gram characters ("words joined by spaces"
    x count) and duplicated 5..10-gram characters (greedy, as Gopher/datatrove count).

    One pass per n. The top n-gram is datatrove's ``Counter.most_common(1)``: the highest
    count, ties to the n-gram seen first; each slot holds ``count << 32 | (2**32 - 1 -
    first position)``, so the largest value seen during the count is that n-gram."""
    pw, H0, L0, J, LJ, keys, vals = s.pw, s.H0, s.L0, s.J, s.LJ, s.keys, s.vals
    low = np.int64(0xFFFFFFFF)
    for g in range(3):
        m = g + 2
        if nt < m:
            continue
        mask = _clear(keys, nt)
        best = np.int64(0)
        for t in range(nt - m + 1):
            ln = LJ[t + m] - LJ[t]
            key = _mix(J[t + m] - J[t] * pw[ln], ln)
            i = np.int64(key & np.uint64(mask))
            while True:
                k = keys[i]
                if k == key:
                    v = vals[i] + (np.int64(1) << 32)
                    break
                if k == _ZERO:
                    keys[i] = key
                    v = (np.int64(1) << 32) | (low - t)
                    break
                i = (i + 1) & mask
            vals[i] = v
            if v > best:
                best = v
        t = low - (best & low)
        out[TOP2 + g] = (best >> 32) * (LJ[t + m] - LJ[t] - 1)
    for g in range(6):
        m = g + 5
        mask = _clear(keys, nt)
        rep = 0
        t = 0
        while t < nt - m + 1:
            ln = L0[t + m] - L0[t]
            key = _mix(H0[t + m] - H0[t] * pw[ln], ln)
            if _seen(keys, mask, key):
                rep += ln
                t += m
            else:
                t += 1
        out[DUP5 + g] = rep


@njit(**JIT_NOALLOC)
def _repeated_segments(cps, a, b, min_newlines, s, n_hint):
    """Segments of ``cps[a:b]`` split on runs of at least ``min_newlines`` newlines:
    (segments, segments equal to an earlier one, their characters)."""
    P, pw, keys = s.P, s.pw, s.keys
    mask = _clear(keys, n_hint)
    count = 0
    dup = 0
    dup_chars = 0
    start = a
    i = a
    while True:
        if i < b and cps[i] == 10:
            j = i
            while j < b and cps[j] == 10:
                j += 1
            if j - i < min_newlines:
                i += 1
                continue
            end = i
            nxt = j
        elif i >= b:
            end = b
            nxt = -1
        else:
            i += 1
            continue
        count += 1
        ln = end - start
        if _seen(keys, mask, _mix(_sub(P, pw, start, end), ln)):
            dup += 1
            dup_chars += ln
        if nxt < 0:
            break
        start = nxt
        i = nxt
    return count, dup, dup_chars


@njit(**JIT_NOALLOC)
def _gopher_repetition_stats(cps, n, F, s, out):
    """Gopher repetition: paragraphs of ``text.strip()`` split on ``\\n{2,}``, and lines
    of ``re.split("\\n+", text)``."""
    a = 0
    b = n
    while a < b and (F[cps[a]] & F_SPACE):
        a += 1
    while b > a and (F[cps[b - 1]] & F_SPACE):
        b -= 1
    out[PARAS], out[DUP_PARAS], out[DUP_PARA_CHARS] = _repeated_segments(
        cps, a, b, 2, s, out[NEWLINES] + 1)
    out[GR_LINES], out[DUP_LINES], out[DUP_LINE_CHARS] = _repeated_segments(
        cps, 0, n, 1, s, out[NEWLINES] + 1)


@njit(**JIT_NOALLOC)
def _fineweb_line_stats(cps, n, F, rules, s, out):
    """FineWeb: non-blank lines of ``text.split("\\n")``: count, ending in a stop char,
    short, and duplicated characters."""
    P, pw, keys = s.P, s.pw, s.keys
    mask = _clear(keys, out[NEWLINES] + 1)
    start = 0
    for i in range(n + 1):
        if i < n and cps[i] != 10:
            continue
        blank = True
        for q in range(start, i):
            if not (F[cps[q]] & F_SPACE):
                blank = False
                break
        if not blank:
            ln = i - start
            out[FW_LINES] += 1
            if _lookup(rules.stop_chars, np.int64(cps[i - 1])) >= 0:
                out[FW_PUNCT_LINES] += 1
            if ln <= rules.short_line_length:
                out[FW_SHORT_LINES] += 1
            if _seen(keys, mask, _mix(_sub(P, pw, start, i), ln)):
                out[FW_DUP_LINE_CHARS] += ln
        start = i + 1


@njit(**JIT_NOALLOC)
def _c4_line(cps, a, b, lex, rules, s, out, t0, t1):
    """C4's line rules on one stripped line ``cps[a:b]``; count it if C4 keeps it.
    ``s.ts[t0:t1]``/``s.te[t0:t1]`` are the document's words on this line."""
    F = lex.flags
    pats, pat_off = rules.pats, rules.pat_off
    # words of line.split(); a word too long drops the line
    nw = 0
    q = a
    too_long = False
    while q < b:
        while q < b and (F[cps[q]] & F_SPACE):
            q += 1
        if q >= b:
            break
        r = q
        while r < b and not (F[cps[r]] & F_SPACE):
            r += 1
        nw += 1
        if rules.c4_max_word_length >= 0 and r - q > rules.c4_max_word_length:
            too_long = True
        q = r
    if too_long:
        return
    e2 = b
    if rules.c4_citations:
        while True:
            cs = _ends_with_citation(cps, a, e2, pats[pat_off[8]:pat_off[9]],
                                     pats[pat_off[9]:pat_off[10]])
            if cs < 0:
                break
            e2 = cs
    if rules.c4_terminal:
        if e2 <= a:
            return
        c = cps[e2 - 1]
        if not (c == 46 or c == 63 or c == 33 or c == 34 or c == 39):
            return
        if e2 - 3 >= a and c == 46 and cps[e2 - 2] == 46 and cps[e2 - 3] == 46:
            return
    if nw < rules.c4_min_words:
        return
    found = _find_patterns(cps, a, e2, pats, pat_off, rules.pat_pairs)
    if found & 1:  # lorem ipsum
        out[C4_LOREM_LINES] += 1
    if rules.c4_javascript and found & 2:
        return
    if found & _CURLY:
        out[C4_CURLY_LINES] += 1
    if rules.c4_policy and found & 0xFC:  # the six policy phrases
        return
    if e2 == b:
        # whitespace chunks never cross a line, so the line's words are the document's
        # words on it (no second tokenization); a cut-off citation changes the last one
        out[C4_SENTENCES] += _sentences(s.ts[t0:t1], s.te[t0:t1], t1 - t0, cps, F)
    else:
        nt2 = _words(cps, a, e2, lex, s.ts2, s.te2, s.sufs, s.sufe)
        out[C4_SENTENCES] += _sentences(s.ts2, s.te2, nt2, cps, F)
    out[C4_KEPT_LINES] += 1


@njit(**JIT_NOALLOC)
def _splitlines_stats(cps, n, nt, lex, rules, s, out):
    """Lines of ``str.splitlines()``: Gopher's bullet/ellipsis lines, then C4's rules
    (``nt``: the document's words, in ``s.ts``/``s.te``)."""
    F = lex.flags
    start = 0
    i = 0
    t0 = 0
    while start < n:
        i = start
        while i < n and not (F[cps[i]] & F_LINEBRK):
            i += 1
        ls = start
        le = i
        if i < n and cps[i] == 13 and i + 1 < n and cps[i + 1] == 10:
            start = i + 2
        else:
            start = i + 1
        out[GQ_LINES] += 1
        a = ls
        b = le
        while a < b and (F[cps[a]] & F_SPACE):
            a += 1
        while b > a and (F[cps[b - 1]] & F_SPACE):
            b -= 1
        if a < b and (cps[a] == 0x2022 or cps[a] == 45):
            out[BULLET_LINES] += 1
        if b > a and (cps[b - 1] == 0x2026 or (
                b - 3 >= a and cps[b - 1] == 46 and cps[b - 2] == 46 and cps[b - 3] == 46)):
            out[ELLIPSIS_LINES] += 1
        while t0 < nt and s.ts[t0] < a:
            t0 += 1
        t1 = t0
        while t1 < nt and s.ts[t1] < b:
            t1 += 1
        _c4_line(cps, a, b, lex, rules, s, out, t0, t1)
        t0 = t1


@njit(**JIT_NOALLOC)
def _doc_stats(n, lex, rules, s, out):
    """Every statistic (`N_STATS` columns) of one document, code points ``s.cps[:n]``,
    into the row ``out``: one pass per kind of unit (characters, words, n-grams,
    paragraphs and lines, FineWeb's lines, ``splitlines()`` lines)."""
    cps = s.cps
    out[N_CHARS] = n
    _char_stats(cps, n, s.P, out)
    nt = _word_stats(cps, n, lex, rules, s, out)
    _ngram_stats(nt, s, out)
    _gopher_repetition_stats(cps, n, lex.flags, s, out)
    _fineweb_line_stats(cps, n, lex.flags, rules, s, out)
    _splitlines_stats(cps, n, nt, lex, rules, s, out)


@njit(**JIT)
def _scratch(maxb, n_stop):
    """Work arrays for documents of up to ``maxb`` UTF-8 bytes (reused per document)."""
    pw = np.empty(2 * maxb + 4, np.uint64)
    pw[0] = _ONE
    for i in range(1, pw.shape[0]):
        pw[i] = pw[i - 1] * _B
    cap = 16
    while cap < 2 * maxb + 4:
        cap <<= 1
    return Scratch(np.empty(maxb + 1, np.int64), np.empty(maxb + 1, np.int64),
                   np.empty(maxb + 1, np.int64), np.empty(maxb + 1, np.int64),
                   np.empty(maxb + 1, np.int64), np.empty(maxb + 1, np.int64),
                   np.empty(maxb + 1, np.int64), np.empty(maxb + 2, np.uint64), pw,
                   np.empty(maxb + 2, np.uint64), np.empty(maxb + 2, np.int64),
                   np.empty(maxb + 2, np.uint64), np.empty(maxb + 2, np.int64),
                   np.empty(cap, np.uint64), np.empty(cap, np.int64),
                   np.zeros(n_stop, np.bool_))


@njit(**JIT)
def _batch_stats(offsets, data, lex, rules, out):
    """Statistics of every document of a string column (offsets into UTF-8 ``data``)."""
    nd = offsets.shape[0] - 1
    maxb = 1
    for d in range(nd):
        maxb = max(maxb, offsets[d + 1] - offsets[d])
    s = _scratch(maxb, rules.stop_keys.shape[0])
    for d in range(nd):
        n = _decode(data, offsets[d], offsets[d + 1], s.cps)
        _doc_stats(n, lex, rules, s, out[d])


@njit(**JIT)
def _batch_tokens(offsets, data, lex, tok_doc_off, tok_s, tok_e):
    """Word spans (code-point offsets) of every document; for tests and debugging."""
    nd = offsets.shape[0] - 1
    maxb = 1
    for d in range(nd):
        maxb = max(maxb, offsets[d + 1] - offsets[d])
    cps = np.empty(maxb + 1, np.int64)
    ts = np.empty(maxb + 1, np.int64)
    te = np.empty(maxb + 1, np.int64)
    sufs = np.empty(maxb + 1, np.int64)
    sufe = np.empty(maxb + 1, np.int64)
    k = 0
    for d in range(nd):
        n = _decode(data, offsets[d], offsets[d + 1], cps)
        nt = _words(cps, 0, n, lex, ts, te, sufs, sufe)
        tok_doc_off[d] = k
        for t in range(nt):
            tok_s[k] = ts[t]
            tok_e[k] = te[t]
            k += 1
    tok_doc_off[nd] = k
    return k
