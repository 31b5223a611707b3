"""DoReMi (Xie et al. 2023): domain weights from a reference and a proxy model's excess loss.

1. A reference probe is trained on the uniform mix.
2. A proxy probe is trained on uniformly sampled batches with the objective
   Σ_d α_d · L_d(proxy), while the weights follow the published update each step:
   λ_d = max(L_d(proxy) − L_d(reference), 0) per domain on the batch,
   α ← α · exp(η λ), normalized, then smoothed toward uniform: α ← (1 − c) α + c / D.
3. The proposed mix is the average of α over the proxy's steps.

Domains the proxy already learns as well as the reference (or that nobody can learn,
like noise) get little weight; domains where more training still pays get more. Our
probes stand in for the paper's 280M-parameter proxy: the mechanism, not the scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..config import opt
from ..tokenize.store import TokenStore
from ..train_probe.data import MixSampler, split_heldout
from ..train_probe.model import ProbeConfig, ProbeModel
from .mix import Mix


@dataclass
class DoReMiConfig:
    """Options of `mixforge mix propose --strategy doremi`."""

    steps: int = opt(200, "Proxy (and reference) training steps.")
    rows_per_domain: int = opt(4, "Sequences per domain in each (uniform) batch.")
    seq_len: int = opt(64, "Tokens per sequence.")
    depth: int = opt(1, "Probe depth (the size dial) of reference and proxy.")
    lr: float = opt(3e-3, "AdamW learning rate of both models.")
    eta: float = opt(1.0, "Step size of the domain-weight update (the paper's η).")
    smoothing: float = opt(1e-3, "Mix the weights with uniform by this much each step (c).")
    seed: int = opt(0, "Seed.")


def _row_losses(model: ProbeModel, rows: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(rows)
    logits = model(x[None, :, :-1])[0]  # (B, T, V), with gradients
    losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), x[:, 1:],
                                               reduction="none")
    return losses.mean(dim=1)  # (B,) nats per row


def _domain_means(losses: torch.Tensor, doms: np.ndarray, n: int) -> torch.Tensor:
    index = torch.from_numpy(doms)
    sums = torch.zeros(n, dtype=losses.dtype).index_add(0, index, losses)
    counts = torch.bincount(index, minlength=n).clamp(min=1).to(losses.dtype)
    return sums / counts


def update_weights(alpha: np.ndarray, excess: np.ndarray, eta: float, smoothing: float
                   ) -> np.ndarray:
    """One DoReMi step: α · exp(η · max(excess, 0)), normalized, smoothed toward uniform."""
    alpha = alpha * np.exp(eta * np.maximum(excess, 0.0))
    return (1 - smoothing) * alpha / alpha.sum() + smoothing / len(alpha)


def doremi(store: TokenStore, cfg: DoReMiConfig) -> tuple[Mix, dict]:
    """Run reference then proxy training; return the averaged weights as a Mix."""
    torch.manual_seed(cfg.seed)
    domains = store.domains
    n = len(domains)
    heldout = split_heldout(store, cfg.seed)
    probe = ProbeConfig(depth=cfg.depth, seq_len=cfg.seq_len, vocab_size=store.vocab_size)
    uniform = Mix(dict.fromkeys(domains, 1.0))

    def sampler(seed: int) -> MixSampler:
        return MixSampler(store, heldout, uniform, cfg.rows_per_domain * n, cfg.seq_len, seed)

    ref = ProbeModel(probe, [cfg.seed])
    opt_ref = torch.optim.AdamW(ref.parameters(), lr=cfg.lr)
    batches = sampler(cfg.seed)
    for _ in range(cfg.steps):
        rows, _doms = batches.next_labeled_batch()
        loss = _row_losses(ref, rows).mean()
        opt_ref.zero_grad()
        loss.backward()
        opt_ref.step()
    ref.eval()

    proxy = ProbeModel(probe, [cfg.seed + 1])
    opt_proxy = torch.optim.AdamW(proxy.parameters(), lr=cfg.lr)
    alpha = np.full(n, 1.0 / n)
    total = np.zeros(n)
    batches = sampler(cfg.seed + 1)
    for _ in range(cfg.steps):
        rows, doms = batches.next_labeled_batch()
        with torch.no_grad():
            ref_d = _domain_means(_row_losses(ref, rows), doms, n)
        proxy_d = _domain_means(_row_losses(proxy, rows), doms, n)
        alpha = update_weights(alpha, (proxy_d.detach() - ref_d).numpy(), cfg.eta,
                               cfg.smoothing)
        total += alpha
        loss = (torch.from_numpy(alpha).to(proxy_d.dtype) * proxy_d).sum()
        opt_proxy.zero_grad()
        loss.backward()
        opt_proxy.step()
    weights = total / cfg.steps
    info = {"strategy": "doremi", "steps": cfg.steps, "eta": cfg.eta,
            "smoothing": cfg.smoothing, "final_alpha": dict(zip(domains, alpha.tolist(),
                                                               strict=True))}
    return Mix(dict(zip(domains, weights.tolist(), strict=True)), seed=cfg.seed,
               provenance=info), info
