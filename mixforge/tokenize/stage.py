"""The tokenize stage: a document stage -> the token store in ``<run>/tokenize``.

One task per input shard (the executor spreads them over cores); inside a task documents
are encoded a record batch at a time and appended per domain to that shard's token file,
so memory is bounded by one batch plus one domain's doc index. Then ``store.json`` is
written from the shards (tokens, bytes and bytes-per-token per domain, tokenizer
fingerprint, dtype). Training a tokenizer (`train_from_run`) reads the same stage.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..config import config_hash, opt, to_dict
from ..errors import ConfigError
from ..executor import Executor, OnResult, get_executor
from ..rundir import ShardTask, StageReport, atomic_path, run_stage, write_json
from ..stage import input_key, latest_document_stage
from ..stats import stage_files
from .store import finalize_store, token_dtype, write_shard
from .tokenizer import EOT, Tokenizer, load_tokenizer, train_tokenizer

log = logging.getLogger(__name__)
STAGE = "tokenize"
TOKENIZER_DIR = "tokenizer"


@dataclass
class TokenizerTrainConfig:
    """Options of `mixforge tokenizer train`."""

    vocab_size: int = opt(8192, "Vocabulary size, special tokens included.")
    special_tokens: list[str] = opt([EOT], "Special tokens (the first is the EOS/BOS token).")
    input_stage: str | None = opt(None, "Document stage to train on (default: the latest).")
    max_mb: float = opt(200.0, "Train on at most this many MB of text (shards in order).")


@dataclass
class TokenizeConfig:
    """Options of `mixforge tokenize`."""

    tokenizer: str | None = opt(None, "tokenizer.json path, hf:NAME or tiktoken:NAME "
                                "(default: the run's trained <run>/tokenizer/tokenizer.json).")
    input_stage: str | None = opt(None, "Document stage to tokenize (default: the latest of "
                                  "filter, dedup_fuzzy, dedup_exact, ingest).")
    boundaries: Literal["eos", "bos", "both", "none"] = opt(
        "eos", "Special tokens around each document: append EOS, prepend BOS, both, none.")
    boundary_token: str = opt(EOT, "The BOS/EOS token.")
    fast: bool = opt(True, "Use the fast (tiktoken) engine when it is proven identical.")
    batch_rows: int = opt(2048, "Documents encoded per batch.")


def train_from_run(cfg: TokenizerTrainConfig, run_dir: str | Path) -> Path:
    """Train a byte-level BPE on a document stage; save ``<run>/tokenizer/tokenizer.json``."""
    run_dir = Path(run_dir)
    stage = latest_document_stage(run_dir, cfg.input_stage)
    budget = cfg.max_mb * 1e6

    def texts():
        seen = 0
        for f in stage_files(run_dir / stage):
            for batch in pq.ParquetFile(f).iter_batches(batch_size=1024, columns=["text"]):
                for t in batch.column(0).to_pylist():
                    yield t
                    seen += len(t)
                    if seen >= budget:
                        return

    out = run_dir / TOKENIZER_DIR / "tokenizer.json"
    marker = run_dir / TOKENIZER_DIR / "_trained.json"
    key = config_hash(to_dict(cfg), input_key(run_dir, stage),
                      [input_key(run_dir / stage, f.stem) for f in stage_files(run_dir / stage)])
    if out.exists() and marker.exists() and json.loads(marker.read_text()).get("key") == key:
        log.info("tokenizer %s is up to date; not retraining", out)
        return out
    hf = train_tokenizer(texts(), cfg.vocab_size, cfg.special_tokens)
    with atomic_path(out) as tmp:
        hf.save(str(tmp))
    write_json(marker, {"key": key, "config": to_dict(cfg), "input_stage": stage})
    log.info("trained a %d-token BPE on %s -> %s", cfg.vocab_size, stage, out)
    return out


def resolve_tokenizer(cfg: TokenizeConfig, run_dir: str | Path) -> str:
    spec = cfg.tokenizer or str(Path(run_dir) / TOKENIZER_DIR / "tokenizer.json")
    if not cfg.tokenizer and not Path(spec).exists():
        msg = (f"no tokenizer given and {spec} does not exist: run `mixforge tokenizer train "
               "-r RUN` first, or pass --tokenizer")
        raise ConfigError(msg)
    return spec


def _boundary_ids(tok: Tokenizer, cfg: TokenizeConfig) -> tuple[list[int], list[int]]:
    if cfg.boundaries == "none":
        return [], []
    tid = tok.token_id(cfg.boundary_token)
    if tid is None:
        msg = (f"boundary token {cfg.boundary_token!r} is not in the tokenizer's vocabulary; "
               "pass --boundary-token or --boundaries none")
        raise ConfigError(msg)
    bos = [tid] if cfg.boundaries in ("bos", "both") else []
    eos = [tid] if cfg.boundaries in ("eos", "both") else []
    return bos, eos


def encode_table(table: pa.Table, tok: Tokenizer, bos: list[int], eos: list[int],
                 dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tokens back to back, tokens per doc, UTF-8 bytes per doc) of a document table."""
    texts = table["text"].to_pylist()
    ids = tok.encode_batch(texts)
    lens = np.fromiter((len(x) + len(bos) + len(eos) for x in ids), np.int64, len(ids))
    flat = np.fromiter(itertools.chain.from_iterable(
        itertools.chain(bos, x, eos) for x in ids), dtype, int(lens.sum()))
    nbytes = pc.binary_length(table["text"]).to_numpy(zero_copy_only=False).astype(np.int64)
    return flat, lens, nbytes


def tokenize_shard(task: ShardTask) -> dict:
    """Encode one document shard into per-domain token files of the store."""
    cfg, spec = task.params
    tok = load_tokenizer(spec, cfg.fast)
    dtype = token_dtype(tok.vocab_size)
    bos, eos = _boundary_ids(tok, cfg)
    parts: dict[str, list] = {}
    counts = {"docs": 0, "tokens": 0}
    for batch in pq.ParquetFile(task.inputs[0]).iter_batches(
            batch_size=cfg.batch_rows, columns=["id", "text", "domain", "source"]):
        table = pa.Table.from_batches([batch])
        for domain in sorted(set(table["domain"].to_pylist())):
            sub = table.filter(pc.equal(table["domain"], domain))
            flat, lens, nbytes = encode_table(sub, tok, bos, eos, dtype)
            parts.setdefault(domain, []).append((flat, lens, nbytes, sub["id"], sub["source"]))
            counts["docs"] += sub.num_rows
            counts["tokens"] += len(flat)
    outputs = []
    for domain, chunks in sorted(parts.items()):
        flat, lens, nbytes, ids, sources = zip(*chunks, strict=True)
        outputs += write_shard(task.stage_dir, task.shard, domain, np.concatenate(flat),
                               np.concatenate(lens), pa.chunked_array(ids),
                               pa.chunked_array(sources), np.concatenate(nbytes))
    counts["engine_" + tok.engine] = 1
    return {"counts": counts, "outputs": outputs}


def plan_tokenize(cfg: TokenizeConfig, run_dir: str | Path) -> tuple[list[ShardTask], Tokenizer]:
    run_dir = Path(run_dir)
    stage = latest_document_stage(run_dir, cfg.input_stage)
    spec = resolve_tokenizer(cfg, run_dir)
    tok = load_tokenizer(spec, cfg.fast)
    _boundary_ids(tok, cfg)  # fail before any work on a bad boundary token
    key = config_hash(to_dict(cfg), tok.fingerprint)
    tasks = []
    for path in stage_files(run_dir / stage):
        shard = path.name[: -len(".parquet")]
        tasks.append(ShardTask(str(run_dir / STAGE), shard, (str(path),),
                               config_hash(key, input_key(run_dir / stage, shard)),
                               params=(cfg, spec)))
    return tasks, tok


def tokenize(cfg: TokenizeConfig, run_dir: str | Path, executor: Executor | None = None,
             on_result: OnResult | None = None) -> StageReport:
    """Tokenize the run's latest document stage into the token store; resumable."""
    tasks, tok = plan_tokenize(cfg, run_dir)
    with contextlib.suppress(FileNotFoundError):
        (Path(run_dir) / STAGE / "store.json").unlink()  # rewritten below from the shards
    info = tok.describe()
    if not cfg.tokenizer:  # the run's own tokenizer: a path inside the run, so runs compare
        info["source"] = f"{TOKENIZER_DIR}/tokenizer.json"
    report = run_stage(tasks, tokenize_shard, executor or get_executor(), on_result,
                       summary={"config": to_dict(cfg), "tokenizer": info})
    bos, eos = _boundary_ids(tok, cfg)
    finalize_store(Path(run_dir) / STAGE, tok.vocab_size, info,
                   {"boundaries": cfg.boundaries, "bos_id": bos[0] if bos else None,
                    "eos_id": eos[0] if eos else None})
    return report
