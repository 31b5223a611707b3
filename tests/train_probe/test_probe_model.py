"""The probe model learns, is deterministic, and equals a plain one-model transformer."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mixforge.mixers.mix import Mix
from mixforge.train_probe.model import ProbeConfig, ProbeModel, clip_per_probe
from mixforge.train_probe.train import eval_steps, lr_at, train_probes

sys.path.insert(0, str(Path(__file__).parent))
from naive_train_probe import PlainGPT


def natural(store) -> Mix:
    return Mix({d: store.info(d)["tokens"] for d in store.domains})


def test_probe_learns_real_text(store, heldout, make_train):
    cfg = ProbeConfig(depth=1, aspect=32, head_dim=32, seq_len=64)  # 78k parameters
    (run,) = train_probes(store, heldout, [natural(store)], [0], cfg,
                          make_train(150, batch_size=8, seq_len=64, evals=3,
                                                    eval_tokens=4096))
    uniform = math.log(store.vocab_size)  # 6.93 nats: the loss of knowing nothing
    first, last = run.curve[0]["loss:avg"], run.curve[-1]["loss:avg"]
    assert np.mean(run.train_loss[:5]) == pytest.approx(uniform, abs=0.05)
    assert np.mean(run.train_loss[-10:]) < uniform - 1.0
    assert last < first < uniform - 0.5  # held-out loss falls at every eval point
    assert last < uniform - 1.0
    assert [c["step"] for c in run.curve] == [50, 100, 150]
    for d in store.domains:  # bpb counts the scored tokens' own bytes (test_probe_bpb.py):
        bpt = store.info(d)["bytes_per_token"]  # near, not at, the domain's average (a few
        # held-out documents of a small domain can sit 20% from it: python_code here)
        assert run.metrics[f"bpb:{d}"] == pytest.approx(
            run.metrics[f"loss:{d}"] / (math.log(2) * bpt), rel=0.3)
        assert run.metrics[f"bpb:{d}"] != pytest.approx(
            run.metrics[f"loss:{d}"] / (math.log(2) * bpt), rel=1e-6)
        assert 0.5 < run.metrics[f"bpb:{d}"] < 6


def test_same_seed_same_run_other_seed_other_run(store, heldout, tiny, make_train):
    mix = natural(store)
    a, = train_probes(store, heldout, [mix], [7], tiny, make_train(20))
    b, = train_probes(store, heldout, [mix], [7], tiny, make_train(20))
    c, = train_probes(store, heldout, [mix], [8], tiny, make_train(20))
    assert a.train_loss == b.train_loss
    assert a.metrics == b.metrics
    assert a.train_loss != c.train_loss


def test_k1_model_equals_plain_transformer(tiny):
    """Same weights in the stacked model (K=1) and in a plain nn.Linear model: same loss,
    same gradients: the bmm formulation is the ordinary transformer."""
    cfg = ProbeConfig(depth=2, aspect=16, head_dim=16, seq_len=16, vocab_size=97)
    stacked = ProbeModel(cfg, [3])
    with torch.no_grad():  # non-zero output projections so every path carries signal
        for w in [*stacked.proj, *stacked.fc_out, stacked.lm_head]:
            w.normal_(0, 0.1, generator=torch.Generator().manual_seed(1))
    plain = PlainGPT(cfg)
    plain.load_probe(stacked.probe_state(0))
    idx = torch.randint(0, 97, (1, 4, 17), generator=torch.Generator().manual_seed(0))
    ls = stacked(idx[..., :-1], idx[..., 1:])
    lp = plain(idx[0, :, :-1], idx[0, :, 1:])
    torch.testing.assert_close(ls[0], lp, rtol=1e-5, atol=1e-6)
    ls.sum().backward()
    lp.backward()
    torch.testing.assert_close(stacked.qkv[1].grad[0], plain.blocks[1].qkv.weight.grad.T,
                               rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(stacked.wte.grad[0], plain.wte.weight.grad, rtol=1e-4,
                               atol=1e-6)


def test_param_count_and_per_probe_init(tiny):
    m = ProbeModel(tiny, [0, 1, 0])
    assert sum(p.numel() for p in m.parameters()) == 3 * tiny.n_params
    assert ProbeConfig(depth=4).n_params == 1_048_576  # the "~1M" probe
    s0, s1, s2 = (m.probe_state(i) for i in range(3))
    assert all(torch.equal(s0[k], s2[k]) for k in s0)  # same seed, same weights
    assert not torch.equal(s0["wte"], s1["wte"])


def test_clip_per_probe_equals_clipping_each_alone():
    g = torch.Generator().manual_seed(0)
    ws = [torch.zeros(3, 4, 5, requires_grad=True), torch.zeros(3, 6, requires_grad=True)]
    grads = [torch.randn(w.shape, generator=g) * torch.tensor([0.01, 1, 10]).view(
        -1, *[1] * (w.dim() - 1)) for w in ws]
    for w, gr in zip(ws, grads, strict=True):
        w.grad = gr.clone()
    norms = clip_per_probe(ws, 1.0)
    for k in range(3):
        alone = [torch.zeros(w.shape[1:], requires_grad=True) for w in ws]
        for a, gr in zip(alone, grads, strict=True):
            a.grad = gr[k].clone()
        n = torch.nn.utils.clip_grad_norm_(alone, 1.0)
        assert float(norms[k]) == pytest.approx(float(n), rel=1e-5)
        for w, a in zip(ws, alone, strict=True):
            torch.testing.assert_close(w.grad[k], a.grad)


def test_schedule_and_eval_points(make_train):
    cfg = make_train(100, warmup_frac=0.1, warmdown_frac=0.5, final_lr_frac=0.0)
    mults = [lr_at(s, 100, cfg) for s in range(100)]
    assert mults[0] == pytest.approx(0.1) and mults[9] == 1.0 and mults[49] == 1.0
    assert mults[-1] == pytest.approx(0.02) and all(np.diff(mults[50:]) < 0)
    assert eval_steps(10, 4) == [2, 5, 8, 10]
    assert eval_steps(2, 5) == [1, 2]


def test_fused_linear_cross_entropy_equals_the_plain_loss():
    """Chunked loss+gradient (N=300 spans three chunks, one partial) vs F.cross_entropy."""
    from mixforge.train_probe.model import CE_CHUNK, _LinearCrossEntropy

    g = torch.Generator().manual_seed(0)
    k, n, d, v = 3, 2 * CE_CHUNK + 44, 16, 97
    x = torch.randn(k, n, d, generator=g, requires_grad=True)
    w = torch.randn(k, d, v, generator=g, requires_grad=True)
    y = torch.randint(0, v, (k, n), generator=g)
    scale = torch.tensor([1.0, -2.0, 0.5])
    fused = _LinearCrossEntropy.apply(x, w, y)
    plain = torch.nn.functional.cross_entropy(torch.bmm(x, w).view(-1, v), y.view(-1),
                                              reduction="none").view(k, n).mean(1)
    torch.testing.assert_close(fused, plain, rtol=1e-6, atol=1e-6)
    gf = torch.autograd.grad((fused * scale).sum(), (x, w))
    gp = torch.autograd.grad((plain * scale).sum(), (x, w))
    for a, b in zip(gf, gp, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
