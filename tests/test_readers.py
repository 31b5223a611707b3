"""Every reader on real text, and every kind of bad input (error or counted reject)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from mixforge.errors import ConfigError, InputError
from mixforge.readers import (
    ReadOptions,
    ReadResult,
    discover,
    read_batches,
    read_source,
    read_table,
)
from mixforge.schema import DOC_SCHEMA


def _records(corpus_dir: Path, domain: str, n: int = 50) -> list[dict]:
    data = (corpus_dir / f"{domain}.jsonl.zst").read_bytes()
    raw = zstandard.ZstdDecompressor().stream_reader(data).read()
    return [orjson.loads(line) for line in raw.splitlines()[:n]]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    data = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    if path.suffix == ".gz":
        data = gzip.compress(data)
    elif path.suffix == ".zst":
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


def _read_all(path: Path, **kw) -> tuple[pa.Table, ReadResult]:
    opts = ReadOptions(**kw)
    result = ReadResult()
    batches = [b for s in discover([str(path)]) for b in read_source(s, opts, result)]
    return pa.Table.from_batches(batches, schema=DOC_SCHEMA), result


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_jsonl_variants_read_real_text(tmp_path, corpus_dir, suffix):
    rows = _records(corpus_dir, "licenses")
    path = _write_jsonl(tmp_path / f"lic{suffix}", rows)
    table, result = _read_all(path)
    assert table["text"].to_pylist() == [r["text"] for r in rows]
    assert set(table["domain"].to_pylist()) == {"lic"}
    assert table["source"][0].as_py() == f"{path}:1"  # the file as the input named it
    meta = json.loads(table["metadata"][0].as_py())
    assert meta["source_file"] == rows[0]["source_file"]
    assert result.kept == len(rows) and not result.rejects


def test_batches_are_bounded(tmp_path, corpus_dir):
    rows = _records(corpus_dir, "fortunes", 100)
    path = _write_jsonl(tmp_path / "f.jsonl", rows)
    result = ReadResult()
    (src,) = discover([str(path)])
    sizes = [b.num_rows for b in read_batches(src, ReadOptions(batch_rows=7), result)]
    assert max(sizes) == 7 and sum(sizes) == 100


def test_parquet_reader_carries_other_columns(tmp_path, corpus_dir):
    rows = _records(corpus_dir, "python_docs")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "docs.parquet", row_group_size=16)
    table, _ = _read_all(tmp_path / "docs.parquet", batch_rows=10)
    assert table["text"].to_pylist() == [r["text"] for r in rows]
    assert table["source"][3].as_py() == f"{tmp_path}/docs.parquet#row=4"
    assert json.loads(table["metadata"][3].as_py())["licence"] == rows[3]["licence"]


def test_text_folder_domains_from_subfolders(tmp_path):
    import sysconfig

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for dom, names in {"code": ["this.py", "abc.py"], "docs": ["LICENSE.txt"]}.items():
        (tmp_path / dom).mkdir()
        for n in names:
            shutil.copy(stdlib / n, tmp_path / dom / (Path(n).stem + ".txt"))
    table, _ = _read_all(tmp_path)
    assert sorted(table["domain"].to_pylist()) == ["code", "code", "docs"]
    text = dict(zip(table["source"].to_pylist(), table["text"].to_pylist(), strict=True))
    assert text[f"{tmp_path}/code/abc.txt"] == (stdlib / "abc.py").read_text()


def test_domain_from_field_pattern_and_flag(tmp_path, corpus_dir):
    rows = [dict(r, kind=f"k{i % 2}") for i, r in enumerate(_records(corpus_dir, "fortunes", 4))]
    path = _write_jsonl(tmp_path / "web-2024.jsonl", rows)
    assert _read_all(path, domain_field="kind")[0]["domain"].to_pylist() == ["k0", "k1"] * 2
    assert set(_read_all(path, domain_pattern=r"(\w+)-\d+")[0]["domain"].to_pylist()) == {"web"}
    assert set(_read_all(path, domain="x")[0]["domain"].to_pylist()) == {"x"}
    with pytest.raises(ConfigError, match="does not match"):
        _read_all(path, domain_pattern=r"nomatch-(\d)")


def test_ids_are_stable_and_unique_and_a_user_id_is_metadata(tmp_path, corpus_dir):
    rows = [dict(r, doc_id=f"d{i}") for i, r in enumerate(_records(corpus_dir, "licenses"))]
    path = _write_jsonl(tmp_path / "a.jsonl", rows)
    first, second = _read_all(path)[0], _read_all(path)[0]
    assert first["id"].to_pylist() == second["id"].to_pylist()
    assert len(set(first["id"].to_pylist())) == len(rows)
    assert "user_id" not in first.column_names
    opts = ReadOptions(id_field="doc_id")
    (src,) = discover([str(path)])
    with_field = pa.Table.from_batches(list(read_batches(src, opts, ReadResult())))
    assert with_field["user_id"].to_pylist() == [r["doc_id"] for r in rows]
    assert with_field["id"].to_pylist() == first["id"].to_pylist()  # the id never changes


def test_hf_datasets_saved_folder_and_load_dataset_path(tmp_path, corpus_dir):
    import datasets

    rows = _records(corpus_dir, "python_docs", 30)
    ds = datasets.Dataset.from_list(rows)
    ds.save_to_disk(tmp_path / "saved")
    table, _ = _read_all(tmp_path / "saved")
    assert table["text"].to_pylist() == [r["text"] for r in rows]
    # the hub code path (load_dataset by name), pointed at a local data folder
    (tmp_path / "hub").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "hub" / "train.parquet")
    (src,) = discover([f"hf:{tmp_path / 'hub'}:train"])
    result = ReadResult()
    got = pa.Table.from_batches(list(read_batches(src, ReadOptions(domain="d"), result)))
    assert got["text"].to_pylist() == [r["text"] for r in rows]
    assert got["source"][0].as_py().endswith(":train#row=1")


# ---------------------------------------------------------------------------- bad input

GOOD = b'{"text": "a good line of text"}\n'


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, int | None]]:
    """reason -> (file, line) for one planted fault each."""
    zst = zstandard.ZstdCompressor().compress(GOOD * 2000)
    gz = gzip.compress(GOOD * 2000)
    parquet = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": ["x" * 100] * 1000}), parquet)
    files = {
        "malformed_json": (GOOD + b'{"text": "cut\n' + GOOD, 2, "a.jsonl"),
        "invalid_utf8": (GOOD * 2 + b'{"text": "caf\xe9"}\n', 3, "b.jsonl"),
        "missing_text": (GOOD + b'{"body": "no text here"}\n', 2, "c.jsonl"),
        "truncated_file": (zst[: len(zst) // 2], None, "e.jsonl.zst"),
        "truncated_gz": (gz[: len(gz) // 2], None, "f.jsonl.gz"),
        "corrupt_file": (parquet.read_bytes()[:-100], None, "g.parquet"),
    }
    parquet.unlink()
    out = {}
    for reason, (data, line, name) in files.items():
        (tmp_path / name).write_bytes(data)
        out[reason] = (tmp_path / name, line)
    return out


def test_each_bad_input_names_the_file_and_line(tmp_path):
    for reason, (path, line) in _bad_files(tmp_path).items():
        with pytest.raises(InputError) as err:
            read_table(str(path))
        assert str(path) in str(err.value), reason
        expected = "truncated_file" if reason == "truncated_gz" else reason
        assert err.value.reason == expected
        if line is not None:
            assert err.value.where == line and f"line/row {line}" in str(err.value)


def test_reject_mode_counts_every_record(tmp_path):
    for reason, (path, _line) in _bad_files(tmp_path).items():
        table, result = _read_all(path, on_error="reject")
        assert result.rejects, reason
        lines = [ln for ln in path.read_bytes().split(b"\n") if ln.strip()]
        if path.suffix == ".jsonl" and lines:  # records in = kept + rejected, line by line
            assert table.num_rows + len(result.rejects) == len(lines)
        assert table.num_rows == result.kept
    # the rejected record's raw bytes are kept, so nothing is lost silently
    path, _ = _bad_files(tmp_path)["invalid_utf8"]
    _, result = _read_all(path, on_error="reject")
    assert result.rejects[0][3] == b'{"text": "caf\xe9"}'


def test_truncated_zst_keeps_the_complete_lines(tmp_path):
    data = zstandard.ZstdCompressor().compress(GOOD * 20000)
    (tmp_path / "t.jsonl.zst").write_bytes(data[: int(len(data) * 0.9)])
    table, result = _read_all(tmp_path / "t.jsonl.zst", on_error="reject")
    assert 0 < table.num_rows < 20000
    assert [r[1] for r in result.rejects] == ["truncated_file"]


def test_bad_paths_and_types_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        discover([str(tmp_path / "nope.jsonl")])
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(ConfigError, match="unknown file type"):
        discover([str(tmp_path / "x.csv")])
    with pytest.raises(ConfigError, match="holds no"):
        discover([str(tmp_path)])
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "p.parquet")
    with pytest.raises(ConfigError, match="no column 'text'"):
        read_table(str(tmp_path / "p.parquet"))


@pytest.mark.parametrize("on_error", ["raise", "reject"])
def test_empty_text_is_set_aside_in_both_modes(tmp_path, on_error):
    """An empty or whitespace-only text is one `empty_text` reject naming its line/row,
    never a kept document, and not an error (it is not damage)."""
    lines = [GOOD, b'{"text": ""}\n', b'{"text": " \\n\\t"}\n', GOOD]
    (tmp_path / "e.jsonl").write_bytes(b"".join(lines))
    pq.write_table(pa.table({"text": ["a row", "", "   ", "b row"]}), tmp_path / "e.parquet")
    for name in ("e.jsonl", "e.parquet"):
        table, result = _read_all(tmp_path / name, on_error=on_error)
        assert table.num_rows == 2 == result.kept
        assert [r[1] for r in result.rejects] == ["empty_text", "empty_text"]
        assert [r[0] for r in result.rejects] == [f"{tmp_path / name}:{n}" for n in (2, 3)]
