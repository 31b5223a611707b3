"""The README's tour runs as written (case newcomer-1 "README tour").

The commands are parsed from README.md, so the test and the README cannot drift. The one
change: the corpus is built smaller (``--max-mb``), so the tour fits a test's time; every
other argument is the README's own. Slow: the whole loop, probes included.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOUR_MB = "6"  # 2 MB leaves the pipeline one python_code document after its filter


def tour_commands(readme: str) -> list[str]:
    """The tour's mixforge commands, in order (``a && b`` split, comments dropped)."""
    section = readme.split("## A tour", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith(". "):  # the venv activation
            continue
        commands.extend(c.strip() for c in line.split("&&"))
    return commands


def test_tour_is_parsed():
    cmds = tour_commands((ROOT / "README.md").read_text())
    assert cmds[0].startswith("mixforge corpus") and cmds[-1].startswith("mixforge run")
    assert all(c.startswith("mixforge ") for c in cmds)
    assert len(cmds) >= 12


@pytest.mark.slow
def test_readme_tour_runs_as_written(tmp_path):
    cmds = tour_commands((ROOT / "README.md").read_text())
    (tmp_path / "examples").mkdir()
    for f in (ROOT / "examples").glob("*.yaml"):  # its relative paths land in tmp_path
        shutil.copy(f, tmp_path / "examples" / f.name)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    exe = [sys.executable, "-m", "mixforge"]
    timings = []
    for cmd in cmds:
        argv = shlex.split(cmd)[1:]
        if argv[0] == "corpus":
            argv[argv.index("--max-mb") + 1] = TOUR_MB
        start = time.perf_counter()
        res = subprocess.run([*exe, *argv], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=900)
        timings.append((cmd, round(time.perf_counter() - start, 1)))
        assert res.returncode == 0, f"{cmd}\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
        assert "Traceback" not in res.stderr, cmd
    print("\n".join(f"{s:7.1f} s  {c}" for c, s in timings))
    assert (tmp_path / "out/megatron/mixforge-export.json").is_file()
    assert (tmp_path / "best.yaml").is_file() and (tmp_path / "runs/r1/report.html").is_file()
