"""K probes trained as one batched model follow the same trajectories as K probes trained
one after another with the same seeds and data.

Tolerance: 1e-4 nats on every training loss and held-out metric over 40 steps (the stacked
bmm sums in the same order as a lone probe's, so on this CPU they agree to the last bit;
the tolerance leaves room for other BLAS builds).
"""

from __future__ import annotations

import numpy as np
import pytest

from mixforge.mixers.mix import Mix
from mixforge.train_probe.train import train_probes

TOL = 1e-4


def test_batched_probes_equal_separate_probes(store, heldout, tiny, make_train):
    doms = store.domains
    mixes = [Mix(dict.fromkeys(doms, 1.0)),
             Mix({doms[0]: 0.7, doms[3]: 0.3}),
             Mix({d: i + 1.0 for i, d in enumerate(doms)})]
    seeds = [11, 12, 11]
    cfg = make_train(40)
    batched = train_probes(store, heldout, mixes, seeds, tiny, cfg)
    for mix, seed, got in zip(mixes, seeds, batched, strict=True):
        (alone,) = train_probes(store, heldout, [mix], [seed], tiny, cfg)
        np.testing.assert_allclose(got.train_loss, alone.train_loss, rtol=0, atol=TOL)
        assert got.metrics.keys() == alone.metrics.keys()
        for key, v in alone.metrics.items():
            assert got.metrics[key] == pytest.approx(v, abs=TOL), key
        assert got.tokens_per_domain == alone.tokens_per_domain
    # the probes did differ: different mixes give different held-out losses
    assert len({round(r.metrics["loss:avg"], 4) for r in batched}) == 3
    # probe 1 trained on two domains only
    assert set(batched[1].tokens_per_domain) == {doms[0], doms[3]}
