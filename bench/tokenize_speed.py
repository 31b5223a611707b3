"""Benchmark: mixforge's tokenize stage end to end vs the peers, one process, same data.

Same tokenizer, same documents (a run's ingested corpus), in one process run:

* ``hf``        `tokenizers` ``Tokenizer.encode_batch`` (Rust, all cores), texts in memory
* ``tiktoken``  tiktoken ``encode_ordinary_batch`` (8 threads) on an Encoding built from
                the same merges and regex, texts in memory
* ``datatrove`` datatrove's ``DocumentTokenizer`` (reads Documents, encodes with
                `tokenizers`, writes its token files and index)
* ``encode``    mixforge's encoder alone (texts in memory): pure encoding
* ``stage``     mixforge's `tokenize` stage end to end: read parquet, load the tokenizer
                and prove the engine, encode, frame with EOS, write the store and store.json

Usage::

    PYTHONPATH=$PWD python -m bench.tokenize_speed --run /tmp/run --tokenizer TOKENIZER.json
    PYTHONPATH=$PWD python -m bench.tokenize_speed --corpus CORPUS --tokenizer trained \
        [--json OUT] [--quick]

(run it as a module: as a script, bench/ would shadow the standard library `tokenize`)

``--run`` must hold an ``ingest`` stage (``mixforge corpus`` + ``mixforge ingest``); the
tokenizer defaults to the pretrained 65k byte-level BPE from scripts/get-tokenizers.sh;
``--tokenizer trained`` trains an 8k byte-level BPE (GPT-4 regex) on up to 5 MB of the
corpus first. ``--corpus`` (bench/_common.py's contract) ingests any corpus instead of
``--run``; the paths then run interleaved over ``--repeats`` rounds (median, range).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench._common import interleaved, parser, prepare_run, ratio, spread, write
from mixforge.executor import LocalExecutor
from mixforge.stats import stage_files
from mixforge.tokenize.fast import build_encoder, tiktoken_compat
from mixforge.tokenize.loading import load_tokenizer
from mixforge.tokenize.stage import TokenizeConfig, tokenize

DEFAULT_TOK = Path.home() / ".cache" / "mixforge" / "tokenizers" / "anthropic_tokenizer.json"


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--run", type=Path, default=None)
    ap.add_argument("--tokenizer", default=str(DEFAULT_TOK))
    ap.add_argument("--eos", default="<EOT>")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args()
    if args.run is None:
        with tempfile.TemporaryDirectory() as tmp:
            args.run = prepare_run(args, Path(tmp))
            if args.tokenizer == "trained":
                from mixforge.tokenize.train import TokenizerTrainConfig, train_tokenizer

                args.tokenizer = str(train_tokenizer(args.run, TokenizerTrainConfig(
                    vocab_size=512 if args.quick else 8192, max_mb=5.0)))
                args.eos = "<|endoftext|>"
            return contract(args)
    run_once(args)


def contract(args: argparse.Namespace) -> None:
    """--corpus: every path interleaved over rounds, rows into --json."""
    table = pa.concat_tables(pq.read_table(f) for f in stage_files(args.run / "ingest"))
    texts = table["text"].to_pylist()
    mb = sum(len(t.encode()) for t in texts) / 1e6
    tok = load_tokenizer(args.tokenizer)
    hf = tok.hf
    fns = {"hf": lambda: hf.encode_batch(texts, add_special_tokens=False)}
    compat = tiktoken_compat(tok)
    if compat.recipe is not None:
        tt = compat.recipe.encoding()
        fns["tiktoken"] = lambda: tt.encode_ordinary_batch(texts)
    enc = build_encoder(tok, sample=texts[:256])
    fns["encode"] = lambda: enc.encode(texts)
    from datatrove.data import Document
    from datatrove.pipeline.tokens.tokenizer import DocumentTokenizer

    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    cfg = TokenizeConfig(tokenizer=args.tokenizer, eos_token=args.eos, input_stage="ingest")
    meta = {}

    def datatrove() -> None:
        with tempfile.TemporaryDirectory() as out:
            DocumentTokenizer(output_folder=out, tokenizer_name_or_path=args.tokenizer,
                              eos_token=args.eos, shuffle_documents=False,
                              batch_size=10000).run(iter(docs), 0, 1)

    def stage() -> None:
        shutil.rmtree(args.run / "tokenize", ignore_errors=True)
        meta.update(tokenize(cfg, args.run, LocalExecutor(args.workers))[1])

    fns["datatrove"] = datatrove
    fns["stage"] = stage
    t = interleaved(fns, 1 if args.quick else args.repeats)
    what = {"hf": "`tokenizers` encode_batch (all cores)", "tiktoken": "tiktoken "
            "encode_ordinary_batch", "encode": "mixforge encoder alone", "datatrove":
            "datatrove DocumentTokenizer", "stage": "mixforge `tokenize` stage end to end"}
    rows = [{"path": what[k], "seconds": spread(v), "MB/s": spread(v, mb, invert=True),
             "stage is": "" if k in ("stage", "encode") else ratio(v, t["stage"])}
            for k, v in t.items()]
    over = [s / e - 1 for s, e in zip(t["stage"], t["encode"], strict=True)]
    rows.append({"path": "stage overhead over pure encoding", "seconds": "",
                 "MB/s": "", "stage is": spread(over, 100) + " %"})
    label = "trained" if "tokenizer/tokenizer.json" in args.tokenizer else Path(
        args.tokenizer).stem
    write(args, "tokenize" if label == "trained" else f"tokenize_{label}", rows,
          f"{len(texts):,} documents, {mb:.1f} MB; tokenizer {Path(args.tokenizer).name} "
          f"(vocab {tok.vocab_size:,}); engine {meta.get('engine')}; {args.workers} workers; "
          f"{len(t['stage'])} interleaved round(s), median (range).")


def run_once(args: argparse.Namespace) -> None:
    files = stage_files(args.run / "ingest")
    table = pa.concat_tables(pq.read_table(f) for f in files)
    texts = table["text"].to_pylist()
    mb = sum(len(t.encode()) for t in texts) / 1e6
    tok = load_tokenizer(args.tokenizer)
    print(f"{len(texts):,} documents, {mb:.1f} MB, {len(files)} shard(s); tokenizer "
          f"{tok.path} (vocab {tok.vocab_size:,}); {os.cpu_count()} cores")
    res: dict[str, float] = {}

    hf = tok.hf
    res["hf"], ref = timed(lambda: hf.encode_batch(texts, add_special_tokens=False))
    n_tokens = sum(len(e.ids) for e in ref)
    del ref

    compat = tiktoken_compat(tok)
    if compat.recipe is not None:
        tt = compat.recipe.encoding()
        res["tiktoken"], _ = timed(lambda: tt.encode_ordinary_batch(texts))

    enc = build_encoder(tok, sample=texts[:256])
    res["encode"], (ids, _) = timed(lambda: enc.encode(texts))
    assert len(ids) == n_tokens, "mixforge and tokenizers disagree on the token count"

    with tempfile.TemporaryDirectory() as tmp:
        from datatrove.data import Document
        from datatrove.pipeline.tokens.tokenizer import DocumentTokenizer

        docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
        dt = DocumentTokenizer(output_folder=tmp, tokenizer_name_or_path=args.tokenizer,
                               eos_token=args.eos, shuffle_documents=False, batch_size=10000)
        res["datatrove"], _ = timed(lambda: dt.run(iter(docs), 0, 1))

    shutil.rmtree(args.run / "tokenize", ignore_errors=True)
    cfg = TokenizeConfig(tokenizer=args.tokenizer, eos_token=args.eos)
    res["stage"], (_, meta) = timed(lambda: tokenize(cfg, args.run, LocalExecutor(args.workers)))

    print(f"engine: {meta['engine']} ({meta['engine_reason']})")
    print(f"{'path':<10} {'seconds':>8} {'MB/s':>7}")
    for k, v in res.items():
        print(f"{k:<10} {v:8.2f} {mb / v:7.2f}")
    s = res["stage"]
    print(f"stage vs hf encode_batch: {res['hf'] / s:.2f}x")
    if "tiktoken" in res:
        print(f"stage vs tiktoken:        {res['tiktoken'] / s:.2f}x")
    print(f"stage vs datatrove:       {res['datatrove'] / s:.2f}x")
    print(f"stage overhead over pure encoding: {100 * (s / res['encode'] - 1):.1f}%")


if __name__ == "__main__":
    main()
