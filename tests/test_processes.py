"""Processes of a parallel stage, with real processes and bounded waits (cases newcomer-1
"killed parent" and "Ctrl-C"): workers exit with their parent, Ctrl-C and a killed
worker each give one line and a resumable run."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

from mixforge.executor import WATCH_SECONDS
from tests.processes import env, ingest_argv, slow_corpus


def _corpus(folder: Path, files: int = 12, lines: int = 30000) -> Path:
    return slow_corpus(folder, files, lines)


def _ingest(src: Path, run: Path) -> list[str]:
    return ingest_argv(src, run, workers=2)


def _workers_started(proc: subprocess.Popen, timeout: float = 120) -> list[psutil.Process]:
    """The main process's descendants (forkserver, its workers, the resource tracker)
    once two workers run; the workers are the forkserver's children."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        kids = psutil.Process(proc.pid).children(recursive=True)
        servers = [k for k in kids if "forkserver" in " ".join(k.cmdline())
                   and k.ppid() == proc.pid]
        if servers and len(servers[0].children()) >= 2:
            return psutil.Process(proc.pid).children(recursive=True)
        time.sleep(0.05)
    msg = "the workers did not start"
    raise AssertionError(msg)


def _gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return alive


def test_workers_exit_when_the_main_process_is_killed(tmp_path):
    src = _corpus(tmp_path / "in")
    proc = subprocess.Popen(_ingest(src, tmp_path / "run"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env())
    kids = _workers_started(proc)
    proc.kill()
    proc.wait()
    alive = _gone(kids, timeout=10 * WATCH_SECONDS + 10)
    for p in alive:  # do not leave them behind whatever the outcome
        p.kill()
    assert not alive, [" ".join(p.cmdline()) for p in alive]


def test_ctrl_c_is_one_line_and_a_rerun_resumes(tmp_path):
    src = _corpus(tmp_path / "in")
    run = tmp_path / "run"
    proc = subprocess.Popen(_ingest(src, run), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env(), text=True,
                            start_new_session=True)
    kids = _workers_started(proc)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    lines = [ln for ln in err.splitlines() if ln.strip() and "%|" not in ln]
    assert lines == ["mixforge: interrupted during `ingest`; finished shards are kept, "
                     "rerun the same command to resume"], err
    assert not _gone(kids, timeout=10)
    res = subprocess.run(_ingest(src, run), capture_output=True, text=True, env=env(),
                         timeout=300)
    assert res.returncode == 0, res.stderr
    assert "360,000 documents kept" in res.stdout


def test_a_killed_worker_is_one_clear_line(tmp_path):
    src = _corpus(tmp_path / "in")
    proc = subprocess.Popen(_ingest(src, tmp_path / "run"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env(), text=True)
    kids = _workers_started(proc)
    server = next(k for k in kids if k.ppid() == proc.pid and "forkserver" in
                  " ".join(k.cmdline()))
    server.children()[0].kill()
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert "a worker process died" in err and "rerun the same command to resume" in err
