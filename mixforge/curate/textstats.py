"""Text statistics for the quality filters: computed once per batch, kept as score columns.

`compute_stats(texts, params)` runs one Numba pass over an Arrow string column and
returns an integer column per statistic (word counts, duplicate line characters, top
n-gram characters, C4 line counts, ...). The filters in `mixforge.curate.filters` are
thresholds over these columns, so changing a threshold never recomputes them, and the
columns are written as a score sidecar keyed by document id for mixers and reports.

How words are split (the one place we cannot copy the reference verbatim): datatrove's
English word tokenizer is spaCy's blank ``en`` tokenizer. We re-implement its algorithm
in the kernel: split on whitespace, then peel prefixes and suffixes (spaCy's English
affix rules, units after digits, ``'s``), look up spaCy's 1,347 English special cases
(``don't`` -> ``do`` + ``n't``, ``e.g.``, emoticons; copied as data in
``_textstats_data``), keep URL-like cores whole, and split infixes (hyphens between
letters, ``a.B``, ``a,b``, ``a/b``, ``...``). What is approximated: spaCy's URL regex
(ours: scheme or host.tld[:port][/path]), its special cases that span affixes (matched
by a phrase matcher after tokenizing), and its letter classes (ours: ``str.isalpha``/
``isupper``/``islower``). On the real local corpus the tokens equal spaCy's on the
large majority of documents and the filter decisions agree on >= 99.5% of documents
(tests/curate/test_filters_agreement.py; numbers in docs/filters.md).

Sentences (C4's minimum of five) are counted as spaCy's rule-based ``sentencizer`` does,
over the same tokens. Memory: kernel scratch of at most ~180 bytes per UTF-8 byte of the
longest document in a batch (e.g. 180 MB for a 1 MB document), reused across the batch.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import _textstats_data as data
from . import _textstats_kernels as k
from ._utf8 import string_buffers

STAT_NAMES = (
    "n_chars", "n_words", "n_nonsym_words", "nonsym_chars", "alpha_words", "stop_words",
    "hashes", "ellipses", "gq_lines", "bullet_lines", "ellipsis_lines", "paras", "dup_paras",
    "dup_para_chars", "gr_lines", "dup_lines", "dup_line_chars", "top2_chars", "top3_chars",
    "top4_chars", "dup5_chars", "dup6_chars", "dup7_chars", "dup8_chars", "dup9_chars",
    "dup10_chars", "fw_lines", "fw_punct_lines", "fw_short_lines", "fw_dup_line_chars",
    "newlines", "c4_lorem_lines", "c4_curly_lines", "c4_sentences", "c4_kept_lines",
)
assert len(STAT_NAMES) == k.N_STATS

GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies",
                     "use of cookies", "use cookies")


@dataclass(frozen=True)
class StatsParams:
    """The few settings that change the statistics themselves (not just a threshold).

    Everything else (every threshold, every on/off of a document-level rule) lives in
    the filter config and is applied to the columns afterwards.
    """

    stop_words: tuple[str, ...] = GOPHER_STOP_WORDS
    stop_chars: str | None = None  # FineWeb line-end characters; None: datatrove's set
    short_line_length: int = 30
    c4_max_word_length: int = 1000
    c4_filter_no_terminal_punct: bool = True
    c4_min_words_per_line: int = 3
    c4_filter_javascript: bool = True
    c4_filter_policy: bool = True
    c4_remove_citations: bool = True


@functools.lru_cache(maxsize=1)
def char_flags() -> np.ndarray:
    """One uint32 of ``_textstats_kernels.F_*`` flags per code point (built once, ~1 s)."""
    allc = "".join(map(chr, range(0x110000)))
    n = len(allc)
    flags = np.zeros(n, np.uint32)

    def mark(chars, bit):
        idx = np.fromiter((ord(c) for c in chars), np.int64)
        flags[idx] |= np.uint32(bit)

    space = np.fromiter((c.isspace() for c in allc), bool, n)
    alpha = np.fromiter((c.isalpha() for c in allc), bool, n)
    upper = np.fromiter((c.isupper() for c in allc), bool, n)
    lower = np.fromiter((c.islower() for c in allc), bool, n)
    flags[space] |= np.uint32(k.F_SPACE)
    flags[alpha] |= np.uint32(k.F_ALPHA)
    flags[alpha & ~upper] |= np.uint32(k.F_LOWER)
    flags[alpha & ~lower] |= np.uint32(k.F_UPPER)
    mark(data.DT_PUNCTUATION + data.DT_TERMINAL_PUNCTUATION, k.F_GPUNCT)
    mark(data.DT_TERMINAL_PUNCTUATION, k.F_TERM)
    # unicode category P* (spaCy's is_punct), and spaCy's icon class (symbols)
    icons = re.compile(data.ICONS_CLASS)
    pcat, icon = [], []
    for i in range(n):
        c = allc[i]
        cat = unicodedata.category(c)
        if cat[0] == "P":
            pcat.append(c)
        elif cat[0] == "S" and icons.match(c):
            icon.append(c)
    mark(pcat, k.F_PCAT)
    mark(icon, k.F_ICON)
    mark(data.SENT_PUNCT, k.F_SENT)
    currency1 = [c for c in data.CURRENCY if len(c) == 1]
    mark("§%=—–" + data.PUNCT + data.QUOTES + "".join(currency1) + "".join(icon), k.F_PREFIX)
    mark(data.PUNCT + data.QUOTES + "—–" + "".join(icon), k.F_SUFFIX)
    mark(data.QUOTES, k.F_QUOTE)
    mark("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", k.F_LINEBRK)
    mark("0123456789", k.F_DIGIT)
    # a '.' after these is split off as a suffix (spaCy's English suffix lookbehind)
    mark("0123456789%²-+|()[]{}?:'\\" + data.PUNCT + data.QUOTES, k.F_DOTPREV)
    flags[alpha & ~upper] |= np.uint32(k.F_DOTPREV)
    mark(".…+-*^,–—~:<>=/" + "".join(icon), k.F_INFIX)  # every first character of an infix
    special = np.uint32(k.F_PREFIX | k.F_SUFFIX | k.F_QUOTE | k.F_ICON | k.F_DIGIT)
    flags[alpha & ((flags & special) == 0)] |= np.uint32(k.F_PLAIN)
    return flags


def _cps(s: str) -> np.ndarray:
    return np.fromiter((ord(c) for c in s), np.int64, len(s))


@functools.lru_cache(maxsize=1)
def _tables():
    """spaCy's special cases as a hash table (keys, bit set, token lengths), units' keys."""
    size = 1 << (3 * len(data.EXCEPTIONS)).bit_length()  # at most 1/3 full
    slots: list[tuple[int, ...]] = [()] * size
    ex_keys = np.zeros(size, np.uint64)
    for s, lens in sorted(data.EXCEPTIONS.items()):
        key = k._fnv(_cps(s), 0, len(s))
        i = int(key) & (size - 1)
        while ex_keys[i]:
            i = (i + 1) & (size - 1)
        ex_keys[i] = key
        slots[i] = tuple(lens)
    ex_bloom = np.zeros(1 << 10, np.uint64)  # 65,536 bits, ~2% set
    for s in data.EXCEPTIONS:
        bit = k._bloom_bit(ord(s[0]), ord(s[1 if len(s) > 1 else 0]), ord(s[-1]), len(s))
        ex_bloom[bit >> 6] |= np.uint64(1) << np.uint64(bit & 63)
    ex_off = np.zeros(size + 1, np.int64)
    ex_off[1:] = np.cumsum([len(lens) for lens in slots])
    ex_lens = np.array([x for lens in slots for x in lens], np.int64)
    ex_maxlen = max(len(s) for s in data.EXCEPTIONS)
    units = sorted(set(data.UNITS) | {c for c in data.CURRENCY})
    unit_keys = np.array(sorted(k._fnv(_cps(u), 0, len(u)) for u in units), np.uint64)
    unit_maxlen = max(len(u) for u in units)
    pats = ["lorem ipsum", "javascript", *POLICY_SUBSTRINGS, "[edit]", "[citation needed]"]
    pat_off = np.zeros(len(pats) + 1, np.int64)
    pat_off[1:] = np.cumsum([len(p) for p in pats])
    pat_cps = np.concatenate([_cps(p) for p in pats])
    pat_pairs = np.zeros(1 << 8, np.uint64)  # (first << 7 | second) of C4's phrases
    for p in pats[:8]:
        code = ord(p[0]) << 7 | ord(p[1])
        pat_pairs[code >> 6] |= np.uint64(1) << np.uint64(code & 63)
    return (ex_keys, ex_bloom, ex_off, ex_lens, ex_maxlen, unit_keys, unit_maxlen, pat_cps,
            pat_off, pat_pairs)


def _chunks(texts) -> list[pa.Array]:
    if isinstance(texts, pa.ChunkedArray):
        return list(texts.chunks)
    if isinstance(texts, pa.Array):
        return [texts]
    return [pa.array(list(texts), pa.large_string())]


def _kernel_args(params: StatsParams) -> tuple[k.Lexicon, k.Rules]:
    """The kernel's tokenizer tables and the settings of ``params``, as its namedtuples."""
    (ex_keys, ex_bloom, ex_off, ex_lens, ex_maxlen, unit_keys, unit_maxlen, pats, pat_off,
     pat_pairs) = _tables()
    stop_keys = np.array([k._key_of(_cps(w)) for w in params.stop_words], np.uint64)
    stop = data.DT_TERMINAL_PUNCTUATION if params.stop_chars is None else params.stop_chars
    stop_chars = np.array(sorted({ord(c) for c in stop}), np.int64)
    lex = k.Lexicon(char_flags(), ex_keys, ex_bloom, ex_off, ex_lens, ex_maxlen, unit_keys,
                    unit_maxlen)
    rules = k.Rules(stop_keys, stop_chars, params.short_line_length,
                    params.c4_max_word_length, params.c4_filter_no_terminal_punct,
                    params.c4_min_words_per_line, params.c4_filter_javascript,
                    params.c4_filter_policy, params.c4_remove_citations, pats, pat_off,
                    pat_pairs)
    return lex, rules


def compute_stats(texts, params: StatsParams | None = None) -> pa.Table:
    """One int64 column per statistic (`STAT_NAMES`), one row per text.

    Parameters
    ----------
    texts
        An Arrow string/large_string (chunked) array, or a list of str.
    params
        The settings that change the statistics (stop words, C4 line rules).

    Examples
    --------
    >>> t = compute_stats(["The cat sat on the mat.\\nIt was happy."])
    >>> t["n_words"].to_pylist(), t["gq_lines"].to_pylist()
    ([11], [2])
    """
    params = params or StatsParams()
    lex, rules = _kernel_args(params)
    outs = []
    for chunk in _chunks(texts):
        offsets, body = string_buffers(chunk)
        out = np.zeros((len(chunk), k.N_STATS), np.int64)
        if len(chunk):
            k._batch_stats(offsets, body, lex, rules, out)
        outs.append(out)
    mat = np.concatenate(outs) if outs else np.zeros((0, k.N_STATS), np.int64)
    return pa.table({name: mat[:, i] for i, name in enumerate(STAT_NAMES)})


def split_words(texts) -> list[list[str]]:
    """The words our kernel splits each text into (spaCy-like; for tests and debugging)."""
    lex, _ = _kernel_args(StatsParams())
    result: list[list[str]] = []
    for chunk in _chunks(texts):
        offsets, body = string_buffers(chunk)
        n = len(chunk)
        cap = int(offsets[-1] - offsets[0]) + 1 if n else 1
        doc_off = np.zeros(n + 1, np.int64)
        ts = np.zeros(cap, np.int64)
        te = np.zeros(cap, np.int64)
        if n:
            k._batch_tokens(offsets, body, lex, doc_off, ts, te)
        for d, text in enumerate(chunk.to_pylist()):
            text = text or ""
            result.append([text[ts[t]:te[t]] for t in range(doc_off[d], doc_off[d + 1])])
    return result
