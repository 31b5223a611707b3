"""bench/all.py: runs benchmark scripts on a corpus and rewrites docs/benchmarks.md's tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.pinned import pinned_copy

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def bench_all():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_all", ROOT / "bench" / "all.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quick_run_rewrites_the_tables_in_place_and_keeps_the_prose(tmp_path):
    corpus = pinned_copy("corpus", tmp_path / "corpus")
    doc = tmp_path / "benchmarks.md"
    prose = (ROOT / "docs" / "benchmarks.md").read_text()
    stale = "<!-- bench:dedup_fuzzy:pinned -->\nSTALE TABLE\n<!-- /bench -->\n"
    doc.write_text(prose.replace("### 1,000,000 documents", stale + "\n### 1,000,000 documents"))
    p = subprocess.run([sys.executable, "-m", "bench.all", "--corpus", f"pinned={corpus}",
                        "--quick", "--only", "dedup_fuzzy,filters", "--doc", str(doc)],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    out = doc.read_text()
    assert "STALE TABLE" not in out
    # the stale block was rewritten where it stood; the new one went to the end
    fuzzy = out.index("<!-- bench:dedup_fuzzy:pinned -->")
    assert fuzzy < out.index("### 1,000,000 documents") < out.index("## Tables by corpus")
    assert out.index("## Tables by corpus") < out.index("<!-- bench:filters:pinned -->")
    for name, must in (("dedup_fuzzy", "datasketch MinHashLSH"),
                       ("filters", "datatrove, 4 filters chained")):
        start = out.index(f"<!-- bench:{name}:pinned -->")
        block = out[start:out.index("<!-- /bench -->", start)]
        assert out.count(f"<!-- bench:{name}:pinned -->") == 1
        assert must in block and "mixforge" in block and "|---|" in block
        # the command reproduces the table on its own, on the corpus (not our scratch run)
        assert f"`python -m bench.{name} " in block and f"--corpus {corpus} " in block
        assert "60 documents" in block  # --quick: the first 60 documents
    # the hand-written prose around the tables is all still there
    for line in prose.splitlines():
        assert line in out


def test_a_crashing_benchmark_is_reported_not_fatal(tmp_path):
    mod = bench_all()
    res = mod.run_one("bench._no_such_benchmark", [], tmp_path / "x.json", timeout=60)
    assert res["error"].startswith("exit 1:") and "No module named" in res["error"]
    block = mod.render("x", "c", res, "now")
    assert "**failed**: exit 1" in block
    doc = mod.rewrite("# B\n\nprose\n", {("x", "c"): block})
    assert doc.startswith("# B\n\nprose\n") and "### x on c" in doc
    assert mod.rewrite(doc, {("x", "c"): mod.render("x", "c", {"rows": [{"a": 1}]}, "t")}) \
        .count("<!-- bench:x:c -->") == 1
