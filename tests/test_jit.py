"""The first-run Numba compile is announced (case newcomer-1 "first run silence")."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from mixforge.jit import announce_compile, uncached_kernels


def test_uncompiled_kernels_are_announced_once(tmp_path, monkeypatch, caplog):
    pkg = tmp_path / "jitprobe_mod.py"
    pkg.write_text(textwrap.dedent("""
        from numba import njit

        @njit(cache=True)
        def twice(x):
            return 2 * x

        @njit(cache=True)
        def unused(x):
            return x
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    assert uncached_kernels("jitprobe_mod") == ["twice", "unused"]
    with caplog.at_level(logging.WARNING):
        assert announce_compile("probe", "jitprobe_mod")
    assert "probe: compiling Numba kernels (first run only" in caplog.text
    import jitprobe_mod

    assert jitprobe_mod.twice(2) == 4  # compiles and writes the cache
    assert uncached_kernels("jitprobe_mod") == ["unused"]  # never called: no cache
    assert not announce_compile("probe", "jitprobe_mod")  # but the module ran before


def test_a_fresh_machine_sees_the_filter_kernels_as_uncompiled(tmp_path):
    """On an empty Numba cache (a fresh machine), the filter's kernels count as missing."""
    root = str(Path(__file__).resolve().parents[1])
    code = ("from mixforge.jit import uncached_kernels as u\n"
            "print(len(u('mixforge.curate._textstats_kernels')),"
            " len(u('mixforge.curate._kernels')))")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": root}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    assert int(out[0]) > 5 and int(out[1]) > 5
