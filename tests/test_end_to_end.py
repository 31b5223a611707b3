"""One small pipeline config through every stage: counts conserved, reruns change nothing,
and the Ray executor writes the same bytes as the local one."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from mixforge.pipeline import load_pipeline, run_pipeline
from mixforge.tokenize.store import TokenStore

CONFIG = {
    "ingest": {"inputs": [], "shard_mb": 0.3, "on_error": "reject"},
    "dedup_exact": {},
    "dedup_fuzzy": {},
    "filter": {"gopher_quality": {"enabled": False}, "c4": {"enabled": False},
               "language": {"languages": []}},
    "tokenizer": {"vocab_size": 1024, "max_mb": 2},
    "tokenize": {},
    "mix": {"strategy": "natural", "epoch_cap": 1.0},
    "export": [{"format": "nanogpt", "val_fraction": 0.0}],
}
DOC_STAGES = ["ingest", "dedup_exact", "dedup_fuzzy", "filter"]


def _config(tmp_path: Path, corpus_dir: Path, name: str, **extra) -> Path:
    cfg = json.loads(json.dumps(CONFIG)) | extra
    cfg["ingest"]["inputs"] = [str(corpus_dir), str(tmp_path / "bad.jsonl")]
    cfg["run_dir"] = name
    (tmp_path / "bad.jsonl").write_bytes(b'{"text": "a fine line of text here"}\n{"t": 1}\n')
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _digest(run: Path) -> dict[str, str]:
    skip = ("_markers", "_stage.json", "report.html", "_dedup.json", "train.json")
    return {p.relative_to(run).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file()
            and not any(s in p.as_posix() for s in skip)}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, corpus_dir):
    tmp = tmp_path_factory.mktemp("e2e")
    cfg = load_pipeline(_config(tmp, corpus_dir, "local"))
    return tmp, cfg, run_pipeline(cfg)


def test_counts_are_conserved_through_every_stage(local_run):
    _tmp, cfg, results = local_run
    run = Path(cfg.run_dir)
    previous_kept = None
    for stage in DOC_STAGES:
        t = json.loads((run / stage / "_stage.json").read_text())["totals"]
        docs_in = t["docs_in"]
        assert docs_in == t["kept"] + t["rejected"], stage
        rejects = sum(pq.read_metadata(f).num_rows
                      for f in (run / stage / "rejects").glob("*.parquet"))
        assert rejects == t["rejected"], stage
        if previous_kept is not None:
            assert docs_in == previous_kept, f"{stage} did not read what the last stage kept"
        previous_kept = t["kept"]
    t = json.loads((run / "tokenize" / "_stage.json").read_text())["totals"]
    assert (t["docs_in"], t["kept"], t["rejected"]) == (previous_kept, previous_kept, 0)
    store = TokenStore(run / "tokenize")
    assert sum(store.info(d)["docs"] for d in store.domains) == previous_kept
    store_tokens = sum(store.info(d)["tokens"] for d in store.domains)
    (export,) = results["export"]
    assert export["splits"]["train"]["tokens"] == store_tokens  # natural mix, one epoch
    assert (run / "report.html").exists()


def test_a_rerun_does_no_work_and_changes_no_byte(local_run):
    _tmp, cfg, _ = local_run
    run = Path(cfg.run_dir)
    before = _digest(run)
    again = run_pipeline(cfg)
    assert again["ingest"].ran == [] and again["tokenize"].ran == []
    assert again["dedup_exact"].stage.ran == [] and again["filter"].ran == []
    assert _digest(run) == before


def test_ray_executor_writes_the_same_bytes(local_run, corpus_dir):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    import ray

    tmp, cfg, _ = local_run
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray_cfg = load_pipeline(_config(tmp, corpus_dir, "ray", executor="ray", workers=2))
    try:
        run_pipeline(ray_cfg)
    finally:
        ray.shutdown()
    local, remote = _digest(Path(cfg.run_dir)), _digest(Path(ray_cfg.run_dir))
    assert local.keys() == remote.keys() and len(local) > 20
    # every data file is identical; JSON summaries differ only by their run's own path
    # (tokenizer and store paths) and the reduce step's timings
    data = {k for k in local if not k.endswith(".json")}
    assert len(data) > 20 and {k for k in data if local[k] != remote[k]} == set()
