"""Export a mix from the token store into a training format, read back by its real reader.

Formats (one module each): ``nanogpt`` (train.bin/val.bin uint16), ``llmc`` (llm.c /
modded-nanogpt shards), ``megatron`` (MMIDIDX .bin/.idx), ``hf-parquet`` and ``hf-disk``
(Hugging Face datasets), ``mds`` (MosaicML streaming), ``datatrove`` (.ds + .ds.index),
``nanochat`` (text parquet shards: the documents' text, in the plan's order), ``olmo``
(OLMo-core / dolma ``.npy`` token arrays with ``.csv.gz`` document metadata), ``litdata``
(Lightning's chunked token shards + ``index.json``, read with ``TokensLoader``).

The whole export is written into a temp folder beside ``out`` and renamed into place at
the end, so a crash leaves either the previous export or none, never half of one. Besides
the format's files, ``out/mixforge-export.json`` records the mix, the plan, the config, the
tokenizer and per split the documents, tokens and files; ``out/.mixforge/<split>-docs.parquet``
lists every written document in order (domain, index in the domain, store id), so any
row of the export traces back to its source. (A dot-folder, so globbing readers such as
``datasets.load_dataset(<folder>)`` do not take it for data.) Same store, mix, config and
seed give a byte-identical folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import storage
from ..config import config_hash, to_dict
from ..errors import ConfigError
from ..layout import LOCK, MARKERS
from ..mixers.export_config import ExportConfig
from ..mixers.materialize import Materialized, materialize, pack
from ..mixers.mix import Mix
from ..rundir import write_json
from ..stats import stage_files
from ..tokenize.store import TokenStore
from . import datatrove, hf, litdata, llmc, mds, megatron, nanochat, nanogpt, olmo
from .base import ExportContext, SplitResult

log = logging.getLogger(__name__)
FORMATS: dict[str, Any] = {
    "nanogpt": nanogpt, "llmc": llmc, "megatron": megatron, "hf-parquet": hf.PARQUET,
    "hf-disk": hf.DISK, "mds": mds, "datatrove": datatrove, "nanochat": nanochat,
    "olmo": olmo, "litdata": litdata,
}
MANIFEST = "mixforge-export.json"
__all__ = ["FORMATS", "MANIFEST", "ExportConfig", "ExportReport", "atomic_dir", "check_out",
           "export"]


@dataclass
class ExportReport:
    """What an export wrote."""

    out: Path
    format: str
    splits: dict[str, SplitResult]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def bytes_written(self) -> int:
        return sum((self.out / f).stat().st_size for r in self.splits.values() for f in r.files)


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_out(out: Path, overwrite: bool, protected: tuple[Path, ...] = ()) -> Path:
    """Refuse an export folder that would delete what a user owns; return it, absolute.

    ``--overwrite`` replaces only a folder that holds ``mixforge-export.json`` (one
    mixforge wrote as an export). Never allowed, with or without it: a folder that holds
    or is one of ``protected`` (the token store, the run directory), or a folder inside
    the token store. Raises a ConfigError naming the folder and what to do instead.
    """
    out = Path(os.path.abspath(out))  # "." and "x/.." have no name to build temp names on
    real = out.resolve()
    for p in protected:
        p = Path(p).resolve()
        if _within(p, real):
            msg = (f"--out {out} holds {p} (mixforge's own data), which an export would "
                   "replace; choose a new folder, e.g. --out exports/NAME")
            raise ConfigError(msg)
    store = protected[0].resolve() if protected else None
    if store is not None and _within(real, store):
        msg = f"--out {out} is inside the token store {store}; choose a folder outside it"
        raise ConfigError(msg)
    if out.exists() or out.is_symlink():
        if not overwrite:
            msg = f"{out} exists; pass --overwrite to replace it, or choose another --out"
            raise ConfigError(msg)
        if not real.is_dir() or not (real / MANIFEST).is_file():
            msg = (f"--out {out} exists and is not a mixforge export (no {MANIFEST} in it); "
                   "--overwrite only replaces an earlier export. Choose a new folder, or "
                   "move it away yourself")
            raise ConfigError(msg)
    return out


@contextlib.contextmanager
def atomic_dir(out: Path, overwrite: bool, protected: tuple[Path, ...] = ()) -> Iterator[Path]:
    """Yield a temp folder beside ``out``; it replaces ``out`` only if the block succeeds.

    In a store's mirror (`mixforge.storage`) the finished folder is then uploaded file by
    file, the manifest last: on the store, a manifest means a complete export.

    ``out`` is checked first by `check_out` (``protected``: the token store first, then
    the run directory): only an earlier export is ever replaced.
    """
    out = check_out(out, overwrite, protected)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
        storage.push_tree(out, last=MANIFEST)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _docs_table(m: Materialized, split: str) -> pa.Table:
    """The written documents in order: domain, index in the domain, store id, tokens."""
    sel = m.splits[split]
    names = pa.array(m.domains, pa.string())
    cols = [m.domain_tokens(d).docs["id"] for d in m.domains]
    first = np.cumsum([0] + [len(c) for c in cols[:-1]]).astype(np.int64)
    all_ids = pa.chunked_array([c for col in cols for c in col.chunks], pa.string())
    ids = pc.take(all_ids, pa.array(first[sel.domain] + sel.doc))
    return pa.table({
        "domain": pa.DictionaryArray.from_arrays(pa.array(sel.domain, pa.int32()), names),
        "doc": pa.array(sel.doc, pa.int64()), "id": ids,
        "n_tokens": pa.array(m.doc_lens(split), pa.int64())})


def export(store: TokenStore | str | Path, mix: Mix, cfg: ExportConfig,
           on_chunk: Callable[[int], None] | None = None) -> ExportReport:
    """Materialize ``mix`` from ``store`` and write it in ``cfg.format`` to ``cfg.out``.

    ``on_chunk(tokens)`` is called after each chunk is written (the CLI's progress bar).
    """
    cfg.validate()
    store = store if isinstance(store, TokenStore) else TokenStore(storage.local(store))
    fmt = FORMATS[cfg.format]
    m = materialize(store, mix, val_fraction=cfg.val_fraction, over_cap=cfg.over_cap,
                    append_eos=cfg.append_eos, eos_id=cfg.eos_id)
    cfg_dict = to_dict(cfg) | {"out": None}  # where it is written does not change the bytes
    ctx = ExportContext(store.vocab_size, m.eos_id, m.eos_terminated, cfg.seq_len, cfg.shard_tokens,
                        cfg.prefix, config_hash(mix.to_dict(), cfg_dict, store.meta),
                        store.meta.get("tokenizer", {}), domains=list(m.domains),
                        framing=store.meta.get("framing"))
    fmt.check(ctx)
    splits = [s for s in ("train", "val")
              if len(m.splits[s]) or s == "train" or getattr(fmt, "TEXT", False)]
    warnings = list(m.plan.warnings)
    if "val" not in splits:
        warnings.append(
            f"no validation split written (val_fraction {cfg.val_fraction:g}"
            + (": it is 0)" if not cfg.val_fraction else
               " gave no whole document)") + "; a loader that expects one (nanoGPT's "
            "train.py reads val.bin) needs --val-fraction raised")
    for w in warnings[len(m.plan.warnings):]:
        log.warning("export: %s", w)
    results: dict[str, SplitResult] = {}
    protected = (store.path, *_run_dir_of(store.path))
    out = storage.local(cfg.out)  # a store URL: checked before any work, mirrored
    check_out(out, cfg.overwrite, protected)  # before any work
    with atomic_dir(out, cfg.overwrite, protected) as tmp:
        for split in splits:
            if getattr(fmt, "TEXT", False):
                docs = _docs_table(m, split)
                results[split] = fmt.write_split(tmp, split, ctx, document_texts(store, docs["id"]),
                                                 docs["n_tokens"].to_numpy())
                pq.write_table(docs, _mkparent(tmp / ".mixforge" / f"{split}-docs.parquet"),
                               compression="zstd")
                continue
            writer = fmt.open_split(tmp, split, ctx)
            counts: dict[str, int] = {}
            chunks = m.chunks(split, writer.dtype, cfg.chunk_tokens, reuse=True)
            if cfg.seq_len:
                chunks = pack(chunks, cfg.seq_len, counts)
            try:
                for chunk in chunks:
                    writer.write(chunk)
                    if on_chunk:
                        on_chunk(len(chunk.tokens))
                results[split] = writer.close()
            except BaseException:
                writer.abort()
                raise
            results[split].extra.update(counts)
            pq.write_table(_docs_table(m, split), _mkparent(tmp / ".mixforge" /
                                                            f"{split}-docs.parquet"),
                           compression="zstd")
        finish = getattr(fmt, "finish", None)
        if finish:
            finish(tmp, ctx, results)
        manifest = {
            "format": cfg.format, "config": cfg_dict,
            "store": {"path": str(store.path), "dtype": store.meta["dtype"],
                      "vocab_size": store.vocab_size, "tokenizer": store.meta.get("tokenizer")},
            "eos_id": m.eos_id, "eos_appended": m.append_eos, "fingerprint": ctx.fingerprint,
            "plan": m.plan.to_dict(), "warnings": warnings,
            "splits": {s: {"docs": r.docs, "tokens": r.tokens, "files": r.files,
                           "per_domain": m.taken(s), **r.extra} for s, r in results.items()},
        }
        write_json(tmp / MANIFEST, manifest)
    report = ExportReport(out, cfg.format, results, manifest)
    log.info("export %s -> %s: %s", cfg.format, cfg.out,
             {s: f"{r.docs:,} docs, {r.tokens:,} tokens" for s, r in results.items()})
    return report


def document_texts(store: TokenStore, ids: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The text of each document id, in the order given (repeats included).

    Read from the document stage the store was tokenized from (``store.json``'s
    ``input_stage``, beside the store in its run directory). Raises `ConfigError` when the
    store names no such stage, when it is gone, or when an id is missing or not unique there.
    Memory: the selected texts, plus the ids read.
    """
    import polars as pl

    stage = store.meta.get("input_stage")
    stage_dir = Path(store.path).parent / str(stage)
    if not stage or not stage_dir.is_dir():
        msg = (f"{store.path}: a text export needs the documents the store was tokenized "
               f"from, but its document stage ({stage!r}) is not beside it in the run "
               "directory; export from the run that made this store")
        raise ConfigError(msg)
    order = pl.DataFrame({"id": pl.Series("id", ids, dtype=pl.String)}).with_row_index("pos")
    wanted = order["id"].unique()
    found = pl.concat([pl.scan_parquet(f).select("id", "text")
                       .filter(pl.col("id").is_in(wanted.implode()))
                       for f in stage_files(stage_dir)]).collect()
    if found["id"].is_duplicated().any():
        dup = found.filter(pl.col("id").is_duplicated())["id"][0]
        msg = f"{stage_dir}: document id {dup!r} occurs more than once; ids must be unique"
        raise ConfigError(msg)
    joined = order.join(found, on="id", how="left").sort("pos")
    if joined["text"].null_count():
        gone = joined.filter(pl.col("text").is_null())["id"][0]
        msg = (f"{stage_dir}: the store's document {gone!r} is not in its document stage "
               "(was the stage re-run after tokenizing?); re-run tokenize")
        raise ConfigError(msg)
    return joined["text"].to_arrow()


def _run_dir_of(store: Path) -> tuple[Path, ...]:
    """The run directory holding ``store`` (``RUN/tokenize``), if it is one: a folder with
    stage folders (``*/_markers``) or a run lock beside the store."""
    parent = Path(store).resolve().parent
    if (parent / LOCK).exists() or any(parent.glob(f"*/{MARKERS}")):
        return (parent,)
    return ()


def _mkparent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
