"""CPU options: `--workers 2` with one probe batch trains on every core (not cores /
workers); `--precision bf16` autocasts the training matmuls and learns like fp32."""

from __future__ import annotations

import numpy as np

import mixforge.train_probe.sweep as sweep_mod
from mixforge.executor import LocalExecutor
from mixforge.mixers.mix import Mix
from mixforge.train_probe.model import ProbeConfig
from mixforge.train_probe.sweep import SweepConfig, plan_sweep, pool_threads, run_sweep
from mixforge.train_probe.train import train_probes


def test_pool_threads():
    assert pool_threads(0, workers=2, n_groups=1, cores=2) == 0  # inline: torch's default
    assert pool_threads(0, workers=1, n_groups=5, cores=8) == 0
    assert pool_threads(0, workers=2, n_groups=5, cores=8) == 4
    assert pool_threads(0, workers=4, n_groups=2, cores=8) == 4  # 2 batches run at once
    assert pool_threads(0, workers=16, n_groups=16, cores=2) == 1
    assert pool_threads(3, workers=2, n_groups=1, cores=8) == 3  # the user's choice stays


def test_single_batch_with_two_workers_keeps_all_threads(token_store, tmp_path,
                                                         monkeypatch):
    seen = []
    real = sweep_mod.train_probes

    def spy(*a, **kw):
        seen.append(a[5].threads)  # the TrainConfig the batch trains with
        return real(*a, **kw)

    monkeypatch.setattr(sweep_mod, "train_probes", spy)
    cfg = SweepConfig(store=str(token_store), out=str(tmp_path / "p"), n_probes=2, k=2)
    cfg.probe = ProbeConfig(depth=1, aspect=16, head_dim=16, seq_len=32)
    cfg.train.tokens, cfg.train.batch_size, cfg.train.device = 4 * 4 * 32, 4, "cpu"
    cfg.train.evals, cfg.train.eval_tokens = 1, 256
    rep = run_sweep(cfg, tmp_path, LocalExecutor(2))
    assert len(rep.results) == 2 and seen == [0]


def test_bf16_on_cpu_learns_like_fp32(store, heldout, tiny, make_train):
    mixes = [Mix(dict.fromkeys(store.domains, 1.0))]
    fp32 = train_probes(store, heldout, mixes, [0], tiny, make_train(40))[0]
    cfg = make_train(40)
    cfg.precision = "bf16"
    bf16 = train_probes(store, heldout, mixes, [0], tiny, cfg)[0]
    assert bf16.train_loss != fp32.train_loss  # it did autocast
    # bf16 rounding differs with the thread count torch runs with: loose on single steps
    np.testing.assert_allclose(bf16.train_loss[:5], fp32.train_loss[:5], atol=0.15)
    # it learns as fp32 does: at least half of fp32's drop over the last 5 steps (one
    # step's loss is one small batch's, too noisy to compare alone)
    drop = np.mean(bf16.train_loss[:5]) - np.mean(bf16.train_loss[-5:])
    assert drop > 0.5 * (np.mean(fp32.train_loss[:5]) - np.mean(fp32.train_loss[-5:])) > 0
    assert abs(bf16.metrics["loss:avg"] - fp32.metrics["loss:avg"]) < 0.1


def test_precision_auto_keeps_the_keys_of_earlier_sweeps(token_store, store, monkeypatch):
    """Adding the option must not re-train finished probes: with the default "auto" the
    probe keys are those of a config without the field; "bf16" changes them."""
    cfg = SweepConfig(store=str(token_store), n_probes=2)
    auto = [p.key for p in plan_sweep(cfg, store)]
    real = sweep_mod.to_dict

    def without_precision(obj):  # a TrainConfig as it was before the option existed
        d = real(obj)
        return {k: v for k, v in d.items() if k != "precision"}

    monkeypatch.setattr(sweep_mod, "to_dict", without_precision)
    assert [p.key for p in plan_sweep(cfg, store)] == auto
    monkeypatch.setattr(sweep_mod, "to_dict", real)
    cfg.train.precision = "bf16"
    assert [p.key for p in plan_sweep(cfg, store)] != auto


def test_sweep_progress_is_logged_when_not_a_terminal(capsys):
    """Under pytest stderr is not a terminal: no bars, but `progress:` lines (one per
    finished batch, and at most every ``every_s`` seconds while training)."""
    from mixforge.cli.probe import sweep_progress

    with sweep_progress(4, 1000, every_s=3600) as (on_tokens, on_probes):
        on_tokens(2000)  # within the interval: silent
        on_probes(2)     # a batch finished: one line
        on_tokens(2000)
        on_probes(2)
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("progress:")]
    assert len(lines) == 2
    assert lines[0].startswith("progress: 2/4 probes, 2,000/4,000 tokens")
    assert lines[1].startswith("progress: 4/4 probes, 4,000/4,000 tokens")
