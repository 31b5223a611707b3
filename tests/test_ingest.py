"""The ingest stage: counts, rejects, resume after a kill, determinism, config errors, CLI."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from mixforge.cli import main
from mixforge.config import from_dict
from mixforge.errors import ConfigError, InputError
from mixforge.executor import LocalExecutor
from mixforge.ingest import IngestConfig, ingest
from mixforge.stats import stage_files


def _digest(run: Path, stage: str = "ingest") -> dict[str, str]:
    """name -> sha256 of every data file a stage wrote (markers hold timings; left out)."""
    root = run / stage
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.parquet"))}


def test_ingest_counts_match_the_manifest(corpus_dir, ingested_run):
    import json

    manifest = json.loads((corpus_dir / "manifest.json").read_text())
    files = stage_files(ingested_run / "ingest")
    table = pq.read_table(files)
    counts = table.group_by("domain").aggregate([("id", "count")]).to_pydict()
    per_domain = dict(zip(counts["domain"], counts["id_count"], strict=True))
    assert per_domain == {k: v["docs"] for k, v in manifest["domains"].items()}
    assert len(set(table["id"].to_pylist())) == table.num_rows


def test_same_input_gives_byte_identical_output(tmp_path, corpus_dir):
    cfg = IngestConfig(inputs=[str(corpus_dir)], shard_mb=0.3)
    ingest(cfg, tmp_path / "a", LocalExecutor(2))
    ingest(cfg, tmp_path / "b", LocalExecutor(1))
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert len(a) > 3 and a == b


def test_rerun_skips_and_a_changed_input_redoes_only_its_shard(tmp_path, corpus_dir):
    src = tmp_path / "corpus"
    src.mkdir()
    for f in corpus_dir.glob("*.jsonl.zst"):
        (src / f.name).write_bytes(f.read_bytes())
    cfg = IngestConfig(inputs=[str(src)], shard_mb=0.01)  # one file a shard
    first = ingest(cfg, tmp_path / "run", LocalExecutor(1))
    assert len(first.ran) == 7 and not first.skipped
    again = ingest(cfg, tmp_path / "run", LocalExecutor(1))
    assert again.ran == [] and len(again.skipped) == 7
    fortunes = src / "fortunes.jsonl.zst"
    fortunes.write_bytes(fortunes.read_bytes())  # same bytes, new mtime
    os.utime(fortunes, ns=(time.time_ns(), time.time_ns() + 10**9))
    third = ingest(cfg, tmp_path / "run", LocalExecutor(1))
    assert len(third.ran) == 1
    changed = ingest(IngestConfig(inputs=[str(src)], shard_mb=0.01, batch_rows=100),
                     tmp_path / "run", LocalExecutor(1))
    assert len(changed.ran) == 7  # a config change redoes every shard


def test_reject_mode_writes_rejects_and_conserves_counts(tmp_path, corpus_dir):
    data = (corpus_dir / "fortunes.jsonl.zst").read_bytes()
    import zstandard

    lines = zstandard.ZstdDecompressor().stream_reader(data).read().splitlines()[:200]
    lines[10] = b'{"text": "broken'
    lines[20] = b'{"other": 1}'
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(InputError, match=r"in\.jsonl, line/row 11"):
        ingest(IngestConfig(inputs=[str(tmp_path / "in.jsonl")]), tmp_path / "strict")
    report = ingest(IngestConfig(inputs=[str(tmp_path / "in.jsonl")], on_error="reject"),
                    tmp_path / "run")
    t = report.totals
    assert (t["docs_in"], t["kept"], t["rejected"]) == (200, 198, 2)
    assert t["rejected_malformed_json"] == 1 and t["rejected_missing_text"] == 1
    rejects = pq.read_table(tmp_path / "run/ingest/rejects/shard-00000.parquet").to_pylist()
    assert [(r["source"], r["reason"]) for r in rejects] == [
        (f"{tmp_path}/in.jsonl:11", "malformed_json"),
        (f"{tmp_path}/in.jsonl:21", "missing_text")]
    assert rejects[0]["raw"] == b'{"text": "broken'


def test_bad_config_fails_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'batch_size'"):
        from_dict(IngestConfig, {"inputs": ["x"], "batch_size": 3})
    with pytest.raises(ConfigError, match="must be a whole number"):
        from_dict(IngestConfig, {"inputs": ["x"], "batch_rows": 2.5})
    with pytest.raises(ConfigError, match="choose one of"):
        from_dict(IngestConfig, {"inputs": ["x"], "on_error": "ignore"})
    with pytest.raises(ConfigError, match="does not exist"):
        ingest(IngestConfig(inputs=[str(tmp_path / "missing")]), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def _slow_corpus(tmp_path: Path, corpus_dir: Path, n_files: int = 12) -> Path:
    """Many mid-sized files, so a kill lands with some shards done and some not."""
    import zstandard

    src = tmp_path / "big"
    src.mkdir()
    raw = zstandard.ZstdDecompressor().stream_reader(
        (corpus_dir / "python_code.jsonl.zst").read_bytes()).read()
    for i in range(n_files):
        (src / f"part{i:02d}.jsonl").write_bytes(raw * 6)
    return src


def test_kill_midway_then_resume_is_byte_identical(tmp_path, corpus_dir):
    src = _slow_corpus(tmp_path, corpus_dir)
    cmd = [sys.executable, "-m", "mixforge", "ingest", str(src), "--run-dir",
           str(tmp_path / "run"), "--workers", "1", "--shard-mb", "1", "--domain", "code"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    markers = tmp_path / "run/ingest/_markers"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(markers.glob("*.json"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in markers.glob("*.json")}
    assert 3 <= len(done_before) < 12, "the kill should land midway"
    subprocess.run(cmd, check=True, capture_output=True)
    after = {p.name: p.stat().st_mtime_ns for p in markers.glob("*.json")}
    assert len(after) == 12
    assert all(after[k] == v for k, v in done_before.items()), "finished shards were redone"
    subprocess.run([*cmd[:6], str(tmp_path / "clean"), *cmd[7:]], check=True,
                   capture_output=True)
    assert _digest(tmp_path / "run") == _digest(tmp_path / "clean")
    assert not list((tmp_path / "run/ingest").glob(".*tmp*")), "temp files left behind"


def test_cli_ingest_and_stats(tmp_path, corpus_dir):
    runner = CliRunner()
    res = runner.invoke(main, ["ingest", str(corpus_dir), "-r", str(tmp_path / "run"),
                               "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "documents kept" in res.output and "fortunes" in res.output
    res = runner.invoke(main, ["stats", str(tmp_path / "run")])
    assert res.exit_code == 0 and "TOTAL" in res.output
    res = runner.invoke(main, ["ingest", str(tmp_path / "nope"), "-r", str(tmp_path / "r2")])
    assert res.exit_code == 2 and "does not exist" in res.output


@pytest.mark.parametrize("cmd", [[], ["corpus"], ["ingest"], ["stats"], ["demo"]])
def test_every_command_has_help(cmd):
    res = CliRunner().invoke(main, [*cmd, "--help"])
    assert res.exit_code == 0 and "Usage:" in res.output and len(res.output) > 200
