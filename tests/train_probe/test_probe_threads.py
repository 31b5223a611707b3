"""`--workers 2` with one probe batch must train on every core, not cores / workers."""

from __future__ import annotations

import mixforge.train_probe.sweep as sweep_mod
from mixforge.executor import LocalExecutor
from mixforge.train_probe.model import ProbeConfig
from mixforge.train_probe.sweep import SweepConfig, pool_threads, run_sweep


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
