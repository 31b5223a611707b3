"""Benchmark: mixforge's tokenize stage and encoders vs the peers, one process, same data.

Same tokenizer, same documents, every path in each repeat (interleaved), medians and
ranges over the repeats:

* ``hf``            `tokenizers` ``Tokenizer.encode_batch`` (Rust, all cores)
* ``tiktoken``      tiktoken ``encode_ordinary_batch`` (8 threads) on an Encoding built
                    from the same merges and regex; ``tiktoken-1t``: one thread
* ``bpe-openai``    GitHub's linear-time ``bpe`` crate (PyPI ``bpe-openai``), only where
                    its encodings apply (a cl100k/o200k tiktoken source); ``-1t``: one thread
* ``datatrove``     datatrove's ``DocumentTokenizer`` (encode_batch + its token files)
* ``native``        mixforge's encoder alone on the Arrow text column (all cores; a fresh
                    encoder each repeat, so its pre-token cache starts cold); ``-1t``: one
* ``native-batched`` the same encoder called on the batches the stage encodes
                    (`stage.batch_targets`: 1 MB, 2, 4, 8, then 16 MB), text in memory
* ``plan``          `plan_tokenize` alone: load the tokenizer, prove the engine on a sample
* ``stage``         the `tokenize` stage end to end: read parquet, load and prove the
                    engine, encode, frame with EOS, write the store and store.json, with
                    the tokenizer's parts in the cache (`tokenizer_cache`: the steady
                    state, from the second run on)
* ``stage-cold``    the same with an empty tokenizer cache (a tokenizer's first run)

Texts are in memory for every encoder path (Python strings for the peers, the Arrow
column for ``native``). "stage overhead" is stage / native - 1 (warm and cold cache; and
stage / native-batched - 1, the encoder called as the stage calls it). Each
path is timed in
wall seconds and in process CPU seconds (all threads): on a machine shared with other
jobs the CPU seconds of a one-thread path are its cost per core, whatever the load.

Usage::

    PYTHONPATH=$PWD python -m bench.tokenize_speed --corpus /tmp/tk_corpus --json out.json
    PYTHONPATH=$PWD python -m bench.tokenize_speed --run /tmp/tok_run --tokenizer T.json

(run it as a module: as a script, bench/ would shadow the standard library `tokenize`)

``--corpus`` (JSONL, parquet or a folder) is ingested into a temporary run; ``--run`` must
hold an ``ingest`` stage. ``--tokenizer`` (repeatable): a tokenizer spec, or ``trained``
(default: an 8,192-token BPE trained on the run, `mixforge tokenizer train --vocab-size
8192 --max-mb 5`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench import _common
from mixforge.executor import LocalExecutor
from mixforge.stats import stage_files
from mixforge.tokenize.fast import build_encoder, tiktoken_compat
from mixforge.tokenize.loading import load_tokenizer
from mixforge.tokenize.stage import (
    EOS_CANDIDATES,
    TokenizeConfig,
    batch_targets,
    plan_tokenize,
    tokenize,
)

BPE_OPENAI = {"cl100k_base", "o200k_base"}


CPU: list[float] = []  # process CPU seconds of the last timed call (all threads)


def timed(fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    CPU.append(time.process_time() - c)
    return time.perf_counter() - t, out


def prepare_run(args, tmp: Path) -> Path:
    if args.run:
        return args.run
    if args.quick or _common.is_run(args.corpus):  # the bench/all.py contract
        return _common.prepare_run(args, tmp)
    from mixforge.ingest import IngestConfig, ingest

    run = tmp / "run"
    ingest(IngestConfig(inputs=[str(args.corpus)], shard_mb=args.shard_mb), run,
           LocalExecutor(args.workers))
    return run


def resolve_tokenizer(spec: str, run: Path) -> str:
    if spec != "trained":
        return spec
    path = run / "tokenizer" / "tokenizer.json"
    if not path.exists():
        from mixforge.tokenize.train import TokenizerTrainConfig, train_tokenizer

        train_tokenizer(run, TokenizerTrainConfig(vocab_size=8192, max_mb=5))
    return str(path)


def bench_one(spec: str, run: Path, table: pa.Table, args) -> list[dict]:
    col = table["text"]
    texts = col.to_pylist()
    mb = sum(len(t.encode()) for t in texts) / 1e6
    tok = load_tokenizer(spec)
    eos = next((e for e in ([args.eos] if args.eos else EOS_CANDIDATES)
                if tok.token_id(e) is not None), None)
    skip = set(args.skip)
    paths: dict[str, object] = {}

    hf = tok.hf
    if "hf" not in skip:
        paths["hf"] = lambda: hf.encode_batch(texts, add_special_tokens=False)
    compat = tiktoken_compat(tok)
    if compat.recipe is not None:
        tt = compat.recipe.encoding()
        paths["tiktoken"] = lambda: tt.encode_ordinary_batch(texts)
        paths["tiktoken-1t"] = lambda: tt.encode_ordinary_batch(texts, num_threads=1)
    name = tok.meta.get("encoding")
    if name in BPE_OPENAI and "bpe-openai" not in skip:
        import bpe_openai

        bo = bpe_openai.get_encoding(name)
        paths["bpe-openai"] = lambda: bo.encode_ordinary_batch(texts)
        paths["bpe-openai-1t"] = lambda: bo.encode_ordinary_batch(texts, num_threads=1)
    sample = [t[:256] for t in texts[:256]]
    probe = build_encoder(tok, sample=sample, threads=args.workers)
    ref = probe.hf  # tokenizers in the encoder's special-token mode (strings in text = text)
    want = [e.ids for e in ref.encode_batch(texts[:2000], add_special_tokens=False)]
    ids, lens = probe.encode(col.slice(0, min(2000, len(col))))
    assert ids.tolist() == [i for w in want for i in w], "mixforge and tokenizers differ"
    assert lens.tolist() == [len(w) for w in want], "mixforge and tokenizers differ"
    # a fresh encoder per repeat (built outside the timer): its pre-token cache starts cold
    fresh = {"native": lambda: build_encoder(tok, probe.engine, threads=args.workers),
             "native-batched": lambda: build_encoder(tok, probe.engine, threads=args.workers),
             "native-1t": lambda: build_encoder(tok, probe.engine, threads=1)}
    batches = stage_batches(col, TokenizeConfig().batch_mb * 1e6)
    if "datatrove" not in skip and eos is not None and tok.json_text is not None:
        paths["datatrove"] = "datatrove"
    paths["plan"] = "plan"
    paths["stage"] = "stage"
    paths["stage-cold"] = "stage-cold"
    cfg = TokenizeConfig(tokenizer=spec, eos_token=eos or "")
    times: dict[str, list[float]] = {k: [] for k in [*paths, *fresh]}
    cpu: dict[str, list[float]] = {k: [] for k in times}
    meta: dict = {}
    for rep in range(args.repeats):
        for k, fn in [*fresh.items(), *paths.items()]:
            if k in fresh:
                enc = fn()
                parts = batches if k == "native-batched" else [col]
                dt, _ = timed(lambda enc=enc, parts=parts: [enc.encode(p) for p in parts])
            elif fn == "datatrove":
                dt = run_datatrove(texts, spec, eos)
            elif fn == "plan":
                dt, _ = timed(lambda: plan_tokenize(cfg, run, args.workers))
            elif fn in ("stage", "stage-cold"):
                shutil.rmtree(run / "tokenize", ignore_errors=True)
                with _cache(cold=fn == "stage-cold"):
                    dt, (_, meta) = timed(lambda: tokenize(cfg, run,
                                                           LocalExecutor(args.workers)))
            else:
                dt, _ = timed(fn)
            times[k].append(dt)
            cpu[k].append(CPU[-1])
        print(f"  repeat {rep + 1}/{args.repeats}: " + ", ".join(
            f"{k} {v[-1]:.2f}s" for k, v in times.items()), file=sys.stderr)
    label = Path(spec).name if spec != "trained" else "trained"
    rows = []
    for k, v in times.items():
        med = statistics.median(v)
        c = statistics.median(cpu[k])
        rows.append({"tokenizer": label, "vocab": tok.vocab_size, "path": k, "mb": round(mb, 2),
                     "seconds": round(med, 3), "seconds_min": round(min(v), 3),
                     "seconds_max": round(max(v), 3), "mb_s": round(mb / med, 2),
                     "cpu_seconds": round(c, 3), "mb_per_cpu_s": round(mb / c, 2)})

    def ratio(a: str, b: str, t: dict = times) -> dict | None:
        if a not in t or b not in t:
            return None
        rs = [y / x for x, y in zip(t[a], t[b], strict=True)]
        return {"median": round(statistics.median(rs), 2), "min": round(min(rs), 2),
                "max": round(max(rs), 2)}

    ratios = {f"{a} vs {b}": ratio(a, b) for a, b in [
        ("native-1t", "tiktoken-1t"), ("native", "tiktoken"), ("native-1t", "bpe-openai-1t"),
        ("stage", "hf"), ("stage", "tiktoken"), ("stage", "datatrove")]}
    cpu_ratios = {f"{a} vs {b}": ratio(a, b, cpu) for a, b in [
        ("native-1t", "tiktoken-1t"), ("native-1t", "bpe-openai-1t"), ("native-1t", "hf")]}
    over = ratio("stage", "native")
    over_cold = ratio("stage-cold", "native")
    over_batched = ratio("stage", "native-batched")
    rows.append({"tokenizer": label, "engine": meta.get("engine"),
                 "engine_reason": meta.get("engine_reason"),
                 "ratios": {k: v for k, v in ratios.items() if v},
                 "cpu_ratios": {k: v for k, v in cpu_ratios.items() if v},
                 "stage_overhead_pct": over and {k: round(100 * (1 / x - 1), 1)
                                                 for k, x in over.items()},
                 "stage_overhead_cold_pct": over_cold and {
                     k: round(100 * (1 / x - 1), 1) for k, x in over_cold.items()},
                 "stage_overhead_batched_pct": over_batched and {
                     k: round(100 * (1 / x - 1), 1) for k, x in over_batched.items()}})
    return rows


@contextlib.contextmanager
def _cache(cold: bool):
    """An empty tokenizer cache for the block when ``cold`` (the run's own cache else)."""
    if not cold:
        yield
        return
    old = os.environ.get("MIXFORGE_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MIXFORGE_CACHE"] = tmp
        try:
            yield
        finally:
            if old is None:
                del os.environ["MIXFORGE_CACHE"]
            else:
                os.environ["MIXFORGE_CACHE"] = old


OVERHEADS = (("stage_overhead_pct", "native encoding (warm tokenizer cache)"),
             ("stage_overhead_cold_pct", "native encoding (cold tokenizer cache)"),
             ("stage_overhead_batched_pct", "native-batched (warm tokenizer cache)"))


def stage_batches(col: pa.ChunkedArray, batch_bytes: float) -> list[pa.Array]:
    """The text column cut as the stage cuts it (`stage.batch_targets`)."""
    col = col.combine_chunks()
    ends = np.cumsum(pc.binary_length(col).to_numpy())
    out, a, base = [], 0, 0
    for target in batch_targets(batch_bytes):
        if a >= len(col):
            return out
        b = max(a + 1, int(np.searchsorted(ends, base + target)) + 1)
        out.append(col.slice(a, b - a))
        base, a = int(ends[min(b, len(col)) - 1]), b
    return out


def run_datatrove(texts: list[str], spec: str, eos: str) -> float:
    from datatrove.data import Document
    from datatrove.pipeline.tokens.tokenizer import DocumentTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
        dt = DocumentTokenizer(output_folder=tmp, tokenizer_name_or_path=spec, eos_token=eos,
                               shuffle_documents=False, batch_size=10000)
        seconds, _ = timed(lambda: dt.run(iter(docs), 0, 1))
        return seconds


def table_rows(rows: list[dict]) -> tuple[list[dict], str]:
    """The rows as docs/benchmarks.md shows them (one line per path, then one per ratio),
    and a note naming each tokenizer's engine."""
    out, notes = [], []
    for r in rows:
        if "path" in r:
            out.append({"tokenizer": r["tokenizer"], "what": r["path"],
                        "seconds": f"{r['seconds']:.2f} ({r['seconds_min']:.2f}-"
                                   f"{r['seconds_max']:.2f})",
                        "MB/s": r["mb_s"], "CPU s": r["cpu_seconds"],
                        "MB per CPU-s": r["mb_per_cpu_s"], "ratio": ""})
            continue
        notes.append(f"{r['tokenizer']}: engine {r['engine']} ({r['engine_reason']}).")
        for kind, key in (("wall", "ratios"), ("CPU", "cpu_ratios")):
            for k, v in r[key].items():
                out.append({"tokenizer": r["tokenizer"], "what": f"{k} ({kind} s)",
                            "ratio": f"**{v['median']:.2f}x** ({v['min']:.2f}-{v['max']:.2f})"})
        for key, what in OVERHEADS:
            o = r.get(key)
            if o:
                lo, hi = sorted((o["min"], o["max"]))
                out.append({"tokenizer": r["tokenizer"], "what": f"stage overhead over {what}",
                            "ratio": f"{o['median']:.0f}% ({lo:.0f}-{hi:.0f}%)"})
    return out, " ".join(notes)


def print_rows(rows: list[dict]) -> None:
    print(f"{'tokenizer':<28} {'path':<14} {'median s':>9} {'range':>13} {'MB/s':>7} "
          f"{'cpu s':>7} {'MB/cpu-s':>9}")
    for r in rows:
        if "path" in r:
            print(f"{r['tokenizer'][:28]:<28} {r['path']:<14} {r['seconds']:9.2f} "
                  f"{r['seconds_min']:6.2f}-{r['seconds_max']:<6.2f} {r['mb_s']:7.2f} "
                  f"{r['cpu_seconds']:7.2f} {r['mb_per_cpu_s']:9.2f}")
        else:
            print(f"{r['tokenizer']}: engine {r['engine']} ({r['engine_reason']})")
            for k, v in r["ratios"].items():
                print(f"  {k:<28} {v['median']:.2f}x ({v['min']:.2f}-{v['max']:.2f})")
            for k, v in r["cpu_ratios"].items():
                print(f"  {k + ' (cpu s)':<28} {v['median']:.2f}x ({v['min']:.2f}-{v['max']:.2f})")
            for key, what in OVERHEADS:
                o = r.get(key)
                if o:
                    print(f"  stage overhead over {what}  {o['median']:.1f}% "
                          f"({o['max']:.1f} to {o['min']:.1f})")


def main() -> None:
    ap = argparse.ArgumentParser()
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", type=Path, help="a run directory holding an ingest stage")
    src.add_argument("--corpus", type=Path, help="JSONL/parquet file or folder to ingest")
    ap.add_argument("--tokenizer", action="append",
                    help="tokenizer spec, or 'trained' (repeatable; default: trained)")
    ap.add_argument("--eos", default="", help="EOS token (default: the usual names)")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--shard-mb", type=float, default=64.0)
    ap.add_argument("--skip", nargs="*", default=[], help="paths to skip: hf datatrove ...")
    ap.add_argument("--json", type=Path, help="write {name, command, corpus, rows} here")
    ap.add_argument("--quick", action="store_true", help="smoke-test size: a few documents, "
                    "one round (bench/_common.py)")
    args = ap.parse_args()
    if args.quick:
        args.repeats = 1

    with tempfile.TemporaryDirectory() as tmp:
        run = prepare_run(args, Path(tmp))
        files = stage_files(run / "ingest")
        table = pa.concat_tables(pq.read_table(f, columns=["text"]) for f in files)
        print(f"{table.num_rows:,} documents, {len(files)} shard(s), {os.cpu_count()} cores",
              file=sys.stderr)
        rows = []
        for spec in args.tokenizer or ["trained"]:
            spec = resolve_tokenizer(spec, run)
            print(f"tokenizer {spec}", file=sys.stderr)
            rows += bench_one(spec, run, table, args)
        shutil.rmtree(run / "tokenize", ignore_errors=True)
    print_rows(rows)
    if args.json:
        shown, notes = table_rows(rows)
        out = {"name": "tokenize_speed", "command": " ".join(["python -m bench.tokenize_speed",
                                                              *sys.argv[1:]]),
               "corpus": str(args.corpus or args.run), "rows": shown, "raw": rows,
               "notes": notes + f" Median (range) over {args.repeats} interleaved rounds; "
                        "`-1t`: one thread; ratios per round."}
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
