"""Slow, obvious twins of the probe code, to check the fast versions against.

`PlainGPT` is one probe written the plain nanoGPT way (nn.Linear layers, no probe axis);
`stream_of` materializes a domain's training stream that `DomainStream` reads lazily.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mixforge.train_probe.model import ProbeConfig, _apply_rotary, _rms_norm, _rotary


class Block(nn.Module):
    def __init__(self, cfg: ProbeConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.fc = nn.Linear(d, cfg.mlp_ratio * d, bias=False)
        self.fc_out = nn.Linear(cfg.mlp_ratio * d, d, bias=False)

    def forward(self, x, cos, sin):
        b, t, d = x.shape
        nh, hd = self.cfg.n_heads, self.cfg.head_dim
        q, k, v = self.qkv(_rms_norm(x)).view(b, t, 3, nh, hd).unbind(2)
        q = _rms_norm(_apply_rotary(q, cos, sin))
        k = _rms_norm(_apply_rotary(k, cos, sin))
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                           v.transpose(1, 2), is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.fc_out(F.relu(self.fc(_rms_norm(x))).square())


class PlainGPT(nn.Module):
    """One probe as a plain module: the peer of the batched model in tests and bench."""

    def __init__(self, cfg: ProbeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.depth)])
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        cos, sin = _rotary(cfg.seq_len, cfg.head_dim)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    @torch.no_grad()
    def load_probe(self, state: dict[str, torch.Tensor]) -> None:
        """Copy one probe's weights from ProbeModel.probe_state (x @ W there, W.T here)."""
        self.wte.weight.copy_(state["wte"])
        for i, blk in enumerate(self.blocks):
            for name in ("qkv", "proj", "fc", "fc_out"):
                getattr(blk, name).weight.copy_(state[f"{name}.{i}"].T)
        self.lm_head.weight.copy_(state["lm_head"].T)

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = _rms_norm(self.wte(idx))
        for blk in self.blocks:
            x = blk(x, self.cos[:, :t], self.sin[:, :t])
        logits = self.lm_head(_rms_norm(x))
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))


def stream_of(dom, heldout: np.ndarray) -> np.ndarray:
    """A domain's training documents concatenated in store order (materialized)."""
    held = set(int(i) for i in heldout)
    return np.concatenate([dom.doc(i) for i in range(dom.n_docs) if i not in held]
                          ).astype(np.int64)
