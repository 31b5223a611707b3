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
