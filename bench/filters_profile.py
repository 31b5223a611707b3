"""Where the filter statistics pass spends its time: CPU time by pass, ns per UTF-8 byte.

    PYTHONPATH=$PWD python -m bench.filters_profile --corpus CORPUS [--repeats 5]

The passes of `_textstats_kernels._doc_stats` are added one at a time to a kernel run over
the whole corpus (one core); a pass costs the difference from the run without it (the
word split is timed alone, then replaced by the word statistics that include it). Minimum
over --repeats interleaved rounds (CPU time: the least disturbed by other work on the
machine). Nothing here is compared with a peer: bench/filters.py does that.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from numba import njit

from bench._common import parser, prepare_run, read_stage, write
from mixforge._numba import JIT, JIT_NOALLOC
from mixforge.curate import _textstats_kernels as k
from mixforge.curate import textstats
from mixforge.curate._utf8 import string_buffers

PASSES = ("decode UTF-8", "prefix hashes + character counts", "word split (spaCy rules)",
          "word counts, stop words, word hashes", "n-gram repetition (Gopher)",
          "paragraphs and lines (Gopher)", "FineWeb lines", "`splitlines()` lines, C4 rules")


@njit(**JIT_NOALLOC)
def _doc_upto(n, lex, rules, s, out, stop):
    """`_doc_stats` cut after pass ``stop`` (an index into PASSES)."""
    cps = s.cps
    if stop < 1:
        return
    k._char_stats(cps, n, s.P, out)
    if stop < 2:
        return
    if stop < 3:
        k._words(cps, 0, n, lex, s.ts, s.te, s.sufs, s.sufe)
        return
    nt = k._word_stats(cps, n, lex, rules, s, out)
    if stop < 4:
        return
    k._ngram_stats(nt, s, out)
    if stop < 5:
        return
    k._gopher_repetition_stats(cps, n, lex.flags, s, out)
    if stop < 6:
        return
    k._fineweb_line_stats(cps, n, lex.flags, rules, s, out)
    if stop < 7:
        return
    k._splitlines_stats(cps, n, nt, lex, rules, s, out)


@njit(**JIT)
def _batch_upto(offsets, data, lex, rules, out, stop):
    maxb = 1
    for d in range(offsets.shape[0] - 1):
        maxb = max(maxb, offsets[d + 1] - offsets[d])
    s = k._scratch(maxb, rules.stop_keys.shape[0])
    for d in range(offsets.shape[0] - 1):
        n = k._decode(data, offsets[d], offsets[d + 1], s.cps)
        _doc_upto(n, lex, rules, s, out[d], stop)


def main() -> None:
    ap = parser(__doc__)
    args = ap.parse_args()
    repeats = 1 if args.quick else args.repeats
    with tempfile.TemporaryDirectory() as tmp:
        texts = read_stage(prepare_run(args, Path(tmp)))["text"].combine_chunks()
    offsets, body = string_buffers(texts)
    nbytes = int(offsets[-1] - offsets[0])
    lex, rules = textstats._kernel_args(textstats.StatsParams())
    out = np.zeros((len(texts), k.N_STATS), np.int64)
    for stop in range(len(PASSES)):  # compile (or load the cached kernels)
        _batch_upto(offsets[:2], body, lex, rules, out, stop)
    best = [float("inf")] * (len(PASSES) + 1)
    for _ in range(repeats):
        for stop in range(len(PASSES)):
            t0 = time.process_time()
            _batch_upto(offsets, body, lex, rules, out, stop)
            best[stop] = min(best[stop], time.process_time() - t0)
        t0 = time.process_time()
        textstats.compute_stats(texts)
        best[-1] = min(best[-1], time.process_time() - t0)
    rows, prev = [], 0.0
    for name, t in zip(PASSES, best[:-1], strict=True):
        rows.append({"pass": name, "CPU s": f"{t - prev:.3f}",
                     "ns per byte": f"{(t - prev) / nbytes * 1e9:.1f}"})
        prev = t
    rows.append({"pass": "`compute_stats`, whole", "CPU s": f"{best[-1]:.3f}",
                 "ns per byte": f"{best[-1] / nbytes * 1e9:.1f}"})
    notes = (f"{len(texts):,} documents, {nbytes / 1e6:.1f} MB; minimum CPU time over "
             f"{repeats} round(s); {nbytes / best[-1] / 1e6:.1f} MB/s.")
    write(args, "filters_profile", rows, notes)


if __name__ == "__main__":
    main()
