"""End to end on a planted corpus: sweep + fit + proposal recover a known best mix.

Three synthetic domains over a 64-token vocabulary: ``count`` (0,1,2,...,63,0,1,...: fully
predictable), ``noise`` (uniform random tokens: unlearnable) and ``skip`` (another
deterministic pattern, steps of 5). The objective is held-out bpb on ``count``, so the
best mix is known in advance: as much ``count`` as the caps and the probes' region allow.
Tiny probes (1 block) train 12 mixes batched as one model; the regressor chosen by CV on
their results must put the largest weight on ``count``, near the largest share of it any
probe had (about 0.6, where the natural mix gives it 1/3).
"""

from __future__ import annotations

import numpy as np
import pytest

from mixforge.mixers.propose import propose_mix
from mixforge.mixers.strategies import store_tokens
from mixforge.tokenize.store import TokenStore
from mixforge.train_probe.model import ProbeConfig
from mixforge.train_probe.sweep import SweepConfig, run_sweep
from mixforge.train_probe.train import TrainConfig


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_sweep_fit_and_proposal_recover_the_planted_optimum(tmp_path, planted_store):
    store = TokenStore(planted_store(tmp_path / "store"))
    cfg = SweepConfig(store=str(store.path), out=str(tmp_path / "probes"), n_probes=12,
                      k=12, seed=3, epoch_cap=50.0, heldout_tokens=2048,
                      probe=ProbeConfig(depth=1, seq_len=32),
                      train=TrainConfig(tokens=12_000, batch_size=8, lr=1e-2, evals=1))
    report = run_sweep(cfg, tmp_path)
    results = report.results
    assert len(results) == 12
    # the probes themselves show the planted effect: more `count`, lower `count` bpb
    w, bpb = results["w:count"].to_numpy(), results["bpb:count"].to_numpy()
    assert np.corrcoef(w, bpb)[0, 1] < -0.5
    tokens = store_tokens(store)
    mix, fit = propose_mix(results, tokens, budget=sum(tokens.values()), epoch_cap=50.0,
                           target="count", kl=0.01)
    assert max(mix.weights, key=mix.weights.get) == "count"
    # as much `count` as the region the probes covered allows (the proposal may not go
    # beyond the largest weight a probe gave a domain, nor predict below the best probe
    # by more than the clip margin)
    assert mix.weights["count"] >= 0.5
    assert mix.weights["count"] >= w.max() - 0.1 and mix.weights["count"] <= w.max() + 1e-6
    assert fit["predicted"]["proposed"] < fit["predicted"]["natural"]
    assert fit["cv"]["spearman"] > 0.7, fit
