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

(run it as a module: as a script, bench/ would shadow the standard library `tokenize`)

``--run`` must hold an ``ingest`` stage (``mixforge corpus`` + ``mixforge ingest``); the
tokenizer defaults to the pretrained 65k byte-level BPE from scripts/get-tokenizers.sh.
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
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--tokenizer", default=str(DEFAULT_TOK))
    ap.add_argument("--eos", default="<EOT>")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args()

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
