"""Damaged and unusual input files: corrupt and truncated .gz/.zst/.parquet, byte-order
marks, empty files; the cases of tests/cases/newcomer-1 (gz_corrupt, zst_corrupt) and
the kinds behind them. Rules: docs/ingest.md."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from mixforge.errors import InputError
from mixforge.executor import LocalExecutor
from mixforge.ingest import IngestConfig, ingest
from mixforge.readers import ReadOptions, ReadResult, discover, read_source, read_table

CASES = Path(__file__).parent / "cases"
LINE = b'{"text": "line %d of a good file, with some words in it"}\n'


def _lines(n: int, start: int = 1) -> bytes:
    return b"".join(LINE % i for i in range(start, start + n))


def _read(path: Path, **kw) -> tuple[pa.Table, ReadResult]:
    opts, result = ReadOptions(**kw), ReadResult()
    batches = [b for s in discover([str(path)]) for b in read_source(s, opts, result)]
    return pa.Table.from_batches(batches, schema=batches[0].schema) if batches else \
        pa.table({"text": pa.array([], pa.large_string())}), result


def _ingest(inputs: list[Path], run: Path, **kw) -> dict:
    cfg = IngestConfig(inputs=[str(p) for p in inputs], **kw)
    return ingest(cfg, run, LocalExecutor(1)).totals


# ------------------------------------------------------------------ the newcomer-1 cases

def test_gz_corrupt_case_keeps_no_corrupted_text(tmp_path):
    case = CASES / "newcomer-1" / "gz_corrupt"
    with pytest.raises(InputError, match=r"a\.jsonl\.gz.*corrupt_file") as err:
        _ingest([case], tmp_path / "strict")
    assert err.value.reason == "corrupt_file"
    t = _ingest([case], tmp_path / "run", on_error="reject")
    assert (t["docs_in"], t["kept"], t["rejected"], t["rejected_corrupt_file"]) == (1, 0, 1, 1)
    rejects = pq.read_table(tmp_path / "run/ingest/rejects/shard-00000.parquet").to_pylist()
    assert [(r["source"], r["reason"]) for r in rejects] == [
        (f"{case}/a.jsonl.gz", "corrupt_file")]
    assert pq.read_table(tmp_path / "run/ingest/shard-00000.parquet").num_rows == 0


def test_zst_corrupt_case_is_a_clear_error_or_counted_and_the_rest_proceeds(tmp_path):
    case = CASES / "newcomer-1" / "zst_corrupt"
    with pytest.raises(InputError, match=r"a\.jsonl\.zst.*corrupt_file"):
        _ingest([case], tmp_path / "strict")
    with pytest.raises(InputError, match=r"b\.jsonl\.zst.*corrupt_file"):
        _ingest([case / "b.jsonl.zst"], tmp_path / "strict_b")
    good = tmp_path / "good.jsonl"
    good.write_bytes(_lines(30))
    t = _ingest([case, good], tmp_path / "run", on_error="reject")
    assert (t["docs_in"], t["kept"], t["rejected"], t["rejected_corrupt_file"]) == (32, 30, 2, 2)


# ------------------------------------------------------------------ the kinds behind them

def test_a_corrupt_file_mid_shard_is_dropped_whole_and_its_neighbours_kept(tmp_path, caplog):
    """A multi-member .gz whose second member fails its CRC, between two good files of the
    same shard: the records already read from it are taken back out of the shard."""
    data = tmp_path / "in"
    data.mkdir()
    (data / "a.jsonl").write_bytes(_lines(100))
    bad = bytearray(gzip.compress(_lines(5000)))
    bad[-6] ^= 0xFF  # in the CRC-32 trailer of the second member
    (data / "b.jsonl.gz").write_bytes(gzip.compress(_lines(4000)) + bytes(bad))
    (data / "c.jsonl").write_bytes(_lines(50))
    t = _ingest([data], tmp_path / "run", on_error="reject", batch_rows=100)
    assert "rewriting shard-00000 without it" in caplog.text  # batches of b were written
    assert (t["kept"], t["rejected_corrupt_file"], t["docs_in"]) == (150, 1, 151)
    table = pq.read_table(tmp_path / "run/ingest/shard-00000.parquet")
    assert {s.rsplit(":", 1)[0] for s in table["source"].to_pylist()} == {
        f"{data}/a.jsonl", f"{data}/c.jsonl"}


@pytest.mark.parametrize("kind", ["gz", "zst", "zst-multiframe"])
def test_truncated_stream_keeps_every_complete_line_and_names_the_cut_line(tmp_path, kind):
    raw = _lines(20000)
    if kind == "gz":
        data = gzip.compress(raw)
    elif kind == "zst":
        data = zstandard.ZstdCompressor(write_checksum=True).compress(raw)
    else:
        half = raw.index(b"\n", len(raw) // 2) + 1
        c = zstandard.ZstdCompressor(write_checksum=True)
        data = c.compress(raw[:half]) + c.compress(raw[half:])
    path = tmp_path / f"t.jsonl.{kind.split('-')[0]}"
    path.write_bytes(data[: int(len(data) * 0.8)])
    # what was really there before the cut: every complete line of the decodable prefix
    if kind == "gz":
        d = gzip.GzipFile(fileobj=__import__("io").BytesIO(path.read_bytes()))
        prefix = bytearray()
        try:
            while chunk := d.read1(1 << 16):
                prefix += chunk
        except EOFError:
            pass
    else:
        prefix = bytearray()
        obj = zstandard.ZstdDecompressor().decompressobj()
        rest = path.read_bytes()
        while rest:
            prefix += obj.decompress(rest)
            rest = obj.unused_data if obj.eof else b""
            if obj.eof:
                obj = zstandard.ZstdDecompressor().decompressobj()
    complete = bytes(prefix).count(b"\n")
    table, result = _read(path, on_error="reject")
    assert table.num_rows == complete > 0
    assert table["text"].to_pylist()[-1] == json.loads(LINE % complete)["text"]
    assert [(r[0], r[1]) for r in result.rejects] == [(f"{path}:{complete + 1}",
                                                       "truncated_file")]
    with pytest.raises(InputError) as err:
        read_table(str(path))
    assert (err.value.reason, err.value.where) == ("truncated_file", complete + 1)


def test_zstd_frame_checksum_is_verified(tmp_path):
    data = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(_lines(100)))
    data[-1] ^= 0x01  # the frame's content checksum
    path = tmp_path / "c.jsonl.zst"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="checksum") as err:
        read_table(str(path))
    assert err.value.reason == "corrupt_file"


def test_not_compressed_at_all_is_corrupt(tmp_path):
    for name in ("n.jsonl.gz", "n.jsonl.zst"):
        (tmp_path / name).write_bytes(_lines(10))
        table, result = _read(tmp_path / name, on_error="reject")
        assert table.num_rows == 0 and [r[1] for r in result.rejects] == ["corrupt_file"]


def test_parquet_page_checksums_are_verified_whatever_the_batch_size(tmp_path):
    path = tmp_path / "p.parquet"
    texts = [f"row {i} " + "abcdefghij" * (i % 13) for i in range(3000)]
    pq.write_table(pa.table({"text": texts}), path, row_group_size=500,
                   write_page_checksum=True, compression="none", data_page_size=4096)
    raw = bytearray(path.read_bytes())
    at = raw.index(b"row 2400 ")
    raw[at + 2] ^= 0x20  # "row" -> "rOw": still valid data, but not what was written
    path.write_bytes(bytes(raw))
    for batch_rows in (1, 7, 4096):
        table, result = _read(path, on_error="reject", batch_rows=batch_rows)
        assert table.num_rows == 0, batch_rows
        assert [r[1] for r in result.rejects] == ["corrupt_file"]


def test_same_counts_whatever_the_batch_size(tmp_path):
    data = tmp_path / "in"
    data.mkdir()
    (data / "a.jsonl").write_bytes(_lines(40) + b'{"text": "cut\n' + _lines(40, 41)
                                   + b"[1]\n" + _lines(3, 81))
    (data / "b.jsonl.gz").write_bytes(gzip.compress(_lines(500))[:-20])
    totals = [_ingest([data], tmp_path / f"r{b}", on_error="reject", batch_rows=b)
              for b in (1, 3, 4096)]
    assert all(t == totals[0] for t in totals)
    assert totals[0]["rejected_malformed_json"] == 1
    assert totals[0]["rejected_not_an_object"] == 1
    assert totals[0]["rejected_truncated_file"] == 1


def test_utf8_bom_is_skipped_as_json_readers_do(tmp_path):
    body = _lines(3)
    for name, data in {"b.jsonl": b"\xef\xbb\xbf" + body,
                       "b.jsonl.gz": gzip.compress(b"\xef\xbb\xbf" + body),
                       "b.jsonl.zst": zstandard.ZstdCompressor().compress(b"\xef\xbb\xbf" + body)
                       }.items():
        (tmp_path / name).write_bytes(data)
        table = read_table(str(tmp_path / name))
        # json.loads of the BOM-prefixed bytes decodes them the same way
        assert table["text"][0].as_py() == json.loads(b"\xef\xbb\xbf" + LINE % 1)["text"]
        assert table.num_rows == 3
    (tmp_path / "t.txt").write_bytes(b"\xef\xbb\xbfplain text\n")
    assert read_table(str(tmp_path / "t.txt"))["text"].to_pylist() == ["plain text\n"]


def test_empty_files_are_zero_records_and_noted(tmp_path, caplog):
    data = tmp_path / "in"
    data.mkdir()
    (data / "e.jsonl").write_bytes(b"")
    (data / "blank.jsonl").write_bytes(b"\n\n  \n")
    (data / "e.jsonl.gz").write_bytes(gzip.compress(b""))
    (data / "e.jsonl.zst").write_bytes(b"")
    (data / "e.txt").write_bytes(b"")
    (data / "e.parquet").write_bytes(b"")
    (data / "ok.jsonl").write_bytes(_lines(2))
    t = _ingest([data], tmp_path / "run", on_error="reject")
    assert (t["docs_in"], t["kept"], t["rejected"], t["empty_files"]) == (2, 2, 0, 6)
    assert "e.jsonl: empty file" in caplog.text
