"""`mixforge run`: one config drives the stages; bad configs fail before any work."""

from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner

from mixforge.cli import main
from mixforge.errors import ConfigError
from mixforge.pipeline import load_pipeline, run_pipeline


def _write(path, text):
    path.write_text(text)
    return path


def test_pipeline_runs_and_a_rerun_changes_no_byte(tmp_path, corpus_dir):
    cfg_path = _write(tmp_path / "p.yaml", f"run_dir: run\ningest:\n  inputs: [{corpus_dir}]\n")
    cfg = load_pipeline(cfg_path)
    assert cfg.run_dir == str(tmp_path / "run")
    results = run_pipeline(cfg)
    assert results["ingest"].totals["kept"] > 1000
    assert (tmp_path / "run/report.html").exists()

    def digest():
        return {p: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted((tmp_path / "run").rglob("*.parquet"))}

    before = digest()
    again = run_pipeline(load_pipeline(cfg_path))
    assert again["ingest"].ran == [] and digest() == before


@pytest.mark.parametrize(("text", "match"), [
    ("ingest:\n  inputs: [x]\n  batchrows: 3\n", "unknown key 'batchrows' in p.yaml.ingest"),
    ("ingest:\n  inputs: [x]\n  batch_rows: many\n", "p.yaml.ingest.batch_rows"),
    ("executor: spark\ningest:\n  inputs: [x]\n", "choose one of"),
    ("run_dir: r\n", "needs an 'ingest' section"),
    ("ingest: [\n", "not valid YAML"),
])
def test_bad_pipeline_configs_name_the_key(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_pipeline(_write(tmp_path / "p.yaml", text))


def test_cli_run_dry_run_does_nothing(tmp_path, corpus_dir):
    cfg_path = _write(tmp_path / "p.yaml", f"run_dir: run\ningest:\n  inputs: [{corpus_dir}]\n")
    res = CliRunner().invoke(main, ["run", str(cfg_path), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "# stages: ingest" in res.output and "dry run" in res.output
    assert not (tmp_path / "run").exists()
    res = CliRunner().invoke(main, ["run", str(_write(tmp_path / "b.yaml", "workers: x\n"))])
    assert res.exit_code == 2 and "config error" in res.output


def test_targets_section_feeds_the_sweep(tmp_path):
    text = ("ingest:\n  inputs: [x]\ntokenize: {}\ntargets:\n  mine: eval/set.jsonl\n"
            "  hub: hf:org/set\nprobe:\n  n_probes: 2\n")
    cfg = load_pipeline(_write(tmp_path / "p.yaml", text))
    assert cfg.probe.targets == ["hub=hf:org/set", f"mine={tmp_path / 'eval/set.jsonl'}"]
    with pytest.raises(ConfigError, match="'targets' section needs a 'probe'"):
        load_pipeline(_write(tmp_path / "q.yaml",
                             "ingest:\n  inputs: [x]\ntargets:\n  a: b.txt\n"))


def test_demo_holds_python_docs_out_as_its_target(tmp_path):
    from mixforge.demo import DEMO_TARGET, demo_config

    for name in ("fortunes", "python_docs", "licenses"):
        (tmp_path / f"{name}.jsonl.zst").write_bytes(b"")
    cfg = demo_config(tmp_path, tmp_path / "run", 1.0)
    assert sorted(cfg.ingest.inputs) == [str(tmp_path / "fortunes.jsonl.zst"),
                                         str(tmp_path / "licenses.jsonl.zst")]
    assert cfg.targets == {DEMO_TARGET: str(tmp_path / "python_docs.jsonl.zst")}
    assert cfg.probe.targets == [f"{DEMO_TARGET}={tmp_path / 'python_docs.jsonl.zst'}"]
