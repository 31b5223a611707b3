"""Web archives in: WARC and WET files (plain or gzip) -> documents, HTML turned into text.

A WARC record is an input record when it can hold a document: a ``response`` (HTTP),
``resource`` or ``conversion`` (WET plain text) record. Protocol records (``warcinfo``,
``request``, ``metadata``, ``revisit``) are not documents and are not read. Every input
record is kept or set aside with a reason, whatever ``on_error`` says, since a crawl is
full of them: ``http_status`` (not 200), ``not_html`` (another content type: images,
PDFs, scripts), ``undecodable`` (the bytes fit neither the declared or detected charset,
nor UTF-8, nor Windows-1252), ``empty_text`` (no text left after extraction). A record
whose block digest is present and wrong, and an archive that cannot be read on
(``corrupt_file``), are damage and follow ``on_error``.

Parsing: FastWARC (Resiliparse's WARC reader; gzip detected from the stream). Text:
Resiliparse's ``extract_plain_text(main_content=True)`` by default — DCLM (Li et al.,
2024, §3.1 and appendix) chose it over trafilatura for its speed at equal downstream
accuracy; ``html_extractor="trafilatura"`` runs trafilatura with datatrove's settings
(``favor_precision=True, include_comments=False``) except ``deduplicate``, which would make
a page's text depend on the pages read before it in the same process. Measured in
docs/ingest.md. Metadata kept per document: ``url``, ``warc_record_id``, ``warc_date``,
``content_type``.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import orjson

WEB_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz")
HTML_TYPES = ("text/html", "application/xhtml+xml")
EXTRACTORS = ("resiliparse", "trafilatura")


def _import_fastwarc():
    try:
        from fastwarc.warc import ArchiveIterator, WarcRecordType
    except ImportError as e:  # pragma: no cover - the `web` extra is missing
        msg = ("reading WARC/WET files needs FastWARC and Resiliparse: "
               "pip install 'mixforge[web]'")
        raise ImportError(msg) from e
    return ArchiveIterator, WarcRecordType


def html_to_text(html: str, extractor: str = "resiliparse") -> str:
    """The main text of an HTML page (see the module docstring for the two extractors)."""
    if extractor == "trafilatura":
        import trafilatura

        # deduplicate=False: trafilatura's deduplication keeps a process-wide cache of
        # segments seen before, so a page's text would depend on which pages the same
        # worker read earlier (not byte-identical across executors or shardings)
        return trafilatura.extract(html, favor_precision=True, include_comments=False,
                                   deduplicate=False) or ""
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=True)


def decode_html(body: bytes, declared: str | None) -> str | None:
    """Decode with the declared charset, the detected one, UTF-8, then Windows-1252 (strict)."""
    from resiliparse.parse.encoding import detect_encoding

    for enc in dict.fromkeys(e for e in (declared, detect_encoding(body), "utf-8", "cp1252")
                             if e):
        try:
            return body.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def gzip_intact_prefix(path: str, chunk: int = 1 << 20) -> tuple[int, str | None]:
    """Bytes of ``path`` up to the end of its last intact gzip member, and what is wrong after.

    Every member's CRC-32 and length are checked (zlib); the error is ``None`` for a sound
    file, else ``"corrupt_file: ..."`` or ``"truncated_file: ..."``. One streaming pass at
    zlib speed, far below the cost of HTML extraction; the output is discarded a bounded
    piece at a time. (The JSONL reader's ``readers._gzip_chunks`` checks members the same
    way but yields text and no member offsets, which FastWARC needs here.)
    """
    good = pos = 0
    d = zlib.decompressobj(wbits=31)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            data = block
            while data:
                try:
                    d.decompress(data, chunk)  # bounded: at most `chunk` bytes out per call
                except zlib.error as e:
                    return good, f"corrupt_file: gzip member at byte {good} fails: {e}"
                if d.eof:
                    data = d.unused_data
                    good = pos + len(block) - len(data)
                    d = zlib.decompressobj(wbits=31)
                else:
                    data = d.unconsumed_tail
            pos += len(block)
    if pos != good:
        return good, f"truncated_file: the last gzip member (from byte {good}) is cut short"
    return good, None


class _Prefix(io.RawIOBase):
    """A seekable view of the first ``end`` bytes of an unbuffered binary file."""

    def __init__(self, f, end: int) -> None:
        self.f, self.end = f, end

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.f.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            return self.f.seek(self.end + offset)
        return self.f.seek(offset, whence)

    def readinto(self, b) -> int:
        left = max(0, self.end - self.f.tell())
        return self.f.readinto(memoryview(b)[:min(len(b), left)]) or 0


def warc_records(src: Any, opts: Any, reject: Callable) -> Iterator[tuple]:
    """Documents of one WARC/WET file: ``(text, source, metadata json, None, None)``.

    ``source`` is ``<file>#record=N`` (N counts input records from 1). Set-asides go to
    ``reject.set_aside`` (always counted), damage to ``reject`` (raises unless rejecting).
    """
    archive_iterator, rtype = _import_fastwarc()
    types = rtype.response | rtype.resource | rtype.conversion
    n = 0
    damage = None
    with open(src.path, "rb", buffering=0) as f:
        stream = f
        if src.path.lower().endswith(".gz"):
            good, damage = gzip_intact_prefix(src.path)
            stream = io.BufferedReader(_Prefix(f, good))
        records = iter(archive_iterator(stream, record_types=types, parse_http=False))
        while True:
            try:
                rec = next(records)
            except StopIteration:
                break
            except OSError as e:
                reject(n + 1, "corrupt_file", f"the archive cannot be read past record {n}: "
                       f"{e}", b"")
                return
            n += 1
            where = f"{src.label}#record={n}"
            conversion = rec.record_type == rtype.conversion
            # the block digest covers the HTTP headers too: check it before parsing them
            if rec.headers.get("WARC-Block-Digest") and not rec.verify_block_digest():
                reject(n, "corrupt_record", "the record's WARC-Block-Digest does not match", b"")
                continue
            if rec.is_http:
                rec.parse_http()
            ctype = (rec.http_content_type if rec.is_http else
                     rec.headers.get("Content-Type", "").split(";")[0].strip()) or ""
            meta = {"url": rec.headers.get("WARC-Target-URI"), "warc_record_id": rec.record_id,
                    "warc_date": rec.headers.get("WARC-Date"), "content_type": ctype or None}
            body = rec.reader.read()
            if len(body) < rec.content_length:  # the payload's length once HTTP is parsed
                reject(n, "truncated_file", f"record {n} ends after {len(body)} of its bytes",
                       b"")
                return
            if rec.is_http and rec.http_headers.status_code != 200:
                reject.set_aside(n, "http_status", f"HTTP {rec.http_headers.status_code}")
                continue
            if conversion or ctype.startswith("text/plain"):
                text = decode_html(body, rec.http_charset if rec.is_http else "utf-8")
                html = False
            elif ctype.lower() in HTML_TYPES:
                text = decode_html(body, rec.http_charset if rec.is_http else None)
                html = True
            else:
                reject.set_aside(n, "not_html", f"content type {ctype or 'unknown'!r}")
                continue
            if text is None:
                reject.set_aside(n, "undecodable", "no charset decodes the payload")
                continue
            if html:
                text = html_to_text(text, opts.html_extractor)
            if not text.strip():
                reject.set_aside(n, "empty_text", "no text left after extraction")
                continue
            yield text, where, orjson.dumps(meta, option=orjson.OPT_SORT_KEYS).decode(), None, None
    if damage:
        reason, _, detail = damage.partition(": ")
        reject(n + 1, reason, f"{detail}; the {n} records before it were read", b"")
