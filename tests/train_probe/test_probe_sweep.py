"""Sweeps: one row per probe, resume without redoing finished probes, mixes from files
or a seeded Dirichlet, and the CLI."""

from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner

import mixforge.train_probe.sweep as sweep_mod
from mixforge.cli import main
from mixforge.errors import ConfigError
from mixforge.mixers.mix import Mix
from mixforge.tokenize.store import TokenStore
from mixforge.train_probe.model import ProbeConfig
from mixforge.train_probe.sweep import SweepConfig, dirichlet_mixes, plan_sweep, run_sweep

TINY = ["--depth", "1", "--aspect", "16", "--head-dim", "16", "--seq-len", "32",
        "--tokens", "1280", "--batch-size", "4", "--evals", "1", "--eval-tokens", "512",
        "--device", "cpu"]


def sweep_cfg(token_store, out, **kw) -> SweepConfig:
    cfg = SweepConfig(store=str(token_store), out=str(out), k=2, **kw)
    cfg.probe = ProbeConfig(depth=1, aspect=16, head_dim=16, seq_len=32)
    cfg.train.tokens, cfg.train.batch_size = 10 * 4 * 32, 4
    cfg.train.evals, cfg.train.eval_tokens, cfg.train.device = 1, 512, "cpu"
    return cfg


def test_sweep_writes_one_row_per_probe_and_resumes(token_store, tmp_path, monkeypatch,
                                                    caplog):
    cfg = sweep_cfg(token_store, tmp_path / "probes", n_probes=5,
                    targets=["code=python_code,python_docs:2"])
    real = sweep_mod.train_probes
    calls = []

    def dies_on_second_batch(*a, **kw):
        calls.append(len(a[2]))
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user pressed ^C during the second batch
        return real(*a, **kw)

    monkeypatch.setattr(sweep_mod, "train_probes", dies_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, tmp_path)
    rows = sweep_mod.read_results(tmp_path / "probes" / "results.jsonl")
    assert [r["probe"] for r in rows] == ["p0000", "p0001"]  # the first batch of k=2

    calls.clear()
    monkeypatch.setattr(sweep_mod, "train_probes", real)
    rep = run_sweep(cfg, tmp_path)
    assert rep.skipped == ["p0000", "p0001"] and rep.ran == ["p0002", "p0003", "p0004"]
    df = rep.results
    assert df["probe"].to_list() == [f"p{i:04d}" for i in range(5)]
    store = TokenStore(token_store)
    for d in store.domains:
        assert {f"w:{d}", f"loss:{d}", f"bpb:{d}"} <= set(df.columns)
    w = df.select(pl.sum_horizontal(pl.col("^w:.*$"))).to_series()
    assert all(abs(x - 1) < 1e-9 for x in w)
    assert (df["tokens"] == 1280).all() and (df["params"] == cfg.probe.n_params).all()
    assert (df["bpb:code"] - (df["bpb:python_code"] + 2 * df["bpb:python_docs"]) / 3
            ).abs().max() < 1e-9
    assert df["wall_s"].min() > 0 and df["seed"].n_unique() == 5
    assert pl.read_parquet(tmp_path / "probes" / "results.parquet").equals(df)
    curves = [json.loads(x) for x in
              (tmp_path / "probes" / "curves.jsonl").read_text().splitlines()]
    assert [c["probe"] for c in curves][-3:] == ["p0002", "p0003", "p0004"]
    assert len(curves[-1]["train_loss"]) == 10

    # a third run does nothing; a torn last line is skipped and that probe redone
    assert run_sweep(cfg, tmp_path).ran == []
    res = tmp_path / "probes" / "results.jsonl"
    lines = res.read_text().splitlines()
    res.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:40])
    rep = run_sweep(cfg, tmp_path)
    assert "dropped 1 incomplete line(s)" in caplog.text
    assert rep.ran == ["p0004"]
    assert rep.results["probe"].to_list() == [f"p{i:04d}" for i in range(5)]

    # growing the sweep keeps the finished probes; another config redoes them
    cfg.n_probes = 6
    assert run_sweep(cfg, tmp_path).ran == ["p0005"]
    cfg.train.lr = 1e-3
    assert len(plan_sweep(cfg, store)) == 6
    assert {p.key for p in plan_sweep(cfg, store)}.isdisjoint(set(df["key"]))


def test_mixes_from_files_and_dirichlet(token_store, tmp_path):
    store = TokenStore(token_store)
    a = Mix({"fortunes": 1.0}).save(tmp_path / "mixes" / "a.yaml")
    Mix({"licenses": 1.0, "fortunes": 3.0}).save(tmp_path / "mixes" / "b.json")
    cfg = sweep_cfg(token_store, tmp_path / "p", mixes=[str(a.parent)], seeds_per_mix=2)
    plans = plan_sweep(cfg, store)
    assert [p.id for p in plans] == ["p0000-s0", "p0000-s1", "p0001-s0", "p0001-s1"]
    assert plans[2].mix.weights == {"fortunes": 0.75, "licenses": 0.25}
    assert plans[0].seed != plans[1].seed
    rep = run_sweep(cfg, tmp_path)
    assert rep.results["w:fortunes"].to_list() == [1.0, 1.0, 0.75, 0.75]
    assert rep.results["w:python_code"].to_list() == [0.0] * 4

    d1 = dirichlet_mixes(store, 4, seed=3)
    d2 = dirichlet_mixes(store, 2, seed=3, start=2)
    assert [m.weights for m in d1[2:]] == [m.weights for m in d2]
    assert d1[0].weights != dirichlet_mixes(store, 1, seed=4)[0].weights
    sparse = dirichlet_mixes(store, 50, seed=0, prior="uniform", concentration=0.1)
    dense = dirichlet_mixes(store, 50, seed=0, prior="uniform", concentration=10)
    top = [max(m.weights.values()) for m in sparse]
    assert sum(top) / 50 > sum(max(m.weights.values()) for m in dense) / 50 + 0.3

    bad = Mix({"klingon": 1.0}).save(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="klingon"):
        plan_sweep(sweep_cfg(token_store, tmp_path / "q", mixes=[str(bad)]), store)
    with pytest.raises(ConfigError, match="NAME=DOMAIN"):
        plan_sweep(sweep_cfg(token_store, tmp_path / "q", targets=["code"]), store)
    with pytest.raises(ConfigError, match="nope"):
        plan_sweep(sweep_cfg(token_store, tmp_path / "q", targets=["x=nope"]), store)


def test_cli_probe_sweep_runs_and_resumes(token_store, tmp_path):
    args = ["probe", "sweep", "-r", str(tmp_path), "--store", str(token_store),
            "--n-probes", "3", "--k", "3", *TINY]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "3 trained, 0 already done" in first.output
    assert "best 3 of 3 probes by bpb:avg" in first.output
    # --eval-tokens 512: every figure rests on too little text, and the CLI says so
    assert "note: python_code: bpb rests on 512 tokens (standard error" in first.output
    assert len((tmp_path / "probes" / "results.jsonl").read_text().splitlines()) == 3
    second = CliRunner().invoke(main, args)
    assert "0 trained, 3 already done" in second.output
    dry = CliRunner().invoke(main, [*args, "--n-probes", "4", "--dry-run"])
    assert dry.exit_code == 0 and "p0003 seed" in dry.output
    bad = CliRunner().invoke(main, [*args, "--depth", "0"])
    assert bad.exit_code == 2 and "depth must be >= 1" in bad.output


@pytest.mark.slow
def test_sweep_in_a_process_pool_equals_inline(token_store, tmp_path):
    """Batches in two worker processes give the same rows as one process (slow: starts
    two forkserver workers that import torch)."""
    from mixforge.executor import LocalExecutor

    inline = run_sweep(sweep_cfg(token_store, tmp_path / "a", n_probes=4), tmp_path)
    cfg = sweep_cfg(token_store, tmp_path / "b", n_probes=4)
    cfg.train.threads = 1
    pooled = run_sweep(cfg, tmp_path, LocalExecutor(2))
    cols = [c for c in inline.results.columns if c.startswith(("loss:", "bpb:", "w:"))]
    assert pooled.results.select(cols).equals(inline.results.select(cols))


def test_a_sweep_with_other_settings_says_what_it_replaces(token_store, tmp_path, caplog):
    import logging

    from mixforge.executor import LocalExecutor
    from mixforge.train_probe.model import ProbeConfig
    from mixforge.train_probe.sweep import SweepConfig, run_sweep

    def sweep(tokens: int):
        cfg = SweepConfig(store=str(token_store), out=str(tmp_path / "p"), n_probes=2, k=2)
        cfg.probe = ProbeConfig(depth=1, aspect=16, head_dim=16, seq_len=32)
        cfg.train.tokens, cfg.train.batch_size, cfg.train.device = tokens, 4, "cpu"
        cfg.train.evals, cfg.train.eval_tokens = 1, 256
        return run_sweep(cfg, tmp_path, LocalExecutor(1))

    sweep(4 * 4 * 32)
    with caplog.at_level(logging.WARNING, logger="mixforge.train_probe.sweep"):
        rep = sweep(2 * 4 * 4 * 32)
    assert len(rep.results) == 2 and len(rep.ran) == 2
    assert "holds 2 probe results of other sweep settings" in caplog.text
