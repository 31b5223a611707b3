"""The GPU path (bf16 autocast, torch.compile): run only where CUDA is present (-m gpu)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mixforge.mixers.mix import Mix
from mixforge.train_probe.train import train_probes

pytestmark = pytest.mark.gpu


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_path_learns_like_the_cpu_path(store, heldout, tiny, make_train):
    mixes = [Mix(dict.fromkeys(store.domains, 1.0)), Mix({"python_code": 1.0})]
    cpu = train_probes(store, heldout, mixes, [0, 1], tiny, make_train(60))
    cfg = make_train(60)
    cfg.device, cfg.compile = "cuda", "on"
    gpu = train_probes(store, heldout, mixes, [0, 1], tiny, cfg)
    for c, g in zip(cpu, gpu, strict=True):
        # bf16 autocast: the same trajectory up to rounding, not bit for bit
        np.testing.assert_allclose(g.train_loss[:5], c.train_loss[:5], atol=0.02)
        assert abs(g.metrics["loss:avg"] - c.metrics["loss:avg"]) < 0.1
        assert g.tokens_per_domain == c.tokens_per_domain


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_sweep_records_the_device_and_its_speed(token_store, tmp_path):
    """A sweep on CUDA (bf16 autocast, compiled) records the device and tokens/s; fp32
    precision on CUDA trains too."""
    from mixforge.train_probe.model import ProbeConfig
    from mixforge.train_probe.sweep import SweepConfig, run_sweep

    for precision in ("auto", "fp32"):
        cfg = SweepConfig(store=str(token_store), out=str(tmp_path / precision), n_probes=4,
                          k=4, probe=ProbeConfig(depth=1, aspect=16, head_dim=16, seq_len=32))
        cfg.train.tokens, cfg.train.batch_size, cfg.train.device = 40 * 4 * 32, 4, "cuda"
        cfg.train.evals, cfg.train.eval_tokens, cfg.train.precision = 1, 512, precision
        res = run_sweep(cfg, tmp_path).results
        assert res["device"].to_list() == ["cuda"] * 4
        assert (res["group_tokens_per_s"] > 0).all() and res["bpb:avg"].is_finite().all()
