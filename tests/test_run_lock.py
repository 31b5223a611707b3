"""One writer per run directory (case newcomer-1 "two runs at once"), with real processes:
the second process names the holder and exits; a lock left by a killed process is taken
over with a warning; nothing the first one writes is lost. Rules: docs/ingest.md."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mixforge.rundir import LOCK, RunDirBusy, run_lock
from tests.processes import env, ingest_argv, slow_corpus

HOLD = ("import sys, time\nfrom mixforge.rundir import run_lock\n"
        "with run_lock(sys.argv[1], 'the holder'):\n"
        "    print('locked', flush=True)\n    time.sleep(120)\n")



def _corpus(folder: Path, files: int = 8, lines: int = 20000) -> Path:
    return slow_corpus(folder, files, lines)


def _ingest(src: Path, run: Path) -> list[str]:
    return ingest_argv(src, run, workers=1)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "_stage.json"
            and "_markers" not in p.parts}


def test_second_process_names_the_holder_and_exits(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE,
                              env=env(), text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        src = _corpus(tmp_path / "in", files=1, lines=10)
        res = subprocess.run(_ingest(src, run), capture_output=True, text=True, env=env(),
                             timeout=120)
        assert res.returncode == 1
        assert f"in use by pid {holder.pid} on {socket.gethostname()} (the holder" in res.stderr
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
        assert not (run / "ingest").exists()
        with pytest.raises(RunDirBusy, match=f"pid {holder.pid}"):  # the Python API too
            with run_lock(run):
                pass
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    # killed with -9: its lock file is left behind; the next writer takes it over
    assert json.loads((run / LOCK).read_text())["pid"] == holder.pid
    res = subprocess.run(_ingest(src, run), capture_output=True, text=True, env=env(),
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"taking over a stale lock of pid {holder.pid}" in res.stderr
    assert not (run / LOCK).exists()


@pytest.mark.slow  # ~50 s on 2 busy cores; the holder test above checks the lock by default
def test_two_ingests_at_once_lose_nothing(tmp_path):
    src = _corpus(tmp_path / "in", files=40)  # long enough to outlast the second's start
    run = tmp_path / "run"
    first = subprocess.Popen(_ingest(src, run), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=env(), text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list(run.glob("ingest/.*.tmp-*")):
        time.sleep(0.01)  # the first is writing a shard now
    second = subprocess.run(_ingest(src, run), capture_output=True, text=True, env=env(),
                            timeout=120)
    assert first.poll() is None, "the first ingest ended before the second started"
    assert second.returncode == 1 and f"in use by pid {first.pid}" in second.stderr
    assert first.wait(timeout=300) == 0
    first.stderr.close()
    clean = subprocess.run([*_ingest(src, tmp_path / "clean")], capture_output=True,
                           env=env(), timeout=300)
    assert clean.returncode == 0
    assert _digest(run) == _digest(tmp_path / "clean")


def test_lock_is_reentrant_in_one_process_and_released(tmp_path):
    with run_lock(tmp_path / "r") as path, run_lock(tmp_path / "r"):
        info = json.loads(path.read_text())
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
    assert not path.exists()
    with run_lock(tmp_path / "r"):  # and can be taken again
        pass


def test_a_kill_during_a_stage_leaves_a_lock_the_rerun_takes_over(tmp_path):
    src = _corpus(tmp_path / "in")
    run = tmp_path / "run"
    proc = subprocess.Popen(_ingest(src, run), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env())
    deadline = time.time() + 60
    while time.time() < deadline and not list(run.glob("ingest/_markers/*.json")):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (run / LOCK).exists()
    res = subprocess.run(_ingest(src, run), capture_output=True, text=True, env=env(),
                         timeout=300)
    assert res.returncode == 0 and "stale lock" in res.stderr


def test_a_stage_sub_folder_locks_its_run_directory(tmp_path):
    from mixforge.rundir import run_dir_of

    assert run_dir_of(tmp_path / "run" / "dedup_exact" / "_map") == tmp_path / "run"
    assert run_dir_of(tmp_path / "run" / "ingest") == tmp_path / "run"


def test_export_refuses_while_another_process_writes_the_run(tmp_path, token_store):
    """`export -r RUN` reads RUN's token store under the run's lock: while another process
    writes the run (say a tokenize rerun), the export says who and exits 1."""
    import shutil

    from click.testing import CliRunner

    from mixforge.cli import main
    from mixforge.mixers.mix import Mix

    run = tmp_path / "run"
    shutil.copytree(token_store, run / "tokenize")
    mix = Mix({"fortunes": 1.0}, budget_tokens=2_000).save(tmp_path / "m.yaml")
    args = ["export", "-r", str(run), "--mix", str(mix), "--format", "nanogpt",
            "-o", str(tmp_path / "out"), "--val-fraction", "0.1", "--over-cap", "shrink"]
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE,
                              env=env(), text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 1 and "in use by pid" in res.output
        assert not (tmp_path / "out").exists()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert CliRunner().invoke(main, args).exit_code == 0
