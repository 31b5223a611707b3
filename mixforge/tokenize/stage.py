"""The `tokenize` stage: a document stage -> the token store in ``<run>/tokenize``.

Reads the latest document stage (filter > dedup_fuzzy > dedup_exact > ingest, or
``input_stage``), encodes each input shard with the fast encoder (`fast.py`: tiktoken
when it provably gives `tokenizers`' ids, else `tokenizers`), frames documents with BOS
and/or EOS, and writes one ``<domain>/<shard>.bin`` + ``.docs.parquet`` per domain of
each shard through `store.ShardWriter`. Shards run in parallel (processes, one per input
shard); when there are fewer shards than cores, each worker encodes with threads, so
one big shard still uses every core. Per-shard markers make the stage resumable; a shard
whose tokenizer, framing or input changed is redone. ``store.json`` (via
`store.finalize_store`) records the tokenizer's fingerprint, the engine and why, the
dtype, BOS/EOS ids and per-domain docs, tokens, bytes and bytes per token; beside it,
``token_bytes.npy`` holds the UTF-8 bytes of every token id (`token_bytes.py`), so
probes compute exact bits per byte.

Within a shard, reading the next batch and writing the last one overlap with encoding
(`tokenize_shard`); the engine's tables come from the tokenizer cache
(`tokenizer_cache`), so a run pays for them once per tokenizer, not once per run.

Memory per worker: up to three record batches of text (``batch_mb``, default 16 MB: the
one being encoded, the one being written, the one read ahead) and two batches' tokens (4
bytes a token, ~1 token per 3-4 bytes), plus the documents' rows of the current shard
(id, source, counts); tokens go to the shard's files as each batch is done
(`store.ShardWriter`).

Documents with no tokens (empty text) are kept: an empty document is a document, and
with BOS/EOS it still has tokens. Docs in = docs written, always.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import storage
from ..config import config_hash, opt, to_dict
from ..documents import input_key, input_stage
from ..errors import ConfigError
from ..executor import Executor, OnResult, get_executor
from ..layout import TOKEN_STORE, tokenizer_json
from ..rundir import ShardTask, StageReport, run_stage
from ..stats import stage_files
from .fast import Encoder, Specials, build_encoder
from .loading import LoadedTokenizer, load_tokenizer
from .store import ShardWriter, finalize_store, token_dtype
from .train import iter_texts

log = logging.getLogger(__name__)
STAGE = TOKEN_STORE
Framing = Literal["eos", "bos", "both", "none"]
COLUMNS = ("id", "text", "domain", "source")


@dataclass
class TokenizeConfig:
    """Options of `mixforge tokenize` (and the `tokenize` section of a pipeline config)."""

    tokenizer: str = opt("", "The tokenizer: a tokenizer.json path, hf:ORG/NAME (local cache), "
                         "tiktoken:NAME or a .tiktoken file (default: <run>/tokenizer/"
                         "tokenizer.json, from `mixforge tokenizer train`).")
    framing: Framing = opt("eos", "Special tokens around each document: append EOS, prepend "
                           "BOS, both, or none.")
    bos_token: str = opt("", "The BOS token string (default: the one the tokenizer's own "
                         "post-processor puts first, else the first of the usual names it "
                         "has: <|begin_of_text|>, <s>, <bos>, <|bos|>, [CLS], ... see "
                         "docs/tokenize.md).")
    eos_token: str = opt("", "The EOS token string (default: the one the tokenizer's own "
                         "post-processor puts last, else the first of the usual names it "
                         "has: <|endoftext|>, <|end_of_text|>, </s>, <eos>, [SEP], ... see "
                         "docs/tokenize.md).")
    special_tokens_in_text: Specials = opt(
        "text", "A special-token string inside a document (a literal <|endoftext|>): 'text' "
        "encodes it as ordinary text (as nanoGPT/llm.c prepare data; a document cannot "
        "inject a boundary), 'control' turns it into the control token.")
    engine: Literal["auto", "native", "tiktoken", "tokenizers"] = opt(
        "auto", "Encoding engine: auto (native, else tiktoken, when proven identical to "
        "tokenizers; else tokenizers), or force one.")
    input_stage: str | None = opt(None, "Document stage to read (default: the latest of "
                                  "filter, dedup_fuzzy, dedup_exact, ingest).")
    batch_mb: float = opt(16.0, "MB of text encoded per call (bounds memory per worker).")
    sample_docs: int = opt(256, "Documents of the input checked at load time to prove the "
                           "fast engine gives tokenizers' ids.")
    allow_download: bool = opt(False, "Let hf:/tiktoken: tokenizers download when not cached.")

    def validate(self) -> None:
        if self.batch_mb <= 0:
            msg = f"batch_mb must be > 0, got {self.batch_mb}"
            raise ConfigError(msg)


# The usual BOS/EOS names of the common model families, most specific first (a tokenizer
# holding several takes the first): Llama 3, DeepSeek, Llama 2 / Mistral / RoBERTa, Gemma,
# mixforge's own trainer, GPT-J/NeoX-style, BERT, Qwen (no BOS of its own: <|im_start|>),
# GPT-2 (<|endoftext|> both ways), T5 (decoder start <pad>, EOS </s>).
BOS_CANDIDATES = ("<|begin_of_text|>", "<｜begin▁of▁sentence｜>", "<s>", "<bos>", "<|bos|>",
                  "<|startoftext|>", "<SOS>", "[CLS]", "<|im_start|>", "<|endoftext|>", "<pad>")
EOS_CANDIDATES = ("<|endoftext|>", "<|end_of_text|>", "<｜end▁of▁sentence｜>", "</s>", "<eos>",
                  "<|eos|>", "<EOT>", "[SEP]", "<|im_end|>")


def resolve_special(tok: LoadedTokenizer, given: str, candidates: tuple[str, ...],
                    what: str) -> tuple[str, int]:
    """The (string, id) of the BOS/EOS token.

    The given name; else the one the tokenizer's own post-processor template puts before
    (BOS) or after (EOS) a sequence (`LoadedTokenizer.template_specials`); else the first
    of ``candidates`` the tokenizer has. ConfigError when none is found.
    """
    template = tok.template_specials()[0 if what == "BOS" else 1]
    names = [given] if given else [*([template] if template else []), *candidates]
    for name in names:
        i = tok.token_id(name)
        if i is not None:
            return name, i
    msg = (f"{what} token {given!r} is not in the tokenizer" if given else
           f"the tokenizer has none of the usual {what} tokens {list(candidates)}; "
           f"name one with --{what.lower()}-token or choose another --framing")
    raise ConfigError(msg)


def frame(tokens: np.ndarray, lens: np.ndarray, bos: int | None, eos: int | None,
          order: np.ndarray | None = None, dtype: np.dtype | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    """The documents' tokens with BOS before and/or EOS after each, in one Numba pass.

    ``tokens``: the documents' ids back to back, ``lens[d]`` each. ``order`` (default: as
    given) puts the documents in another order (the stage groups them by domain);
    ``dtype`` (default: ``tokens``') is the output's. Returns (tokens, lengths), both in
    ``order``.
    """
    from ._kernels import _frame

    lens = np.asarray(lens, dtype=np.int64)
    dtype = np.dtype(dtype or tokens.dtype)
    extra = (bos is not None) + (eos is not None)
    if not extra and order is None:
        return tokens.astype(dtype, copy=False), lens
    starts = np.zeros(len(lens), dtype=np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    order = (np.arange(len(lens), dtype=np.int64) if order is None
             else np.asarray(order, dtype=np.int64))
    out = np.empty(int(lens.sum()) + extra * len(lens), dtype=dtype)
    _frame(tokens, starts, lens, order, -1 if bos is None else bos,
           -1 if eos is None else eos, out)
    return out, lens[order] + extra


def frame_table(table: pa.Table, tokens: np.ndarray, lens: np.ndarray, bos: int | None,
                eos: int | None, dtype: np.dtype) -> dict[str, tuple]:
    """A document table's encoded documents (``tokens`` back to back, ``lens[i]`` each),
    framed and split by domain: per domain (tokens framed in ``dtype``, lens, ids,
    sources, n_bytes), documents in table order within a domain."""
    n_bytes = pc.binary_length(table["text"]).to_numpy().astype(np.int64)
    uniq = sorted(pc.unique(table["domain"]).to_pylist())
    if len(uniq) == 1:
        tokens, lens = frame(tokens, lens, bos, eos, dtype=dtype)
        return {uniq[0]: (tokens, lens, table["id"], table["source"], n_bytes)}
    codes = pc.index_in(table["domain"], value_set=pa.array(uniq)).to_numpy(
        zero_copy_only=False)
    order = np.argsort(codes, kind="stable")  # grouped by domain, in one framing pass
    tokens, lens = frame(tokens, lens, bos, eos, order, dtype)
    doc_end = np.cumsum(np.bincount(codes, minlength=len(uniq)))
    tok_end = np.cumsum(lens)[doc_end - 1]
    ids, sources, n_bytes = table["id"].take(order), table["source"].take(order), n_bytes[order]
    out, a, t = {}, 0, 0
    for d, b, u in zip(uniq, doc_end.tolist(), tok_end.tolist(), strict=True):
        out[d] = (tokens[t:u], lens[a:b], ids.slice(a, b - a), sources.slice(a, b - a),
                  n_bytes[a:b])
        a, t = b, u
    return out


@dataclass(frozen=True)
class EncodeParams:
    """A tokenize task's parameters (`ShardTask.params`): the encoder and the framing."""

    encoder: Encoder
    bos: int | None  # id put before each document (None: none)
    eos: int | None  # id put after each document (None: none)
    dtype: np.dtype
    batch_bytes: float  # text bytes encoded per call


def batch_targets(batch_bytes: float) -> Iterator[float]:
    """The text bytes of each batch `read_batches` yields: 1/16 of ``batch_bytes``,
    doubling, then ``batch_bytes`` (small first batches: encoding starts sooner, while
    the next batch is read)."""
    target = batch_bytes / 16
    while True:
        yield target
        target = min(batch_bytes, 2 * target)


def read_batches(path: str | Path, batch_bytes: float) -> Iterator[pa.Table]:
    """The documents of a parquet shard as tables of about `batch_targets` bytes of text
    (a batch ends at the first 1,024-row record batch that reaches its target)."""
    pf = pq.ParquetFile(path)
    batch: list[pa.RecordBatch] = []
    size, targets = 0, batch_targets(batch_bytes)
    target = next(targets)
    # one thread: the encoder's threads have the cores (Arrow's pool: same CPU seconds)
    for rb in pf.iter_batches(batch_size=1024, columns=list(COLUMNS), use_threads=False):
        batch.append(rb)
        size += rb.column(1).nbytes
        if size >= target:
            yield pa.Table.from_batches(batch).combine_chunks()
            batch, size, target = [], 0, next(targets)
    if batch:
        yield pa.Table.from_batches(batch).combine_chunks()


def tokenize_shard(task: ShardTask[EncodeParams]) -> dict:
    """Encode one input shard into the store; return counts and the files written.

    Three things overlap: while the encoder's threads encode a batch, one I/O thread
    frames the last batch and appends it to the shard's files (`store.ShardWriter`), then
    reads the next one (parquet)."""
    p = task.params
    counts = {"docs_in": 0, "kept": 0, "rejected": 0, "tokens": 0, "bytes": 0}
    docs: dict[str, int] = {}

    def store(out: ShardWriter, table: pa.Table, tokens: np.ndarray, lens: np.ndarray
              ) -> None:
        for d, part in frame_table(table, tokens, lens, p.bos, p.eos, p.dtype).items():
            out.append(d, *part)
            docs[d] = docs.get(d, 0) + len(part[1])
            counts["tokens"] += int(part[1].sum())
            counts["bytes"] += int(part[4].sum())

    with ShardWriter(task.stage_dir, task.shard) as out, \
            ThreadPoolExecutor(1, thread_name_prefix="mixforge-io") as io:
        batches = read_batches(task.inputs[0], p.batch_bytes)
        ahead = io.submit(next, batches, None)
        written: Future | None = None
        while (table := ahead.result()) is not None:
            ahead = io.submit(next, batches, None)
            # Arrow in: the native engine reads the text buffers in place
            tokens, lens = p.encoder.encode(table["text"])
            if written is not None:
                written.result()
            written = io.submit(store, out, table, tokens, lens)
        if written is not None:
            written.result()
    for d, n in sorted(docs.items()):
        counts["docs_in"] += n
        counts["kept"] += n
        counts[f"docs_{d}"] = n
    return {"counts": counts, "outputs": out.outputs}


@dataclass
class Prepared:
    """What `plan_tokenize` resolved: the tasks, encoder and framing (before any work)."""

    tasks: list[ShardTask]
    encoder: Encoder
    input_stage: str
    bos: tuple[str, int] | None
    eos: tuple[str, int] | None


def plan_tokenize(cfg: TokenizeConfig, run_dir: str | Path, workers: int | None = None
                  ) -> Prepared:
    """Resolve the tokenizer, prove the engine on a sample and plan one task per shard."""
    run_dir = storage.local(run_dir)
    stage = input_stage(run_dir, STAGE, cfg.input_stage)
    files = stage_files(run_dir / stage)
    spec = cfg.tokenizer or str(tokenizer_json(run_dir))
    tok = load_tokenizer(spec, allow_download=cfg.allow_download)
    sample: list[str] = []
    for texts in iter_texts(files, batch_rows=max(1, cfg.sample_docs)):
        # cut each to 256 characters: real text of every script still, and the tokenizers
        # side of the check stays ~0.06 s (1,000 characters: 0.26 s, 10% of a 22 MB
        # mixed-script run; whole documents: seconds)
        sample = [t[:256] for t in texts[: cfg.sample_docs]]
        break
    workers = max(1, workers or os.cpu_count() or 1)
    threads = max(1, (os.cpu_count() or 1) // max(1, min(workers, len(files))))
    enc = build_encoder(tok, cfg.engine, sample, threads=threads,
                        specials=cfg.special_tokens_in_text)
    bos = resolve_special(tok, cfg.bos_token, BOS_CANDIDATES, "BOS") \
        if cfg.framing in ("bos", "both") else None
    eos = resolve_special(tok, cfg.eos_token, EOS_CANDIDATES, "EOS") \
        if cfg.framing in ("eos", "both") else None
    dtype = token_dtype(tok.vocab_size)
    # the engine is not in the key: both engines give the same ids, by construction
    cfg_key = config_hash({"fingerprint": tok.fingerprint, "framing": cfg.framing,
                           "bos": bos, "eos": eos, "dtype": dtype.name,
                           "specials": cfg.special_tokens_in_text})
    in_dir = run_dir / stage
    tasks = []
    for path in files:
        shard = path.name[: -len(".parquet")]
        tasks.append(ShardTask(str(run_dir / STAGE), shard, (str(path),),
                               config_hash(cfg_key, input_key(in_dir, shard)),
                               params=EncodeParams(enc, bos and bos[1], eos and eos[1],
                                                   dtype, cfg.batch_mb * 1e6)))
    return Prepared(tasks, enc, stage, bos, eos)


def tokenize(cfg: TokenizeConfig, run_dir: str | Path, executor: Executor | None = None,
             on_result: OnResult | None = None, prepared: Prepared | None = None
             ) -> tuple[StageReport, dict]:
    """Tokenize the run's documents into ``<run>/tokenize``; return the report and store.json.

    Examples
    --------
    >>> report, meta = tokenize(TokenizeConfig(), "runs/r1")  # doctest: +SKIP
    >>> meta["domains"]["licenses"]["bytes_per_token"]  # doctest: +SKIP
    """
    run_dir = storage.local(run_dir)
    executor = executor or get_executor()
    prep = prepared or plan_tokenize(cfg, run_dir, executor.workers)
    enc = prep.encoder
    report = run_stage(prep.tasks, tokenize_shard, executor, on_result,
                       summary={"config": to_dict(cfg), "input_stage": prep.input_stage,
                                **enc.info()})
    meta = finalize_store(Path(run_dir) / STAGE, enc.vocab_size, enc.tok.info(), {
        "engine": enc.engine, "engine_reason": enc.reason, "framing": cfg.framing,
        "special_tokens_in_text": cfg.special_tokens_in_text,
        "bos": prep.bos and {"token": prep.bos[0], "id": prep.bos[1]},
        "eos": prep.eos and {"token": prep.eos[0], "id": prep.eos[1]},
        "eos_id": prep.eos[1] if prep.eos else None,
        "bos_id": prep.bos[1] if prep.bos else None,
        "input_stage": prep.input_stage},
        token_bytes=enc.token_bytes())
    return report, meta
