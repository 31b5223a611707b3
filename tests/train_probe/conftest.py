"""Probe fixtures: the shared token store opened, its held-out split, tiny shapes.

Tests run torch on one thread (the machine's 2 cores are shared) and use models of
<= 80k parameters for at most a few hundred steps.
"""

from __future__ import annotations

import pytest
import torch

from mixforge.tokenize.store import TokenStore
from mixforge.train_probe.data import split_heldout
from mixforge.train_probe.model import ProbeConfig
from mixforge.train_probe.train import TrainConfig


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def store(token_store) -> TokenStore:
    return TokenStore(token_store)


@pytest.fixture(scope="session")
def heldout(store):
    return split_heldout(store, seed=0)


@pytest.fixture
def tiny() -> ProbeConfig:
    """~36k parameters: depth 1, width 16, context 32."""
    return ProbeConfig(depth=1, aspect=16, head_dim=16, seq_len=32)


@pytest.fixture
def make_train():
    """TrainConfig for ``steps`` steps of ``batch_size`` x ``seq_len`` on the CPU, scoring
    1024 held-out tokens per domain twice (unless told otherwise)."""

    def make(steps: int, batch_size: int = 4, seq_len: int = 32, **kw) -> TrainConfig:
        kw = {"evals": 2, "eval_tokens": 1024, **kw}
        return TrainConfig(tokens=steps * batch_size * seq_len, batch_size=batch_size,
                           device="cpu", **kw)

    return make
