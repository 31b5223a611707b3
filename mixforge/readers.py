"""Readers: JSONL (plain, .gz, .zst), parquet, folders of text files and Hugging Face
datasets, streamed into record batches of the document table.

A bad record is either an `InputError` naming the file and line/row (the default), or,
with ``on_error="reject"``, a row in the rejects table with its reason and raw bytes:
records in = kept + rejected, always. Ids are stable: the input's own id field when asked
for, else a hash of the record's source (path relative to the input root, and line/row).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from .errors import ConfigError, InputError
from .schema import DOC_SCHEMA, REJECT_SCHEMA
from .web import WEB_SUFFIXES, warc_records

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".jsonl.zst",
                  ".json.zst", ".ndjson.gz", ".ndjson.zst")
TEXT_SUFFIXES = (".txt", ".md", ".rst")
HF_PREFIX = "hf:"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ReadOptions:
    """How records become documents (shared by every reader)."""

    text_field: str = "text"
    id_field: str | None = None
    domain: str | None = None
    domain_field: str | None = None
    domain_pattern: str | None = None
    on_error: Literal["raise", "reject"] = "raise"
    batch_rows: int = 4096
    batch_bytes: int = 16 << 20  # a batch also ends at this much text: memory is bounded by
    #                              bytes, not rows (4,096 source files could be 300 MB)
    html_extractor: Literal["resiliparse", "trafilatura"] = "resiliparse"  # WARC HTML -> text


@dataclass(frozen=True)
class Source:
    """One input unit: a file (with the root its relative path is taken from) or an HF dataset."""

    path: str
    root: str
    kind: Literal["jsonl", "parquet", "text", "warc", "hf", "hf_disk"]

    @property
    def rel(self) -> str:
        if self.kind == "hf":
            return self.path
        return Path(self.path).relative_to(self.root).as_posix()

    @property
    def size(self) -> int:
        p = Path(self.path)
        if p.is_file():
            return p.stat().st_size
        return sum(q.stat().st_size for q in p.rglob("*") if q.is_file()) if p.is_dir() else 0


def _kind_of(path: Path, in_folder: bool = False) -> str | None:
    name = path.name.lower()
    if in_folder and name.endswith(".json"):
        return None  # a folder's .json files are configs and manifests; name a file to read it
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(TEXT_SUFFIXES):
        return "text"
    if name.endswith(WEB_SUFFIXES):
        return "warc"
    return None


def discover(inputs: list[str]) -> list[Source]:
    """Expand input paths (files, folders, ``hf:NAME``) into sorted sources.

    Raises a ConfigError naming any input that does not exist or has no readable files.
    """
    sources: list[Source] = []
    for item in inputs:
        if item.startswith(HF_PREFIX):
            sources.append(Source(item, "", "hf"))
            continue
        p = Path(item)
        if p.is_dir() and (p / "dataset_info.json").exists() and (p / "state.json").exists():
            sources.append(Source(str(p), str(p.parent), "hf_disk"))
        elif p.is_dir():
            found = [Source(str(q), str(p), k) for q in sorted(p.rglob("*"))
                     if q.is_file() and not q.name.startswith(".") and (k := _kind_of(q, True))]
            if not found:
                msg = (f"input folder {item} holds no .jsonl[.gz|.zst], .parquet, .warc[.gz], "
                       ".wet[.gz] or text files; point at a folder of corpus files")
                raise ConfigError(msg)
            sources.extend(found)
        elif p.is_file():
            kind = _kind_of(p)
            if kind is None:
                msg = (f"input {item}: unknown file type; use .jsonl[.gz|.zst], .parquet, "
                       ".warc[.gz], .wet[.gz], .txt/.md, a saved dataset folder, or hf:NAME")
                raise ConfigError(msg)
            sources.append(Source(str(p), str(p.parent), kind))
        else:
            msg = f"input {item} does not exist"
            raise ConfigError(msg)
    return sources


def stable_id(source: str) -> str:
    """A 16-hex-digit id derived from a record's source location."""
    return hashlib.blake2b(source.encode(), digest_size=8).hexdigest()


def default_domain(src: Source, opts: ReadOptions) -> str:
    """The domain of every record of ``src`` unless a domain field says otherwise."""
    if opts.domain:
        return opts.domain
    rel = src.rel
    if opts.domain_pattern:
        m = re.search(opts.domain_pattern, rel)
        if not m:
            msg = f"--domain-pattern {opts.domain_pattern!r} does not match input {rel}"
            raise ConfigError(msg)
        return m.group(1) if m.groups() else m.group(0)
    if src.kind == "hf":
        return rel[len(HF_PREFIX):].split(":")[0].replace("/", "_")
    parts = Path(rel).parts
    if len(parts) > 1:
        return parts[0]
    name = Path(rel).name
    return name.split(".")[0]


# --------------------------------------------------------------------------- byte streams

class _Truncated(Exception):
    """A compressed stream ended inside a frame."""


def _zstd_chunks(f: BinaryIO) -> Iterator[bytes]:
    """Decompress a (possibly multi-frame) zstd stream; raise _Truncated if it ends early."""
    dctx = zstandard.ZstdDecompressor()
    obj, fed = dctx.decompressobj(), False
    while chunk := f.read(_CHUNK):
        while chunk:
            fed = True
            out = obj.decompress(chunk)
            if out:
                yield out
            if obj.eof:
                chunk, obj, fed = obj.unused_data, dctx.decompressobj(), False
            else:
                chunk = b""
    if fed:
        raise _Truncated


def _gzip_chunks(f: BinaryIO) -> Iterator[bytes]:
    try:
        with gzip.GzipFile(fileobj=f) as g:
            while chunk := g.read(_CHUNK):
                yield chunk
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise _Truncated from e


def _plain_chunks(f: BinaryIO) -> Iterator[bytes]:
    while chunk := f.read(_CHUNK):
        yield chunk


def _lines(path: str) -> Iterator[bytes]:
    """Yield the lines of a plain, .gz or .zst file (without newlines); may raise _Truncated."""
    name = path.lower()
    decode = _zstd_chunks if name.endswith(".zst") else (
        _gzip_chunks if name.endswith(".gz") else _plain_chunks)
    with open(path, "rb") as f:
        rest = b""
        for chunk in decode(f):
            buf = rest + chunk
            lines = buf.split(b"\n")
            rest = lines.pop()
            yield from lines
        if rest:
            yield rest


# --------------------------------------------------------------------------- record readers

Record = tuple[str, str, str | None, Any, Any]  # text, source, metadata json, id, domain
Reject = tuple[str, str, str, bytes]  # source, reason, detail, raw


class _Sink:
    """Collects rejects, or raises on the first one when the user did not ask to keep them."""

    def __init__(self, src: Source, opts: ReadOptions) -> None:
        self.src, self.opts, self.rows = src, opts, []

    def __call__(self, where: int | None, reason: str, detail: str, raw: bytes) -> None:
        if self.opts.on_error == "raise":
            raise InputError(self.src.path, where, reason, detail)
        self.set_aside(where, reason, detail, raw)

    def set_aside(self, where: int | None, reason: str, detail: str, raw: bytes = b"") -> None:
        """Count a record as rejected whatever ``on_error`` says (a web archive's images,
        redirects and empty pages are expected, not errors)."""
        loc = f"{self.src.rel}:{where}" if where is not None else self.src.rel
        self.rows.append((loc, reason, detail, raw))


def _split_record(obj: dict, opts: ReadOptions) -> tuple[Any, str | None, Any, Any]:
    text = obj.pop(opts.text_field, None)
    rid = obj.get(opts.id_field) if opts.id_field else None
    dom = obj.get(opts.domain_field) if opts.domain_field else None
    meta = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS, default=str).decode() if obj else None
    return text, meta, rid, dom


def _jsonl_records(src: Source, opts: ReadOptions, reject: Callable) -> Iterator[Record]:
    lineno, seen_bytes = 0, False
    lines = _lines(src.path)
    while True:
        try:
            line = next(lines)
        except StopIteration:
            break
        except _Truncated:
            reject(lineno + 1, "truncated_file",
                   "the compressed stream ends early (an interrupted download or copy?)", b"")
            return
        lineno += 1
        if line.strip():
            seen_bytes = True
        else:
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as e:
            reject(lineno, "invalid_utf8", f"byte {e.start} of the line", line)
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            reject(lineno, "malformed_json", str(e), line)
            continue
        if not isinstance(obj, dict):
            reject(lineno, "not_an_object", f"got a JSON {type(obj).__name__}", line)
            continue
        text, meta, rid, dom = _split_record(obj, opts)
        if text is None:
            reject(lineno, "missing_text", f"no {opts.text_field!r} field", line)
            continue
        if not isinstance(text, str):
            reject(lineno, "text_not_string", f"{opts.text_field!r} is a "
                   f"{type(text).__name__}", line)
            continue
        yield text, f"{src.rel}:{lineno}", meta, rid, dom
    if not seen_bytes:
        reject(None, "empty_file", "no records in the file", b"")


def _text_records(src: Source, opts: ReadOptions, reject: Callable) -> Iterator[Record]:
    raw = Path(src.path).read_bytes()
    if not raw.strip():
        reject(None, "empty_file", "the text file is empty", raw)
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        reject(line, "invalid_utf8", f"byte offset {e.start}", raw)
        return
    yield text, src.rel, None, None, None


def _table_records(batches: Iterator[dict[str, list]], src: Source, opts: ReadOptions,
                   reject: Callable, label: str) -> Iterator[Record]:
    row = 0
    for cols in batches:
        if opts.text_field not in cols:
            msg = (f"{src.path}: no column {opts.text_field!r} (columns: {sorted(cols)}); "
                   "pass --text-field")
            raise ConfigError(msg)
        n = len(cols[opts.text_field])
        for i in range(n):
            row += 1
            obj = {k: v[i] for k, v in cols.items()}
            text, meta, rid, dom = _split_record(obj, opts)
            if not isinstance(text, str):
                reason = "missing_text" if text is None else "text_not_string"
                reject(row, reason, f"{opts.text_field!r} is {type(text).__name__}",
                       orjson.dumps(obj, default=str))
                continue
            yield text, f"{label}#row={row}", meta, rid, dom


def _parquet_records(src: Source, opts: ReadOptions, reject: Callable) -> Iterator[Record]:
    try:
        pf = pq.ParquetFile(src.path)
    except (pa.ArrowInvalid, OSError) as e:
        reason = "empty_file" if Path(src.path).stat().st_size == 0 else "unreadable_parquet"
        reject(None, reason, f"{e} (truncated or not parquet?)", b"")
        return
    try:
        batches = (b.to_pydict() for b in pf.iter_batches(batch_size=opts.batch_rows))
        yield from _table_records(batches, src, opts, reject, src.rel)
    except (pa.ArrowInvalid, OSError) as e:
        reject(None, "unreadable_parquet", f"{e} (truncated?)", b"")


def _hf_records(src: Source, opts: ReadOptions, reject: Callable) -> Iterator[Record]:
    import datasets  # heavy; only when an HF source is read

    if src.kind == "hf_disk":
        ds = datasets.load_from_disk(src.path)
        label = src.rel
    else:
        spec = src.path[len(HF_PREFIX):]
        name, _, split = spec.partition(":")
        name, _, config = name.partition("@")
        ds = datasets.load_dataset(name, config or None, split=split or "train", streaming=True)
        label = src.path
    if isinstance(ds, datasets.DatasetDict | datasets.IterableDatasetDict):
        msg = f"{src.path}: holds splits {list(ds)}; name one as hf:NAME:SPLIT"
        raise ConfigError(msg)
    yield from _table_records(ds.iter(batch_size=opts.batch_rows), src, opts, reject, label)


_READERS = {"jsonl": _jsonl_records, "text": _text_records, "parquet": _parquet_records,
            "warc": warc_records, "hf": _hf_records, "hf_disk": _hf_records}


@dataclass
class ReadResult:
    """Counts of one source read: every record is kept or rejected."""

    kept: int = 0
    rejects: list[Reject] = field(default_factory=list)


def read_batches(src: Source, opts: ReadOptions, result: ReadResult) -> Iterator[pa.RecordBatch]:
    """Stream ``src`` as document-table record batches of at most ``opts.batch_rows`` rows.

    Rejected records (with ``on_error="reject"``) are appended to ``result.rejects``.
    """
    sink = _Sink(src, opts)
    domain = default_domain(src, opts)
    cols: dict[str, list] = {n: [] for n in DOC_SCHEMA.names}
    nbytes = 0

    def flush() -> pa.RecordBatch:
        batch = pa.RecordBatch.from_pydict(cols, schema=DOC_SCHEMA)
        for v in cols.values():
            v.clear()
        return batch

    try:
        for text, source, meta, rid, dom in _READERS[src.kind](src, opts, sink):
            cols["id"].append(str(rid) if rid is not None else stable_id(source))
            cols["text"].append(text)
            cols["domain"].append(str(dom) if dom is not None else domain)
            cols["source"].append(source)
            cols["metadata"].append(meta)
            result.kept += 1
            nbytes += len(text)
            if len(cols["id"]) >= opts.batch_rows or nbytes >= opts.batch_bytes:
                yield flush()
                nbytes = 0
        if cols["id"]:
            yield flush()
    finally:
        result.rejects.extend(sink.rows)


def rejects_table(rows: list[Reject]) -> pa.Table:
    src, reason, detail, raw = zip(*rows, strict=True) if rows else ([], [], [], [])
    return pa.table({"source": list(src), "reason": list(reason), "detail": list(detail),
                     "raw": list(raw)}, schema=REJECT_SCHEMA)


def read_table(path: str, opts: ReadOptions | None = None) -> pa.Table:
    """Read one source whole (small inputs, tests, notebooks)."""
    opts = opts or ReadOptions()
    result = ReadResult()
    batches = [b for s in discover([path]) for b in read_batches(s, opts, result)]
    return pa.Table.from_batches(batches, schema=DOC_SCHEMA)


__all__ = ["ReadOptions", "ReadResult", "Source", "discover", "read_batches", "read_table",
           "rejects_table", "stable_id"]
