"""Run directories, inputs and exports on an object store (mixforge/storage.py), against a
real S3 server (moto's, on 127.0.0.1, authentication on) through s3fs: the same bytes as on
local disk, markers written last so a killed run resumes from the store, one clear error
before any work, the lock object. Rules: docs/storage.md."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from mixforge.errors import FatalError
from mixforge.executor import LocalExecutor
from mixforge.ingest import IngestConfig, ingest
from mixforge.pipeline import load_pipeline, run_pipeline
from mixforge.rundir import RunDirBusy, run_lock
from mixforge.storage import cache_root
from tests.processes import slow_corpus
from tests.s3 import S3, child_env, digest_dir, digest_store, s3  # noqa: F401

PIPELINE = {
    "workers": 1,  # in-process: the pool's forkserver may predate this module's environment
    "report": False,
    "ingest": {"shard_mb": 0.3},
    "dedup_exact": {"buckets": 2},  # fewer, larger shuffle files: fewer objects to upload
    "dedup_fuzzy": {"buckets": 2},
    "filter": {"gopher_quality": {"enabled": False}, "c4": {"enabled": False},
               "language": {"languages": []}},
    "tokenizer": {"vocab_size": 1024, "max_mb": 1},
    "tokenize": {},
    "mix": {"strategy": "natural", "epoch_cap": 1.0},
    "export": [{"format": "nanogpt", "val_fraction": 0.0}],
}


def _data(digest: dict[str, str]) -> dict[str, str]:
    """The data files of a run: JSON summaries name their run's own path and timings."""
    return {k: v for k, v in digest.items() if not k.endswith(".json")}


def _pipeline(tmp: Path, name: str, run_dir: str, inputs: str) -> dict:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**PIPELINE, "run_dir": run_dir,
                                    "ingest": {**PIPELINE["ingest"], "inputs": [inputs]}}))
    return run_pipeline(load_pipeline(path))


@pytest.fixture(scope="module")
def runs(s3: S3, corpus_dir: Path, tmp_path_factory):  # noqa: F811
    """The pinned corpus in a bucket, through the whole pipeline twice: the run directory
    in the bucket, and on local disk."""
    tmp = tmp_path_factory.mktemp("s3runs")
    s3.bucket("data")
    s3.fs.put(str(corpus_dir) + "/", "data/corpus", recursive=True)
    local = _pipeline(tmp, "local", str(tmp / "local"), "s3://data/corpus")
    remote = _pipeline(tmp, "remote", "s3://data/runs/a", "s3://data/corpus")
    return tmp, remote, local


def test_a_pipeline_in_a_bucket_writes_the_same_bytes_as_on_disk(s3: S3, runs):  # noqa: F811
    tmp, _remote, _local = runs
    on_store = digest_store(s3, "data/runs/a")
    on_disk = digest_dir(tmp / "local")
    assert _data(on_store) == _data(on_disk) and len(_data(on_disk)) > 20
    assert on_store.keys() == on_disk.keys() - {".mixforge.lock"}  # nothing else, no temp
    for stage in ("ingest", "dedup_exact", "dedup_fuzzy", "filter", "tokenize"):
        markers = [k for k in on_store if k.startswith(f"{stage}/_markers/")]
        assert markers, stage
        for key in markers:  # a marker on the store always means a complete shard
            marker = json.loads(s3.fs.cat_file(f"data/runs/a/{key}"))
            for out in marker["outputs"]:
                assert f"{stage}/{out}" in on_store, (key, out)
    # the documents name where they came from by URL, not by the local mirror
    import pyarrow.parquet as pq

    first = sorted(k for k in on_store if k.startswith("ingest/shard-"))[0]
    src = pq.read_table(tmp / "local" / first, columns=["source"])["source"][0].as_py()
    assert src.startswith("s3://data/corpus/"), src
    assert ".mixforge.lock" not in on_store  # released


def test_a_rerun_against_the_bucket_does_no_work(runs, s3: S3, tmp_path):  # noqa: F811
    tmp, _remote, _local = runs
    before = digest_store(s3, "data/runs/a")
    with pytest.MonkeyPatch.context() as mp:  # another machine: an empty mirror
        mp.setenv("MIXFORGE_CACHE", str(tmp_path / "other-mirror"))
        again = _pipeline(tmp, "remote", "s3://data/runs/a", "s3://data/corpus")
    assert again["ingest"].ran == [] and again["tokenize"].ran == []
    assert again["dedup_exact"].stage.ran == [] and again["filter"].ran == []
    assert _data(digest_store(s3, "data/runs/a")) == _data(before)


def test_an_export_written_to_a_bucket_reads_back(runs, s3: S3, tmp_path):  # noqa: F811
    from mixforge.cli import main

    tmp, _remote, _local = runs
    mix = tmp / "local" / "mix" / "natural.yaml"
    args = ["export", "-r", "s3://data/runs/a", "--mix", str(mix), "--format", "nanogpt",
            "--val-fraction", "0", "-o", "s3://data/exports/ng"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    keys = sorted(s3.fs.find("data/exports/ng"))
    assert "data/exports/ng/train.bin" in keys and "data/exports/ng/mixforge-export.json" in keys
    assert not [k for k in keys if ".tmp-" in k]
    s3.fs.get_file("data/exports/ng/train.bin", str(tmp_path / "train.bin"))
    tokens = np.memmap(tmp_path / "train.bin", dtype=np.uint16, mode="r")  # as nanoGPT reads
    manifest = json.loads(s3.fs.cat_file("data/exports/ng/mixforge-export.json"))
    assert len(tokens) == manifest["splits"]["train"]["tokens"] > 1000
    local = (tmp / "local" / "export" / "nanogpt" / "train.bin").read_bytes()
    assert tokens.tobytes() == local  # the pipeline's export on disk: the same mix
    # a second export to the same URL is refused without --overwrite, replaced with it
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "pass --overwrite" in res.output  # a config error
    res = CliRunner().invoke(main, [*args, "--overwrite"])
    assert res.exit_code == 0, res.output
    assert sorted(s3.fs.find("data/exports/ng")) == keys
    res = CliRunner().invoke(main, ["stats", "s3://data/runs/a", "--stage", "filter"])
    assert res.exit_code == 0 and "[filter]" in res.output, res.output
    res = CliRunner().invoke(main, ["report", "s3://data/runs/a"])
    assert res.exit_code == 0, res.output
    s3.fs.invalidate_cache()  # the tests' client listed the run before the report existed
    assert b"<html" in s3.fs.cat_file("data/runs/a/report.html")[:200].lower()
    res = CliRunner().invoke(main, ["probe", "sweep", "-r", "s3://data/runs/a"])
    assert res.exit_code == 1 and "probe sweep needs a local run directory" in res.output


def test_bad_credentials_missing_bucket_or_protocol_stop_before_any_work(
        s3: S3, tmp_path, monkeypatch):  # noqa: F811
    import s3fs

    from mixforge.cli import main

    s3.bucket("empty")
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jsonl").write_text('{"text": "hello there"}\n')
    mirror = cache_root() / "s3" / "empty"
    argv = ["ingest", str(src), "--domain", "d", "-r"]
    res = CliRunner().invoke(main, [*argv, "s3://nosuchbucket/run"])
    assert res.exit_code == 1
    assert "bucket s3://nosuchbucket does not exist" in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    s3fs.S3FileSystem.clear_instance_cache()
    with pytest.raises(FatalError, match=r"access denied by the store.*credentials"):
        ingest(IngestConfig(inputs=[str(src)], domain="d"), "s3://empty/run")
    res = CliRunner().invoke(main, [*argv, "s3://empty/run"])
    assert res.exit_code == 1 and "access denied" in res.output
    monkeypatch.undo()
    s3fs.S3FileSystem.clear_instance_cache()
    assert s3.fs.find("empty") == [] and not mirror.exists()  # nothing written, anywhere
    with pytest.raises(FatalError, match="unknown storage protocol nosuch://"):
        ingest(IngestConfig(inputs=[str(src)], domain="d"), "nosuch://b/run")
    try:  # gcsfs is not a dependency: its absence is named with the package to install
        import gcsfs  # noqa: F401
    except ImportError:
        with pytest.raises(FatalError, match="gcsfs"):
            ingest(IngestConfig(inputs=[str(src)], domain="d"), "gs://b/run")


def test_the_lock_is_an_object_naming_its_holder(s3: S3, tmp_path):  # noqa: F811
    s3.bucket("locks")
    lock = "locks/run/.mixforge.lock"
    with run_lock("s3://locks/run", "the holder"):
        info = json.loads(s3.fs.cat_file(lock))
        assert info["pid"] == os.getpid() and info["command"] == "the holder"
        with run_lock("s3://locks/run"):  # re-entrant in one process
            pass
    assert not s3.fs.exists(lock)
    alive = {"pid": os.getppid(), "host": socket.gethostname(), "command": "mixforge x"}
    s3.fs.pipe_file(lock, json.dumps(alive).encode())
    with pytest.raises(RunDirBusy, match=f"pid {os.getppid()}.*mixforge x"):
        with run_lock("s3://locks/run"):
            pass
    elsewhere = {**alive, "host": "another-machine"}
    s3.fs.pipe_file(lock, json.dumps(elsewhere).encode())
    with pytest.raises(RunDirBusy, match=r"another-machine.*delete the object"):
        with run_lock("s3://locks/run"):
            pass
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    s3.fs.pipe_file(lock, json.dumps({**alive, "pid": int(dead)}).encode())
    with run_lock("s3://locks/run"):  # a dead process on this host: taken over
        assert json.loads(s3.fs.cat_file(lock))["pid"] == os.getpid()
    assert not s3.fs.exists(lock)


def test_a_killed_run_resumes_from_the_store(s3: S3, tmp_path):  # noqa: F811
    s3.bucket("kill")
    src = slow_corpus(tmp_path / "in", files=4, lines=8000)  # ~1 MB each, a shard each
    s3.fs.put(str(src) + "/", "kill/in", recursive=True)
    argv = [sys.executable, "-m", "mixforge", "ingest", "s3://kill/in", "-r", "s3://kill/run",
            "--workers", "2", "--shard-mb", "0.5", "--domain", "d"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=child_env(s3), start_new_session=True)
    fs = s3.fs
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        fs.invalidate_cache()
        if fs.glob("kill/run/ingest/_markers/*.json"):
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers: a lost machine
    proc.wait()
    fs.invalidate_cache()
    done = sorted(Path(k).stem for k in fs.glob("kill/run/ingest/_markers/*.json"))
    assert 1 <= len(done) < 4, "the run was not killed midway"
    assert fs.exists("kill/run/.mixforge.lock")  # left by the killed process
    with pytest.MonkeyPatch.context() as mp:  # resume on another machine: an empty mirror
        mp.setenv("MIXFORGE_CACHE", str(tmp_path / "mirror2"))
        cfg = IngestConfig(inputs=["s3://kill/in"], domain="d", shard_mb=0.5)
        report = ingest(cfg, "s3://kill/run", LocalExecutor(1))
        clean = ingest(cfg, tmp_path / "clean", LocalExecutor(1))
    assert report.skipped == done and len(report.ran) == 4 - len(done)
    on_store = digest_store(s3, "kill/run")
    assert _data(on_store) == _data(digest_dir(tmp_path / "clean"))
    assert ".mixforge.lock" not in on_store and not [k for k in on_store if ".tmp-" in k]
    assert len(clean.ran) == 4


def test_a_worker_without_the_mirror_fetches_its_inputs(runs, s3: S3, tmp_path):  # noqa: F811
    """A task on a machine that does not share the driver's disk pulls what it reads."""
    from mixforge import storage

    mirror = cache_root() / "s3/data/runs/a/ingest"
    shard = sorted(mirror.glob("shard-*.parquet"))[0]
    want = shard.read_bytes()
    shard.unlink()
    storage.fetch([shard, tmp_path / "not-mirrored"])
    assert shard.read_bytes() == want
    assert storage.url_of(shard) == f"s3://data/runs/a/ingest/{shard.name}"
    assert storage.url_of(mirror / f".{shard.name}.tmp-12") is None  # temp names stay local
    one = storage.local("s3://data/corpus/fortunes.jsonl.zst")  # a single object as input
    assert one.read_bytes() == s3.fs.cat_file("data/corpus/fortunes.jsonl.zst")


def test_the_readme_s3_line_runs_as_written(s3: S3, corpus_dir: Path, tmp_path):  # noqa: F811
    """README's object-storage line, parsed from README.md, against this server (the
    bucket name is the one change)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("mixforge ingest s3://"))
    argv = line.split("#", 1)[0].replace("my-bucket", "readme").split()
    s3.bucket("readme")
    s3.fs.put(str(corpus_dir) + "/", "readme/corpus", recursive=True)
    res = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True,
                         env=child_env(s3), timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    s3.fs.invalidate_cache()
    stage = json.loads(s3.fs.cat("readme/runs/r1/ingest/_stage.json"))
    local = ingest(IngestConfig(inputs=[str(corpus_dir)]), tmp_path / "local", LocalExecutor(1))
    assert stage["totals"] == local.totals and local.totals["kept"] > 3000
