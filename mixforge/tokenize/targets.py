"""Target sets from data: an evaluation set the user cares about, tokenized with the run's
tokenizer into an evaluation-only token store.

``--target NAME=PATH`` (probe sweep, mix evaluate, a pipeline's ``targets:`` section)
names any input the readers accept (JSONL, parquet, text folders, ``hf:`` datasets).
`build_target_store` reads it, encodes every document with the tokenizer that made the
run's token store (checked by fingerprint), frames documents as that store does (its
BOS/EOS), and writes one store of one domain, ``NAME``, to ``<run>/targets/NAME/``, with
``"evaluation_only": true`` in its ``store.json`` and the same ``token_bytes.npy``.

Nothing that trains reads it: training windows come only from the run's token store
(``<run>/tokenize``), whose domains a target may not be named after. Probes score it
every evaluation, beside the domains (`train_probe.data.target_windows`).

Records the readers reject (no text field, bad JSON) are counted and kept with their
reason in ``rejects.parquet``; documents in = kept + rejected. The store is rebuilt only
when the source (its files' sizes and modification times) or the tokenizer changes;
it is written to a temporary folder and renamed into place.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..config import config_hash
from ..errors import ConfigError
from ..readers import ReadOptions, ReadResult, discover, read_batches, rejects_table
from .loading import load_tokenizer
from .stage import frame
from .store import STORE_JSON, TokenStore, finalize_store, write_shard
from .token_bytes import token_byte_lengths

log = logging.getLogger(__name__)
TARGETS_DIR = "targets"


def is_data_spec(body: str) -> bool:
    """Whether a target body names data (a path or ``hf:`` dataset), not domains.

    Domain names are folder names of the token store, so they hold no ``/``; a body with
    a ``/``, an ``hf:`` prefix or a file suffix the readers know is data. Whether a path
    exists is not asked (the answer would depend on the working directory): a folder
    in the working directory is written ``./NAME``.
    """
    return (body.startswith("hf:") or "/" in body or "\\" in body
            or body.endswith((".jsonl", ".json", ".parquet", ".txt", ".md", ".gz", ".zst")))


def source_key(source: str, store: TokenStore) -> str:
    """A hash of a target's source files (paths, sizes, modification times) and of the
    store's tokenizer and framing: a target store (and a probe's score on it) is redone
    when it changes. Raises ConfigError when the source does not exist."""
    parts = []
    for src in discover([source]):
        p = Path(src.path)
        stat = p.stat() if p.exists() else None
        parts.append((src.path, src.kind, stat and stat.st_size, stat and stat.st_mtime_ns))
    return config_hash(source, parts, store.meta.get("tokenizer"), store.meta.get("bos_id"),
                       store.meta.get("eos_id"), store.vocab_size)


def _encoder(store: TokenStore):
    from .fast import build_encoder

    info = store.meta.get("tokenizer") or {}
    spec = info.get("path") or info.get("spec")
    if not spec:
        msg = (f"the token store {store.path} does not name its tokenizer file (store.json "
               "'tokenizer'), so a target cannot be tokenized like it; tokenize again")
        raise ConfigError(msg)
    tok = load_tokenizer(spec)
    if info.get("fingerprint") and tok.fingerprint != info["fingerprint"]:
        msg = (f"the tokenizer at {spec} has changed since the token store {store.path} was "
               f"made (fingerprint {tok.fingerprint[:12]} vs {info['fingerprint'][:12]}); "
               "tokenize the run again or restore that tokenizer")
        raise ConfigError(msg)
    return tok, build_encoder(tok, "tokenizers")


def build_target_store(name: str, source: str, store: TokenStore, out: str | Path,
                       opts: ReadOptions | None = None) -> TokenStore:
    """Tokenize ``source`` into an evaluation-only store at ``out``; return it.

    ``store`` is the run's token store (its tokenizer, framing and token bytes are used).
    Raises ConfigError when the source is missing or holds no document, or the name is a
    domain of ``store``.

    Examples
    --------
    >>> ts = build_target_store("wiki", "eval/wiki.jsonl", TokenStore("r/tokenize"),
    ...                         "r/targets/wiki")  # doctest: +SKIP
    >>> ts.info("wiki")["docs"]  # doctest: +SKIP
    """
    if name in store.domains or name == "avg":
        msg = f"target {name!r} has the name of a domain of {store.path} or of 'avg'; rename it"
        raise ConfigError(msg)
    out = Path(out)
    key = source_key(source, store)
    if (out / STORE_JSON).exists():
        old = TokenStore(out)
        if old.meta.get("source_key") == key:
            return old
    tok, enc = _encoder(store)
    bos, eos = store.meta.get("bos_id"), store.meta.get("eos_id")
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    opts = opts or ReadOptions(domain=name, on_error="reject")
    opts = replace(opts, domain=name, domain_field=None)
    result = ReadResult()
    n_shard = 0
    for src in discover([source]):
        for batch in read_batches(src, opts, result):
            table = pa.Table.from_batches([batch])
            texts = table["text"].to_pylist()
            tokens, lens = enc.encode(texts)
            tokens, lens = frame(tokens, lens, bos, eos)
            write_shard(tmp, f"shard-{n_shard:05d}", name,
                        tokens.astype(store.dtype, copy=False), lens, table["id"],
                        table["source"], np.array([len(t.encode()) for t in texts]))
            n_shard += 1
    if result.rejects:
        pq.write_table(rejects_table(result.rejects), tmp / "rejects.parquet")
        log.warning("target %r: %d record(s) of %s rejected (reasons in %s)", name,
                    len(result.rejects), source, out / "rejects.parquet")
    if result.kept == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        msg = f"target {name!r}: {source} holds no document to evaluate on"
        raise ConfigError(msg)
    table = store.token_bytes
    token_bytes = ((table, store.token_bytes_method) if table is not None
                   else token_byte_lengths(tok, store.vocab_size))
    finalize_store(tmp, store.vocab_size, store.meta.get("tokenizer") or {}, {
        "evaluation_only": True, "source": source, "source_key": key,
        "docs_in": result.kept + len(result.rejects), "rejected": len(result.rejects),
        "framing": store.meta.get("framing"), "bos_id": bos, "eos_id": eos,
        "made_for": str(store.path)}, token_bytes=token_bytes)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    log.info("target %r: %d documents of %s tokenized into %s", name, result.kept, source,
             out)
    return TokenStore(out)


def build_targets(specs: dict[str, str], store: TokenStore, run_dir: str | Path
                  ) -> dict[str, TokenStore]:
    """`build_target_store` for each ``name -> source`` into ``<run_dir>/targets/<name>``."""
    return {name: build_target_store(name, src, store, Path(run_dir) / TARGETS_DIR / name)
            for name, src in sorted(specs.items())}
