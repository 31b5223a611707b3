"""The token store: per domain, flat token arrays with a document index and metadata.

Layout of a store folder (``<run>/tokenize`` by default)::

    store.json                      dtype, vocab size, tokenizer fingerprint, BOS/EOS,
                                    per-domain docs/tokens/bytes/bytes-per-token
    token_bytes.npy                 UTF-8 bytes each token id stands for (int32, 0 for
                                    specials; see token_bytes.py), for exact bits per byte
    <domain>/<shard>.bin            the shard's documents' tokens, back to back (raw dtype)
    <domain>/<shard>.docs.parquet   one row a document: id, source, n_tokens, n_bytes, offset

Tokens are uint16 when the vocabulary fits (<= 65,536 ids), else uint32. Everything is
memory-mapped; a document is one slice, so probes and exports read by document without
re-tokenizing and without loading a domain into memory.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import ConfigError
from ..layout import STORE_JSON
from ..rundir import atomic_path, write_json

DOCS_SCHEMA = pa.schema([("id", pa.string()), ("source", pa.string()),
                         ("n_tokens", pa.int64()), ("n_bytes", pa.int64()),
                         ("offset", pa.int64())])


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits in 16 bits, else uint32."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


def write_shard(store_dir: str | Path, shard: str, domain: str, tokens: np.ndarray,
                doc_lens: np.ndarray, ids: list[str] | pa.Array, sources: list[str] | pa.Array,
                n_bytes: np.ndarray) -> list[Path]:
    """Write one shard of one domain atomically; return the two paths written.

    ``tokens`` holds the documents' tokens back to back, ``doc_lens[i]`` tokens each.
    (`ShardWriter` writes a shard batch by batch.)
    """
    with ShardWriter(store_dir, shard) as out:
        out.append(domain, tokens, doc_lens, ids, sources, n_bytes)
    return out.outputs


@dataclass
class _Pending:
    """One domain of a shard being written: its open temporary ``.bin`` and its rows."""

    bin_path: Path
    file: BinaryIO
    lens: list[np.ndarray] = field(default_factory=list)
    ids: list = field(default_factory=list)
    sources: list = field(default_factory=list)
    n_bytes: list[np.ndarray] = field(default_factory=list)


def _chunks(parts: list) -> pa.ChunkedArray:
    return pa.chunked_array([c for p in parts for c in
                             (p.chunks if isinstance(p, pa.ChunkedArray) else [pa.array(p)])])


class ShardWriter:
    """One shard of a store, written batch by batch, atomically.

    `append` adds documents of a domain: their tokens go straight to the domain's
    temporary ``.bin`` (memory: one batch, not the shard), their rows (id, source,
    counts: small) are kept until the end. Leaving the ``with`` block writes each
    domain's ``.docs.parquet`` and renames every file into place; an error leaves none of
    them. ``outputs``: the paths written, per domain ``.bin`` then ``.docs.parquet``.
    """

    def __init__(self, store_dir: str | Path, shard: str) -> None:
        self.store_dir, self.shard = Path(store_dir), shard
        self.outputs: list[Path] = []
        self._stack = contextlib.ExitStack()
        self._domains: dict[str, _Pending] = {}

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self._stack.__exit__(*exc)  # temporary files removed, nothing renamed
            return
        self._close()

    def append(self, domain: str, tokens: np.ndarray, doc_lens: np.ndarray,
               ids: list[str] | pa.Array | pa.ChunkedArray,
               sources: list[str] | pa.Array | pa.ChunkedArray, n_bytes: np.ndarray) -> None:
        """Add documents of ``domain``: ``tokens`` back to back (the store's dtype),
        ``doc_lens[i]`` tokens each, and their ids, sources and UTF-8 byte counts."""
        doc_lens = np.asarray(doc_lens, dtype=np.int64)
        if int(doc_lens.sum()) != len(tokens):
            msg = (f"shard {self.shard}/{domain}: doc lengths sum to {doc_lens.sum()}, "
                   f"tokens {len(tokens)}")
            raise ValueError(msg)
        d = self._domains.get(domain)
        if d is None:
            bin_path = self.store_dir / domain / f"{self.shard}.bin"
            tmp = self._stack.enter_context(atomic_path(bin_path))
            d = self._domains[domain] = _Pending(bin_path,
                                                 self._stack.enter_context(open(tmp, "wb")))
        np.ascontiguousarray(tokens).tofile(d.file)
        d.lens.append(doc_lens)
        d.ids.append(ids)
        d.sources.append(sources)
        d.n_bytes.append(np.asarray(n_bytes, dtype=np.int64))

    def _close(self) -> None:
        with self._stack:
            for name in sorted(self._domains):
                d = self._domains[name]
                lens = np.concatenate(d.lens)
                offsets = np.zeros(len(lens), dtype=np.int64)
                np.cumsum(lens[:-1], out=offsets[1:])
                table = pa.table({"id": _chunks(d.ids), "source": _chunks(d.sources),
                                  "n_tokens": lens, "n_bytes": np.concatenate(d.n_bytes),
                                  "offset": offsets}, schema=DOCS_SCHEMA)
                docs_path = d.bin_path.with_name(f"{self.shard}.docs.parquet")
                with atomic_path(docs_path) as tmp:
                    pq.write_table(table, tmp, compression="zstd")
                self.outputs += [d.bin_path, docs_path]
        # leaving the stack closed every .bin and renamed it into place


def finalize_store(store_dir: str | Path, vocab_size: int, tokenizer: dict,
                   extra: dict | None = None,
                   token_bytes: tuple[np.ndarray, str] | None = None) -> dict:
    """Write ``store.json`` from the shards on disk (counts per domain); return it.

    ``token_bytes`` (lengths, method) from `token_bytes.token_byte_lengths` is written to
    ``token_bytes.npy`` and named in ``store.json`` (exact bits per byte needs it).
    """
    store_dir = Path(store_dir)
    if token_bytes is not None:
        from .token_bytes import TOKEN_BYTES, write_token_bytes

        write_token_bytes(store_dir, token_bytes[0])
        extra = {**(extra or {}), "token_bytes": {"file": TOKEN_BYTES,
                                                  "method": token_bytes[1]}}
    domains = {}
    for folder in sorted(p for p in store_dir.iterdir() if p.is_dir() and not
                         p.name.startswith("_")):
        files = sorted(folder.glob("*.docs.parquet"))
        if not files:
            continue
        shards = [f.name[: -len(".docs.parquet")] for f in files]
        docs = sum(pq.read_metadata(f).num_rows for f in files)
        cols = [pq.read_table(f, columns=["n_tokens", "n_bytes"]) for f in files]
        tokens = int(sum(pc.sum(c["n_tokens"]).as_py() or 0 for c in cols))
        nbytes = int(sum(pc.sum(c["n_bytes"]).as_py() or 0 for c in cols))
        domains[folder.name] = {"docs": docs, "tokens": tokens, "bytes": nbytes,
                                "bytes_per_token": round(nbytes / tokens, 6) if tokens else 0.0,
                                "shards": shards}
    meta = {"format": "mixforge-token-store/1", "dtype": token_dtype(vocab_size).name,
            "vocab_size": vocab_size, "tokenizer": tokenizer, "domains": domains,
            **(extra or {})}
    write_json(store_dir / STORE_JSON, meta)
    return meta


@dataclass
class DomainTokens:
    """One domain of a token store: random access to documents by index."""

    name: str
    folder: Path
    shards: list[str]
    dtype: np.dtype

    @cached_property
    def docs(self) -> pa.Table:
        """Per-document metadata (id, source, n_tokens, n_bytes, offset) in store order."""
        return pa.concat_tables([pq.read_table(self.folder / f"{s}.docs.parquet")
                                 for s in self.shards])

    @cached_property
    def _arrays(self) -> list[np.ndarray]:
        out = []
        for s in self.shards:
            path = self.folder / f"{s}.bin"
            out.append(np.memmap(path, dtype=self.dtype, mode="r") if path.stat().st_size
                       else np.zeros(0, self.dtype))
        return out

    @cached_property
    def doc_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(shard number int32, start int64, length int64) per document, in store order:
        document ``i`` is ``shard_arrays()[shard[i]][start[i]:start[i] + length[i]]``."""
        # two columns only (a plan needs the lengths, not the ids and sources)
        d = self.__dict__.get("docs") or pa.concat_tables(
            [pq.read_table(self.folder / f"{s}.docs.parquet", columns=["offset", "n_tokens"])
             for s in self.shards])
        sizes = [pq.read_metadata(self.folder / f"{s}.docs.parquet").num_rows
                 for s in self.shards]
        shard_of = np.repeat(np.arange(len(self.shards), dtype=np.int32), sizes)
        return (shard_of, d["offset"].to_numpy().astype(np.int64),
                d["n_tokens"].to_numpy().astype(np.int64))

    @property
    def n_docs(self) -> int:
        return len(self.doc_index[0])

    @property
    def doc_lens(self) -> np.ndarray:
        return self.doc_index[2]

    @property
    def n_tokens(self) -> int:
        return int(self.doc_index[2].sum())

    def doc(self, i: int) -> np.ndarray:
        """The tokens of document ``i`` (a read-only view into the memory map)."""
        shard, start, length = (a[i] for a in self.doc_index)
        return self._arrays[shard][start:start + length]

    def shard_arrays(self) -> list[np.ndarray]:
        """The memory-mapped token arrays, one per shard, in store order."""
        return self._arrays


class TokenStore:
    """Read a token store folder.

    Examples
    --------
    >>> store = TokenStore("runs/r1/tokenize")  # doctest: +SKIP
    >>> store.domain("licenses").doc(0)[:5]  # doctest: +SKIP
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        meta_path = self.path / STORE_JSON
        if not meta_path.exists():
            msg = f"{self.path} is not a token store (no {STORE_JSON}); run `mixforge tokenize`"
            raise ConfigError(msg)
        self.meta = json.loads(meta_path.read_text())
        self.dtype = np.dtype(self.meta["dtype"])
        self.vocab_size: int = self.meta["vocab_size"]

    @property
    def domains(self) -> list[str]:
        return sorted(self.meta["domains"])

    @cached_property
    def token_bytes(self) -> np.ndarray | None:
        """UTF-8 bytes per token id (int32, ``(vocab_size,)``), or None for a store made
        before ``token_bytes.npy`` existed (bits per byte then falls back to the
        domain's average bytes per token, and says it is approximate)."""
        spec = self.meta.get("token_bytes")
        if not spec or not (self.path / spec["file"]).exists():
            return None
        out = np.load(self.path / spec["file"])
        if len(out) < self.vocab_size:
            msg = (f"{self.path / spec['file']} has {len(out)} entries, fewer than the "
                   f"store's vocab_size {self.vocab_size}; tokenize the store again")
            raise ConfigError(msg)
        return out

    @property
    def token_bytes_method(self) -> str:
        """How ``token_bytes`` counts (token_bytes.py), or ``store-average`` without it."""
        spec = self.meta.get("token_bytes")
        return spec["method"] if spec and self.token_bytes is not None else "store-average"

    def info(self, name: str) -> dict:
        return self.meta["domains"][name]

    def domain(self, name: str) -> DomainTokens:
        if name not in self.meta["domains"]:
            msg = f"domain {name!r} is not in the token store {self.path}; it has {self.domains}"
            raise ConfigError(msg)
        return DomainTokens(name, self.path / name, self.meta["domains"][name]["shards"],
                            self.dtype)
