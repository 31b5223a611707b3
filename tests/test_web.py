"""WARC and WET input: real HTML pages (pinned in tests/data/html) in archives written by
warcio, read by mixforge's FastWARC reader, extracted, counted, and run through the filters."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from mixforge.errors import InputError
from mixforge.executor import LocalExecutor
from mixforge.ingest import IngestConfig, ingest
from mixforge.readers import ReadOptions, ReadResult, discover, read_batches
from mixforge.stats import stage_files
from mixforge.web import html_to_text
from tests.pinned import pinned_copy


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, bytes]:
    folder = pinned_copy("html", tmp_path_factory.mktemp("html"))
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.html"))}


def _write(w: WARCWriter, record) -> None:
    w.write_record(record)
    record.raw_stream.close()  # warcio spools the block to a temp file it does not close


def _response(w: WARCWriter, url: str, body: bytes, ctype: str, status: str = "200 OK"):
    headers = StatusAndHeaders(status, [("Content-Type", ctype)], protocol="HTTP/1.1")
    _write(w, w.create_warc_record(url, "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")))
    _write(w, w.create_warc_record(url, "response", payload=io.BytesIO(body),
                                   http_headers=headers))


def write_crawl(path: Path, pages: dict[str, bytes], gzip: bool) -> dict[str, int]:
    """A crawl-shaped WARC: warcinfo, request+response pairs of real pages, and the records a
    real crawl also has (an image, a 404, an empty page, a Latin-1 page). Returns counts."""
    with path.open("wb") as f:
        w = WARCWriter(f, gzip=gzip)
        _write(w, w.create_warcinfo_record(path.name, {"software": "warcio test"}))
        for name, body in pages.items():
            _response(w, f"http://docs.example/{name}", body, "text/html; charset=utf-8")
        latin = pages[max(pages)].decode("utf-8").encode("latin-1", "replace")
        _response(w, "http://docs.example/latin1", latin, "text/html; charset=iso-8859-1")
        _response(w, "http://docs.example/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(64),
                  "image/png")
        _response(w, "http://docs.example/missing", b"<html>gone</html>", "text/html",
                  "404 Not Found")
        _response(w, "http://docs.example/blank", b"<html><body> </body></html>", "text/html")
    return {"html": len(pages) + 1, "set_aside": 3}


def _read(path: Path, **kw):
    result = ReadResult()
    batches = [b for s in discover([str(path)]) for b in read_batches(s, ReadOptions(**kw), result)]
    return pa.Table.from_batches(batches), result


@pytest.mark.parametrize("gzip", [False, True])
def test_warc_pages_become_documents_and_the_rest_is_counted(pages, tmp_path, gzip):
    path = tmp_path / ("crawl.warc.gz" if gzip else "crawl.warc")
    counts = write_crawl(path, pages, gzip)
    table, result = _read(path)
    assert table.num_rows == result.kept == counts["html"]
    reasons = sorted(r[1] for r in result.rejects)
    assert reasons == ["empty_text", "http_status", "not_html"]
    meta = [json.loads(m) for m in table["metadata"].to_pylist()]
    assert [m["url"] for m in meta[:-1]] == [f"http://docs.example/{n}" for n in pages]
    assert all(m["warc_record_id"].startswith("<urn:uuid:") and m["warc_date"] for m in meta)
    texts = dict(zip([m["url"] for m in meta], table["text"].to_pylist(), strict=True))
    intro = texts["http://docs.example/Introduction.html"]
    assert intro == html_to_text(pages["Introduction.html"].decode())
    assert "libffi" in intro and "<" not in intro[:200]
    assert "zlib" in texts["http://docs.example/latin1"]  # decoded as Latin-1, not garbage
    assert max(pages) == "zlib_how.html"
    assert table["source"][0].as_py().endswith(f"{path.name}#record=1")


def test_wet_conversion_records_are_taken_as_text(pages, tmp_path):
    path = tmp_path / "crawl.wet.gz"
    texts = [html_to_text(b.decode()) for b in list(pages.values())[:5]]
    with path.open("wb") as f:
        w = WARCWriter(f, gzip=True)
        for i, t in enumerate(texts):
            _write(w, w.create_warc_record(
                f"http://docs.example/{i}", "conversion", payload=io.BytesIO(t.encode()),
                warc_headers_dict={"Content-Type": "text/plain"}))
    table, result = _read(path)
    assert table["text"].to_pylist() == texts and not result.rejects


def test_trafilatura_is_the_other_extractor(pages, tmp_path):
    path = tmp_path / "c.warc.gz"
    write_crawl(path, dict(list(pages.items())[:4]), gzip=True)
    res, _ = _read(path)
    tra, _ = _read(path, html_extractor="trafilatura")
    assert res.num_rows >= 4 and tra.num_rows >= 4
    assert res["text"].to_pylist() != tra["text"].to_pylist()


@pytest.mark.parametrize("damage", ["flip_gz", "truncate_gz", "truncate_plain", "digest"])
def test_damaged_archives_are_an_error_or_a_counted_reject(pages, tmp_path, damage):
    gz = damage.endswith("_gz")
    path = tmp_path / ("d.warc.gz" if gz else "d.warc")
    counts = write_crawl(path, pages, gzip=gz)
    raw = bytearray(path.read_bytes())
    if damage == "flip_gz":
        raw[len(raw) // 2] ^= 0x55
    elif damage.startswith("truncate"):
        raw = raw[: len(raw) // 2]
    else:  # a byte of an HTML payload changed, the record's block digest now wrong
        at = raw.index(b"libffi", len(raw) // 3)
        raw[at] = ord("L")
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError):
        _read(path)
    table, result = _read(path, on_error="reject")
    damaged = [r for r in result.rejects if r[1] in ("corrupt_file", "truncated_file",
                                                     "corrupt_record")]
    assert len(damaged) == 1
    total = counts["html"] + counts["set_aside"]
    assert 0 < table.num_rows < counts["html"]
    # nothing from the damaged part is kept as good data: every kept text is a real page's
    real = {html_to_text(b.decode()) for b in pages.values()}
    assert all(t in real for t in table["text"].to_pylist()[:-1])
    assert table.num_rows + len(result.rejects) <= total


def test_ingested_crawl_goes_through_the_web_filters(pages, tmp_path):
    from mixforge.curate.filter_stage import run_filter
    from mixforge.curate.filters import FilterConfig

    src = tmp_path / "web"
    src.mkdir()
    write_crawl(src / "crawl.warc.gz", pages, gzip=True)
    run = tmp_path / "run"
    rep = ingest(IngestConfig(inputs=[str(src)]), run, LocalExecutor(1))
    assert rep.totals["kept"] + rep.totals["rejected"] == len(pages) + 4
    out = run_filter(FilterConfig(), run, LocalExecutor(1))
    kept = sum(pq.read_metadata(f).num_rows for f in stage_files(run / "filter"))
    assert kept == out.totals["kept"] and 0 < kept <= len(pages) + 1
    # the web rules act on web text: the index and table-of-contents pages are dropped
    assert any(k.startswith("dropped_") and v > 0 for k, v in out.totals.items())
