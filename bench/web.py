"""WARC in: mixforge's reader (FastWARC + Resiliparse or trafilatura) vs datatrove's WarcReader
+ Trafilatura on the same file, one process, one run.

    PYTHONPATH=$PWD python bench/web.py [--html DIR] [--copies 40]

The archive: every HTML page of DIR (default: the pinned pages of tests/data/html, real
documentation pages from Debian packages) written by warcio as request + response pairs,
repeated --copies times (gzip per record, as crawls do). Timed: reading the archive into
documents (parse + charset + HTML to text). Printed: documents/s and MB/s of archive for
each, the ratio to datatrove, and how the two extractors' outputs compare (characters
kept, word-set Jaccard per page). Both trafilatura runs use deduplicate=False: with it,
trafilatura drops text it has seen earlier in the process, so the repeated copies would
come out empty (and the output would depend on reading order).
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_archive(path: Path, pages: dict[str, bytes], copies: int) -> int:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    n = 0
    with path.open("wb") as f:
        w = WARCWriter(f, gzip=True)
        for c in range(copies):
            for name, body in pages.items():
                h = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                     protocol="HTTP/1.1")
                rec = w.create_warc_record(f"http://docs.example/{c}/{name}", "response",
                                           payload=io.BytesIO(body), http_headers=h)
                w.write_record(rec)
                rec.raw_stream.close()
                n += 1
    return n


def mixforge_read(path: Path, extractor: str) -> list[str]:
    from mixforge.readers import ReadOptions, ReadResult, discover, read_batches

    res = ReadResult()
    opts = ReadOptions(html_extractor=extractor)
    return [t for s in discover([str(path)]) for b in read_batches(s, opts, res)
            for t in b.column("text").to_pylist()]


def datatrove_read(path: Path) -> list[str]:
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader

    reader = WarcReader(str(path.parent), glob_pattern=path.name)
    return [d.text for d in Trafilatura(timeout=60, deduplicate=False).run(reader.run(None, 0, 1))]


def words(t: str) -> set[str]:
    return set(re.findall(r"\w+", t.lower()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--html", type=Path, default=ROOT / "tests/data/html")
    ap.add_argument("--copies", type=int, default=40)
    a = ap.parse_args()
    pages = {p.name: p.read_bytes() for p in sorted(a.html.glob("*.html"))}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "crawl.warc.gz"
        n = write_archive(path, pages, a.copies)
        mb = path.stat().st_size / 1e6
        mixforge_read(path, "resiliparse")[:1]  # imports and first-call costs off the clock
        out, secs = {}, {}
        for name, fn in [("mixforge resiliparse", lambda: mixforge_read(path, "resiliparse")),
                         ("mixforge trafilatura", lambda: mixforge_read(path, "trafilatura")),
                         ("datatrove WarcReader+Trafilatura", lambda: datatrove_read(path))]:
            t = time.perf_counter()
            out[name] = fn()
            secs[name] = time.perf_counter() - t
        base = secs["datatrove WarcReader+Trafilatura"]
        print(f"archive: {n:,} records, {mb:.1f} MB gzip, {len(pages)} distinct pages")
        print("| reader | docs | s | docs/s | MB/s | vs datatrove | chars kept |")
        print("|---|---|---|---|---|---|---|")
        for name, texts in out.items():
            print(f"| {name} | {len(texts):,} | {secs[name]:.2f} | {len(texts) / secs[name]:,.0f}"
                  f" | {mb / secs[name]:.2f} | {base / secs[name]:.1f}x |"
                  f" {sum(map(len, texts)):,} |")
        r, t = out["mixforge resiliparse"][: len(pages)], out["mixforge trafilatura"][: len(pages)]
        jac = [len(words(x) & words(y)) / max(1, len(words(x) | words(y))) for x, y in
               zip(r, t, strict=False)]
        print(f"resiliparse vs trafilatura word-set Jaccard per page: median "
              f"{sorted(jac)[len(jac) // 2]:.2f}, min {min(jac):.2f}")


if __name__ == "__main__":
    main()
