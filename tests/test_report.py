"""The HTML report: sections from what the stages wrote, and every image loads in Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from mixforge.ingest import IngestConfig, ingest
from mixforge.report import NO_DOMAIN, SAMPLES_PER_REASON, build_report, funnel, rejects

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def run_with_rejects(tmp_path, corpus_dir):
    (tmp_path / "bad.jsonl").write_bytes(b'{"text": "fine text here"}\n{"text": \n{"x": 1}\n')
    run = tmp_path / "run"
    ingest(IngestConfig(inputs=[str(corpus_dir), str(tmp_path / "bad.jsonl")],
                        on_error="reject"), run)
    return run


def test_report_sections_follow_the_run(run_with_rejects):
    f = funnel(run_with_rejects)
    assert f.row(0, named=True)["rejected"] == 2
    counts, samples = rejects(run_with_rejects)
    assert sorted(counts["reason"].to_list()) == ["malformed_json", "missing_text"]
    assert samples[("ingest", NO_DOMAIN, "missing_text")] == ['{"x": 1}']
    html = build_report(run_with_rejects).read_text()
    for heading in ("Document funnel", "Rejects", "Domain sizes through the stages"):
        assert heading in html
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) == 3


def test_rejects_are_counted_and_sampled_per_domain(tmp_path, ingested_run):
    """Two domains drop under different rules (python_code under the code rules, fortunes
    under the dialogue rules): the report counts and samples each (stage, domain, reason)
    as the rejects files hold them."""
    import html as html_lib

    import polars as pl
    import pyarrow.parquet as pq

    from mixforge.curate.filter_stage import run_filter
    from mixforge.curate.filters import FilterConfig
    from mixforge.executor import LocalExecutor

    run = tmp_path / "run"
    shutil.copytree(ingested_run / "ingest", run / "ingest")
    run_filter(FilterConfig(policy="python_code=code,fortunes=dialogue,*=none"), run,
               LocalExecutor(1))
    files = sorted((run / "filter" / "rejects").glob("*.parquet"))
    assert len(files) >= 2
    rej = pl.concat([pl.from_arrow(pq.read_table(f, columns=["domain", "reason", "text"]))
                     for f in files])
    counts, samples = rejects(run)
    got = counts.filter(pl.col("stage") == "filter")
    want = rej.group_by("domain", "reason").len().rename({"len": "docs"})
    assert (got.drop("stage").sort("domain", "reason").rows()
            == want.cast({"docs": pl.Int64}).sort("domain", "reason").rows())
    by_domain = {d: set(part["reason"]) for (d,), part in got.group_by("domain")}
    assert set(by_domain) == {"python_code", "fortunes"}
    assert all(r.startswith("code_") for r in by_domain["python_code"])
    assert not any(r.startswith("code_") for r in by_domain["fortunes"])
    for domain, reason, n in got.select("domain", "reason", "docs").rows():
        first = rej.filter((pl.col("domain") == domain) & (pl.col("reason") == reason))
        assert samples[("filter", domain, reason)] == [
            t[:400] for t in first["text"].head(SAMPLES_PER_REASON)]
        assert len(samples[("filter", domain, reason)]) == min(n, SAMPLES_PER_REASON)
    page = build_report(run).read_text()
    for domain, reason, n in got.select("domain", "reason", "docs").rows():
        k = min(n, SAMPLES_PER_REASON)
        assert f"<h3>filter · {domain}: {reason} ({k} of {n:,})</h3>" in page
        assert html_lib.escape(samples[("filter", domain, reason)][0]) in page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                    "(scripts/ensure-chromium.sh installs it as root)")
def test_every_image_loads_in_headless_chromium(run_with_rejects, tmp_path):
    path = build_report(run_with_rejects)
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--virtual-time-budget=5000", "--dump-dom",
                          path.as_uri()], capture_output=True, text=True, timeout=120).stdout
    m = re.search(r'data-images="(\d+)" data-loaded="(\d+)"', dom)
    assert m, "the page's load script did not run"
    assert int(m.group(1)) == int(m.group(2)) == 3
    shot = tmp_path / "report.png"
    subprocess.run([*common, "--window-size=1100,2000", f"--screenshot={shot}",
                    path.as_uri()], capture_output=True, timeout=120)
    from PIL import Image

    img = Image.open(shot).convert("L")
    assert img.size == (1100, 2000)
    assert len(img.getcolors(maxcolors=1 << 16) or range(999)) > 20, "the screenshot is blank"


def test_report_flags_a_sweep_older_than_the_store(tmp_path, token_store):
    """The store was rebuilt with other domains after the sweep: the report says the sweep
    is stale instead of crashing on the missing domain (newcomer trial)."""
    import shutil

    import polars as pl

    from mixforge.report import build_report

    run = tmp_path / "run"
    shutil.copytree(token_store, run / "tokenize")
    (run / "probes").mkdir()
    pl.DataFrame({"probe": [f"p{i}" for i in range(5)], "w:ghost": [1.0] * 5,
                  "bpb:ghost": [3.0, 3.1, 3.2, 3.3, 3.4], "bpb:avg": [3.0] * 5}
                 ).write_parquet(run / "probes" / "results.parquet")
    html = build_report(run).read_text()
    assert "the sweep is stale" in html


def test_stats_and_report_refuse_a_folder_that_is_not_a_run(tmp_path):
    from click.testing import CliRunner

    from mixforge.cli import main

    (tmp_path / "empty").mkdir()
    for cmd in (["stats", str(tmp_path / "empty")], ["report", str(tmp_path / "empty")]):
        res = CliRunner().invoke(main, cmd)
        assert res.exit_code == 2 and "not a run directory" in res.output, cmd
    assert not (tmp_path / "empty" / "report.html").exists()
