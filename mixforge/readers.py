"""Readers: JSONL (plain, .gz, .zst), parquet, folders of text files and Hugging Face
datasets, streamed into record batches of the document table.

A bad record is either an `InputError` naming the file and line/row (the default), or,
with ``on_error="reject"``, a row in the rejects table with its reason and raw bytes:
records in = kept + rejected, always.

Ids are unique within a run by construction: ``id`` is a hash of the record's source, the
file's path as the input was given (``x/data.jsonl`` and ``y/data.jsonl`` differ) plus
its line or row, so the same command gives the same ids on every rerun. A user's own id
(``id_field``) is kept in the ``user_id`` column, never used as ``id`` (see docs/ingest.md).

Damaged files (docs/ingest.md): a compressed stream that ends early keeps every complete
record before the cut and rejects the cut line (``truncated_file``); data that fails a
checksum or cannot be decoded (gzip CRC, zstd frame checksum or corrupt block, parquet
page checksums, not the format its name says) is never kept: the whole file is one
``corrupt_file`` reject, raised as `CorruptFile` so the caller drops what it already
took from the file. An empty file is 0 records, counted in ``ReadResult.empty_files``.
A record whose text is empty or only whitespace is always set aside (``empty_text``,
whatever ``on_error`` says: it is not damage, and a document without text is of no use).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from . import storage
from .errors import ConfigError, InputError
from .schema import REJECT_SCHEMA, doc_schema
from .web import WEB_SUFFIXES, warc_records

log = logging.getLogger(__name__)

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".jsonl.zst",
                  ".json.zst", ".ndjson.gz", ".ndjson.zst")
TEXT_SUFFIXES = (".txt", ".md", ".rst")
HF_PREFIX = "hf:"
_CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark, skipped at the start of a file


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
        """The path relative to its input root (what domains are taken from)."""
        if self.kind == "hf":
            return self.path
        return Path(self.path).relative_to(self.root).as_posix()

    @property
    def label(self) -> str:
        """The file as the input named it (root included, normalized): what ``source``
        columns, rejects and default ids use, so two roots holding the same relative
        path (``x/data.jsonl``, ``y/data.jsonl``) never share a label. A file read from a
        store is labelled by its URL (``s3://bucket/key``), wherever its mirror sits."""
        if self.kind == "hf":
            return self.path
        return storage.url_of(self.path) or Path(os.path.normpath(self.path)).as_posix()

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

    A store URL (``s3://bucket/prefix``, see `mixforge.storage`) is pulled into the local
    mirror first and read from there. Raises a ConfigError naming any input that does not
    exist or has no readable files (a `FatalError` when the store cannot be used).
    """
    sources: list[Source] = []
    for item in inputs:
        if item.startswith(HF_PREFIX):
            sources.append(Source(item, "", "hf"))
            continue
        p = storage.local(item)
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
    """A compressed stream ended inside a frame or member; ``args[0]`` is the cut line."""


class _Corrupt(Exception):
    """Compressed data failed its checksum or could not be decoded; ``args[0]`` says how."""


def _zstd_chunks(f: BinaryIO) -> Iterator[bytes]:
    """Decompress a (possibly multi-frame) zstd stream; raise _Truncated if it ends early.

    libzstd verifies each frame's content checksum where the frame has one (raising
    ``ZstdError``); a corrupt block or a file that is not zstd raises the same: _Corrupt.
    """
    dctx = zstandard.ZstdDecompressor()
    obj, fed = dctx.decompressobj(), False
    try:
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
    except zstandard.ZstdError as e:
        msg = f"zstd: {e}"
        raise _Corrupt(msg) from e
    if fed:
        raise _Truncated


def _gzip_chunks(f: BinaryIO) -> Iterator[bytes]:
    """Decompress a (possibly multi-member) gzip stream with zlib, yielding as it goes.

    zlib checks each member's CRC-32 and length trailer (``zlib.error``: _Corrupt); a
    stream that stops inside a member raises _Truncated after yielding everything before
    the cut (``gzip.GzipFile`` would drop up to a buffer of it). Zero padding after the
    last member is allowed, as gzip(1) allows it.
    """
    obj, fed, members = zlib.decompressobj(wbits=31), False, 0
    try:
        while chunk := f.read(_CHUNK):
            while chunk:
                if not fed and members and not chunk.strip(b"\0"):
                    break  # zero padding after a member
                fed = True
                out = obj.decompress(chunk, _CHUNK)  # bounded: a 1 MB chunk can inflate 1000x
                if out:
                    yield out
                if obj.eof:
                    members += 1
                    chunk, obj, fed = obj.unused_data, zlib.decompressobj(wbits=31), False
                else:
                    chunk = obj.unconsumed_tail
        if fed:
            out = obj.flush()
            if out:
                yield out
    except zlib.error as e:
        msg = f"gzip: {e}"
        raise _Corrupt(msg) from e
    if fed and not obj.eof:
        raise _Truncated


def _plain_chunks(f: BinaryIO) -> Iterator[bytes]:
    while chunk := f.read(_CHUNK):
        yield chunk


def _lines(path: str) -> Iterator[bytes]:
    """Yield the lines of a plain, .gz or .zst file (without newlines).

    Raises _Truncated (carrying the partial last line) or _Corrupt.
    """
    name = path.lower()
    decode = _zstd_chunks if name.endswith(".zst") else (
        _gzip_chunks if name.endswith(".gz") else _plain_chunks)
    with open(path, "rb") as f:
        rest = b""
        try:
            for chunk in decode(f):
                buf = rest + chunk
                lines = buf.split(b"\n")
                rest = lines.pop()
                yield from lines
        except _Truncated:
            raise _Truncated(rest) from None
        if rest:
            yield rest


# --------------------------------------------------------------------------- record readers

Record = tuple[str, str, str | None, Any, Any]  # text, source, metadata json, id, domain
Reject = tuple[str, str, str, bytes]  # source, reason, detail, raw


class CorruptFile(InputError):
    """A whole file is damaged (``reason`` ``corrupt_file``): none of its records may be
    kept, including those already read. ``reject`` is its one row for the rejects table.

    Raised by `read_batches` whatever ``on_error`` is; with ``on_error="reject"`` the
    caller discards what it took from the file and counts ``reject`` instead.
    """

    def __init__(self, path: str, where: int | None, reason: str, detail: str = "",
                 reject: Reject | None = None) -> None:
        super().__init__(path, where, reason, detail)
        self.reject = reject or (str(path), reason, detail, b"")

    def __reduce__(self):
        return (type(self), (self.path, self.where, self.reason, self.detail, self.reject))


class _Sink:
    """Collects rejects, or raises on the first one when the user did not ask to keep them."""

    def __init__(self, src: Source, opts: ReadOptions) -> None:
        self.src, self.opts, self.rows = src, opts, []
        self.empty = False

    def __call__(self, where: int | None, reason: str, detail: str, raw: bytes) -> None:
        if self.opts.on_error == "raise":
            raise InputError(self.src.path, where, reason, detail)
        self.set_aside(where, reason, detail, raw)

    def set_aside(self, where: int | None, reason: str, detail: str, raw: bytes = b"") -> None:
        """Count a record as rejected whatever ``on_error`` says (a web archive's images,
        redirects and empty pages are expected, not errors)."""
        loc = f"{self.src.label}:{where}" if where is not None else self.src.label
        self.rows.append((loc, reason, detail, raw))

    def corrupt(self, detail: str, records_read: int | None) -> None:
        """The whole file is damaged: raise CorruptFile (in both modes)."""
        read = "" if records_read is None else f" ({records_read:,} read before the damage " \
            "was found)"
        detail = f"{detail}; none of its records are kept{read}. Re-download or re-copy the file"
        raise CorruptFile(self.src.path, None, "corrupt_file", detail,
                          (self.src.label, "corrupt_file", detail, b""))


def _split_record(obj: dict, opts: ReadOptions) -> tuple[Any, str | None, Any, Any]:
    text = obj.pop(opts.text_field, None)
    rid = obj.get(opts.id_field) if opts.id_field else None
    dom = obj.get(opts.domain_field) if opts.domain_field else None
    meta = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS, default=str).decode() if obj else None
    return text, meta, rid, dom


def _jsonl_records(src: Source, opts: ReadOptions, reject: _Sink) -> Iterator[Record]:
    lines = _lines(src.path)
    try:
        yield from _jsonl_lines(src, opts, reject, lines)
    except CorruptFile:
        raise
    except InputError:
        # a bad record in a compressed file may be the damage itself (gzip checks its CRC
        # only at the end of a member): if the rest fails its checksum, say that instead
        if src.path.lower().endswith((".gz", ".zst")):
            try:
                for _ in lines:
                    pass
            except _Corrupt as e:
                reject.corrupt(str(e.args[0]), None)
            except _Truncated:
                pass
        raise


def _jsonl_lines(src: Source, opts: ReadOptions, reject: _Sink,
                 lines: Iterator[bytes]) -> Iterator[Record]:
    lineno, seen_bytes, n = 0, False, 0
    while True:
        try:
            line = next(lines)
        except StopIteration:
            break
        except _Truncated as e:
            reject(lineno + 1, "truncated_file", "the compressed stream ends inside this "
                   "line (an interrupted download or copy?); every line before it is kept",
                   e.args[0])
            return
        except _Corrupt as e:
            reject.corrupt(str(e.args[0]), n)
        lineno += 1
        if lineno == 1 and line.startswith(BOM):
            line = line[len(BOM):]  # as json.load and pandas do with a UTF-8 BOM
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
        if not text.strip():
            reject.set_aside(lineno, "empty_text", f"{opts.text_field!r} is empty or "
                             "whitespace", line)
            continue
        n += 1
        yield text, f"{src.label}:{lineno}", meta, rid, dom
    if not seen_bytes:
        reject.empty = True  # 0 records: noted, not a reject


def _text_records(src: Source, opts: ReadOptions, reject: _Sink) -> Iterator[Record]:
    raw = Path(src.path).read_bytes()
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    if not raw.strip():
        reject.empty = True
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        reject(line, "invalid_utf8", f"byte offset {e.start}", raw)
        return
    yield text, src.label, None, None, None


def _table_records(batches: Iterator[dict[str, list]], src: Source, opts: ReadOptions,
                   reject: _Sink, label: str) -> Iterator[Record]:
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
            if not text.strip():
                reject.set_aside(row, "empty_text", f"{opts.text_field!r} is empty or "
                                 "whitespace", orjson.dumps(obj, default=str))
                continue
            yield text, f"{label}#row={row}", meta, rid, dom


def _parquet_records(src: Source, opts: ReadOptions, reject: _Sink) -> Iterator[Record]:
    """Rows of a parquet file; page CRCs are verified where the writer stored them."""
    if Path(src.path).stat().st_size == 0:
        reject.empty = True
        return
    n = 0
    try:
        pf = pq.ParquetFile(src.path, page_checksum_verification=True)
        batches = (b.to_pydict() for b in pf.iter_batches(batch_size=opts.batch_rows))
        for rec in _table_records(batches, src, opts, reject, src.label):
            n += 1
            yield rec
    except (pa.ArrowException, OSError) as e:
        # the whole file, never "the rows before the bad page": the count would then
        # depend on the batch size
        reject.corrupt(f"unreadable parquet: {e} (truncated, or not parquet?)", n)


def _hf_records(src: Source, opts: ReadOptions, reject: _Sink) -> Iterator[Record]:
    import datasets  # heavy; only when an HF source is read

    if src.kind == "hf_disk":
        ds = datasets.load_from_disk(src.path)
        label = src.rel
    else:
        spec = src.path[len(HF_PREFIX):]
        name, _, split = spec.partition(":")
        name, _, config = name.partition("@")
        try:
            ds = datasets.load_dataset(name, config or None, split=split or "train",
                                       streaming=True)
        except (ConnectionError, OSError, FileNotFoundError, ValueError) as e:
            msg = (f"{src.path}: cannot load the dataset ({type(e).__name__}: "
                   f"{str(e).splitlines()[0] if str(e) else ''}); without network, "
                   "save it with datasets' save_to_disk and ingest that folder")
            raise ConfigError(msg) from e
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
    empty_files: list[str] = field(default_factory=list)  # read as 0 records, not rejected


def read_batches(src: Source, opts: ReadOptions, result: ReadResult) -> Iterator[pa.RecordBatch]:
    """Stream ``src`` as document-table record batches of at most ``opts.batch_rows`` rows.

    The batches follow ``doc_schema(opts.id_field is not None)``: ``id`` is always
    ``stable_id(source)``; the record's ``id_field`` value (as a string, null when the
    record lacks it) goes to ``user_id``. Rejected records (with ``on_error="reject"``)
    are appended to ``result.rejects``; an empty file to ``result.empty_files``.

    Raises
    ------
    InputError
        a bad record with ``on_error="raise"`` (names the file and line/row).
    CorruptFile
        the file is damaged (checksum, undecodable data), in either mode; batches
        already yielded from ``src`` must be discarded by the caller.
    """
    sink = _Sink(src, opts)
    domain = default_domain(src, opts)
    schema = doc_schema(user_id=opts.id_field is not None)
    cols: dict[str, list] = {n: [] for n in schema.names}
    nbytes = 0

    def flush() -> pa.RecordBatch:
        batch = pa.RecordBatch.from_pydict(cols, schema=schema)
        for v in cols.values():
            v.clear()
        return batch

    try:
        for text, source, meta, rid, dom in _READERS[src.kind](src, opts, sink):
            cols["id"].append(stable_id(source))
            if opts.id_field is not None:
                cols["user_id"].append(str(rid) if rid is not None else None)
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
        if sink.empty:
            result.empty_files.append(src.label)
            log.info("%s: empty file, 0 records", src.label)
    finally:
        result.rejects.extend(sink.rows)


def rejects_table(rows: list[Reject]) -> pa.Table:
    src, reason, detail, raw = zip(*rows, strict=True) if rows else ([], [], [], [])
    return pa.table({"source": list(src), "reason": list(reason), "detail": list(detail),
                     "raw": list(raw)}, schema=REJECT_SCHEMA)


def read_source(src: Source, opts: ReadOptions, result: ReadResult) -> list[pa.RecordBatch]:
    """All of ``src``'s batches, or none when it is a `CorruptFile` and ``opts.on_error``
    is ``"reject"`` (then its one reject row is added to ``result``). Holds the file in
    memory: for small inputs; `mixforge.ingest` streams instead."""
    kept, rejected = result.kept, len(result.rejects)
    try:
        return list(read_batches(src, opts, result))
    except CorruptFile as e:
        if opts.on_error != "reject":
            raise
        result.kept = kept
        del result.rejects[rejected:]  # the file's own record rejects go with it
        result.rejects.append(e.reject)
        return []


def read_table(path: str, opts: ReadOptions | None = None) -> pa.Table:
    """Read one input whole (small inputs, tests, notebooks)."""
    opts = opts or ReadOptions()
    result = ReadResult()
    batches = [b for s in discover([path]) for b in read_source(s, opts, result)]
    return pa.Table.from_batches(batches, schema=doc_schema(opts.id_field is not None))


__all__ = ["CorruptFile", "ReadOptions", "ReadResult", "Source", "discover", "read_batches",
           "read_source", "read_table", "rejects_table", "stable_id"]
