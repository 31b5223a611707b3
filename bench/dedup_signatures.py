"""MinHash signatures, per core: mixforge vs datasketch, rensa and datatrove, same docs.

Everyone gets the same real documents, 128 permutations and word 5-gram shingles. Three
comparisons:

- raw text -> signature: ours is normalization (`normalize`) + the fused Numba shingling
  + MinHash kernel (one call per batch), timed apart so the split shows where the time
  goes; MB/s of raw UTF-8;
- normalized text -> signature (the same input for everyone; normalized by us, not
  timed): peers shingle in Python (split on whitespace, 5-grams joined by spaces), then
  datasketch ``MinHash.bulk`` (SHA-1 per shingle, numpy permutations), datasketch
  ``update_batch``, rensa ``RMinHash.digest_matrix_from_token_sets`` (Rust), datatrove's
  ``MinhashDedupSignature.get_shingles`` + ``get_signature`` per document (it gets the
  raw text and normalizes itself, so it is timed with it);
- kernel only (shingle hashes -> signature): our ``signatures_from_hashes`` vs rensa's
  ``digest_matrix_from_flat_token_hashes`` on the same uint64 hashes, on the corpus and
  on random hashes cut into documents of 20, 200 and 2,000 shingles (the ratio depends
  on document length: rensa pays a fixed cost per document and much less per shingle).

Timing: CPU seconds of the process (``time.process_time``: the machine is shared, and a
peer that used more threads would be charged for them), interleaved rounds (one call of
each per round), median and range. One thread each (RAYON_NUM_THREADS=1; our kernels are
single-threaded). Slow peers run on a document sample and are scaled per document.

    PYTHONPATH=$PWD python bench/dedup_signatures.py --corpus-mb 20
    PYTHONPATH=$PWD python bench/dedup_signatures.py --corpus /tmp/gettext_corpus \\
        --json out/dedup_signatures.json

``--corpus`` takes anything `mixforge ingest` reads (JSONL, parquet, a folder of them);
without it the real local corpus (`mixforge corpus --max-mb`) is built in a temporary
folder. ``--json`` writes ``{"name", "command", "corpus", "rows", "notes"}``.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench import _common
from mixforge.corpus import build_corpus
from mixforge.curate.minhash import MinHashParams, signatures, signatures_from_hashes
from mixforge.curate.normalize import NormConfig, normalize, shingle_hashes
from mixforge.executor import LocalExecutor
from mixforge.ingest import IngestConfig, ingest

P = 128


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """CPU seconds of each call over ``repeats`` rounds, one call of each per round."""
    return _common.interleaved(fns, repeats, clock=time.process_time)


def spread(xs: list[float], scale: float = 1.0) -> str:
    """``median (min-max)`` of ``scale / x`` (a rate from seconds)."""
    v = sorted(scale / x for x in xs)
    return f"{statistics.median(v):,.0f} ({v[0]:,.0f}-{v[-1]:,.0f})"


def ratio(peer: list[float], ours: list[float]) -> str:
    """Per-round ratios peer/ours, ``median (min-max)``."""
    r = sorted(p / o for p, o in zip(peer, ours, strict=True))
    return f"{statistics.median(r):.2f}x ({r[0]:.2f}-{r[-1]:.2f})"


def per_shingle(ours: list[float], peer: list[float], m: int) -> str:
    """Median nanoseconds per shingle, ours and the peer's."""
    return f"{statistics.median(ours) / m * 1e9:.2f}, {statistics.median(peer) / m * 1e9:.2f}"


def shingle_strings(norm: list[str]) -> list[list[str]]:
    out = []
    for t in norm:
        w = t.split()
        out.append([" ".join(w[i:i + 5]) for i in range(max(len(w) - 4, 1))] if w else [])
    return out


def load(corpus: Path | None, corpus_mb: float, work: Path) -> pa.Array:
    """The text column of the corpus, ingested (one worker)."""
    if corpus is None:
        corpus = work / "corpus"
        build_corpus(corpus, max_mb=corpus_mb)
    run = corpus if _common.is_run(corpus) else work / "run"  # a run: the bench/all.py contract
    if run != corpus:
        ingest(IngestConfig(inputs=[str(corpus)]), run, LocalExecutor(1))
    return _common.read_stage(run)["text"].combine_chunks()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=None,
                    help="JSONL/parquet/folder `mixforge ingest` reads; default: the local corpus")
    ap.add_argument("--corpus-mb", type=float, default=20.0,
                    help="size of the local corpus built when --corpus is not given")
    ap.add_argument("--peer-docs", type=int, default=1500, help="sample for slow peers")
    ap.add_argument("--repeats", type=int, default=7, help="interleaved rounds")
    ap.add_argument("--json", type=Path, default=None, help="write the rows here")
    ap.add_argument("--quick", action="store_true", help="smoke-test size: a few hundred "
                    "documents, one round (bench/_common.py)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        texts = load(args.corpus, args.corpus_mb, Path(tmp))
    if args.quick:
        texts, args.repeats, args.peer_docs = texts.slice(0, 10 * _common.QUICK_DOCS), 1, 50
    n, mb = len(texts), pc.sum(pc.binary_length(texts)).as_py() / 1e6
    params = MinHashParams(P, 16, 8, 5, 1)
    norm_cfg = NormConfig()
    signatures(texts.slice(0, 10), params, norm_cfg)  # compile / load the cache
    normed = normalize(texts, norm_cfg)
    h, o = shingle_hashes(normed, 5)
    o_u64 = o.astype(np.uint64)
    signatures_from_hashes(h[:10], np.array([0, 10]), P)
    import rensa

    ours = interleaved({
        "normalize": lambda: normalize(texts, norm_cfg),
        "kernel": lambda: signatures(normed, params),
        "shingles": lambda: shingle_hashes(normed, 5),
        "mixforge hashes": lambda: signatures_from_hashes(h, o, P),
        "rensa hashes": lambda: rensa.RMinHash.digest_matrix_from_flat_token_hashes(
            h, o_u64, P, 1),
    }, args.repeats)
    e2e = [a + b for a, b in zip(ours["normalize"], ours["kernel"], strict=True)]
    share = statistics.median(a / (a + b) for a, b in zip(ours["normalize"], ours["kernel"],
                                                          strict=True))
    rows = [
        {"what": "mixforge: raw text -> signature (normalize + shingle + MinHash)",
         "MB/s": spread(e2e, mb), "docs/s": spread(e2e, n)},
        {"what": "mixforge: normalize only", "MB/s": spread(ours["normalize"], mb),
         "docs/s": spread(ours["normalize"], n)},
        {"what": "mixforge: normalized text -> signature (shingle + MinHash kernel)",
         "MB/s": spread(ours["kernel"], mb), "docs/s": spread(ours["kernel"], n)},
        {"what": "mixforge: normalized text -> shingle hashes only (count + hash passes)",
         "MB/s": spread(ours["shingles"], mb), "docs/s": spread(ours["shingles"], n)},
        {"what": f"kernel only, corpus: {len(h):,} shingle hashes, {n:,} docs "
                 f"({len(h) / max(n, 1):.0f} per doc): rensa time / ours",
         "ratio": ratio(ours["rensa hashes"], ours["mixforge hashes"]),
         "ns/shingle (ours, rensa)": per_shingle(ours["mixforge hashes"], ours["rensa hashes"],
                                                 len(h))},
    ]
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 2**63, 2_000_000, dtype=np.uint64)
    for per in (20, 200, 2000):
        orr = np.arange(0, len(hr) + 1, per, dtype=np.int64)
        orr_u = orr.astype(np.uint64)
        t = interleaved({
            "ours": lambda orr=orr: signatures_from_hashes(hr, orr, P),
            "rensa": lambda orr_u=orr_u: rensa.RMinHash.digest_matrix_from_flat_token_hashes(
                hr, orr_u, P, 1)}, args.repeats)
        rows.append({"what": f"kernel only, random hashes, {per:,} shingles per doc: "
                             "rensa time / ours", "ratio": ratio(t["rensa"], t["ours"]),
                     "ns/shingle (ours, rensa)": per_shingle(t["ours"], t["rensa"], len(hr))})

    idx = np.sort(rng.choice(n, min(args.peer_docs, n), replace=False))
    sub = texts.take(pa.array(idx))
    sub_norm = normalize(sub, norm_cfg)
    sub_list = sub_norm.to_pylist()
    k = len(sub_list)
    from datasketch import MinHash

    def ds_bulk():
        MinHash.bulk([[s.encode() for s in d] for d in shingle_strings(sub_list)], num_perm=P)

    def ds_update_batch():
        for d in shingle_strings(sub_list):
            MinHash(num_perm=P).update_batch([s.encode() for s in d])

    def rensa_sets():
        rensa.RMinHash.digest_matrix_from_token_sets(shingle_strings(sub_list), P, 1)

    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.utils.hashing import HashConfig

    with tempfile.TemporaryDirectory() as out:
        dt = MinhashDedupSignature(out, MinhashConfig(
            num_buckets=16, hashes_per_bucket=8,
            # its default xxhash path raises on str with the installed xxhash; sha1 works
            hash_config=HashConfig(precision=64, hash_fc="sha1")))
        raw = sub.to_pylist()

        def datatrove():
            for t in raw:
                sh = dt.get_shingles(t)
                if len(sh):  # its get_signature fails on a document without shingles
                    dt.get_signature(sh)

        peers = interleaved({"mixforge": lambda: signatures(sub_norm, params),
                             "datasketch MinHash.bulk": ds_bulk,
                             "datasketch MinHash.update_batch": ds_update_batch,
                             "rensa digest_matrix_from_token_sets (Python shingling + Rust)":
                                 rensa_sets,
                             "datatrove get_shingles + get_signature (raw text)": datatrove},
                            max(1, args.repeats // 3))
    for name, ts in peers.items():
        rows.append({"what": f"normalized text -> signature, {k:,}-doc sample: {name}",
                     "docs/s": spread(ts, k),
                     "mixforge is": "1.0x" if name == "mixforge" else
                     ratio(ts, peers["mixforge"])})
    corpus = str(args.corpus) if args.corpus else f"mixforge corpus --max-mb {args.corpus_mb:g}"
    notes = (f"{n:,} documents, {mb:.1f} MB; normalize {share:.0%} of raw text -> signature; "
             f"medians (ranges) over {args.repeats} interleaved rounds, CPU seconds")
    for r in rows:
        print("  ".join(f"{a}: {b}" for a, b in r.items()))
    print(notes)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps({"name": "dedup_signatures",
                                   "command": shlex.join(["python", "-m", "bench.dedup_signatures",
                                                          *sys.argv[1:]]),
                                   "corpus": corpus, "rows": rows, "notes": notes}, indent=2))
        tmp.replace(args.json)


if __name__ == "__main__":
    main()
