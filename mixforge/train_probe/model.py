"""The probe model: K small decoder-only transformers stacked into one batched model.

Shape, after nanochat: one dataclass with one dial (``depth``); the width follows
(``d_model = depth * aspect``), heads are ``d_model / head_dim``. Blocks are modern and
bias-free: RMSNorm without weights, rotary positions, QK-norm, ReLU² MLP, untied input and
output embeddings, output projections zero-initialised.

Why stacked: a probe of ~1M parameters is a handful of small matmuls per step, so one
probe alone leaves a GPU mostly idle and, on a CPU, pays per-op overhead (Python,
dispatch, a few hundred small kernels a step) that nothing amortizes. Every weight here
carries a leading probe axis ``K`` and every matmul is a ``bmm`` over it, so K probes
(different mixes, different seeds) train as one forward and one backward. The loss
returned is one number per probe; the sum is backpropagated, so each probe's gradient is
exactly the gradient of its own loss, and AdamW is elementwise, so each probe's
trajectory is that of the same probe trained alone (tests/train_probe/
test_probe_batched.py; bench/probes.py measures the gain).

Sizes with vocab 1024 (``ProbeConfig(depth).n_params``): depth 1 -> 78k, depth 2 ->
229k, depth 3 -> 528k, depth 4 -> 1.05M, depth 6 -> 3.0M parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import opt
from ..errors import ConfigError


@dataclass
class ProbeConfig:
    """The probe's shape: one dial (``depth``), the rest follows."""

    depth: int = opt(4, "The size dial: transformer blocks; width = depth * aspect "
                        "(depth 4 is ~1M parameters at vocab 1024).")
    aspect: int = opt(32, "Model width per block: d_model = depth * aspect.")
    head_dim: int = opt(32, "Width of one attention head (heads = d_model / head_dim).")
    mlp_ratio: int = opt(4, "MLP hidden width as a multiple of d_model.")
    seq_len: int = opt(128, "Tokens per training sequence (context length).")
    vocab_size: int = opt(1024, "Vocabulary size (taken from the token store).")

    def validate(self) -> None:
        for name in ("depth", "aspect", "head_dim", "mlp_ratio", "seq_len", "vocab_size"):
            if getattr(self, name) < 1:
                msg = f"probe {name} must be >= 1, got {getattr(self, name)}"
                raise ConfigError(msg)
        if self.d_model % self.head_dim or self.head_dim % 2:
            msg = (f"probe width {self.d_model} (depth {self.depth} x aspect {self.aspect}) "
                   f"must be a multiple of head_dim {self.head_dim}, and head_dim even")
            raise ConfigError(msg)

    @property
    def d_model(self) -> int:
        return self.depth * self.aspect

    @property
    def n_heads(self) -> int:
        return self.d_model // self.head_dim

    @property
    def n_params(self) -> int:
        """Parameters of one probe (embeddings included)."""
        d, v = self.d_model, self.vocab_size
        return 2 * v * d + self.depth * (4 * d * d + 2 * self.mlp_ratio * d * d)

    def flops_per_token(self) -> int:
        """Training FLOPs per token of one probe (6N plus attention), for MFU figures."""
        attn = 12 * self.depth * self.d_model * self.seq_len
        return 6 * (self.n_params - self.vocab_size * self.d_model) + attn


def _rms_norm(x: torch.Tensor) -> torch.Tensor:
    return F.rms_norm(x, (x.size(-1),))


def _rotary(seq_len: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, ...]:
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv)
    return freqs.cos()[None, :, None, :], freqs.sin()[None, :, None, :]


def _apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: (N, T, H, hd); rotate the two halves of each head
    x1, x2 = x.chunk(2, dim=-1)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


CE_CHUNK = 128  # rows of logits per chunk: K x 128 x V floats (4 MB at K=8, V=1024)


class _LinearCrossEntropy(torch.autograd.Function):
    """Per-probe mean cross-entropy of ``x @ w`` without materializing the logits.

    For tiny probes the output layer and the softmax over the vocabulary are most of the
    work (depth 1 at width 16: ~80% of the FLOPs at vocab 1024), and ``F.cross_entropy``
    spends it badly on a CPU: full (N, V) logits, log-softmax and its gradient, a zero fill
    and a scatter, each a pass over memory that no longer fits in cache once K probes are
    stacked. Here the forward walks ``CE_CHUNK`` rows at a time: logits, softmax, loss, and
    right away the gradients of ``x`` and ``w`` (as fused linear cross-entropy kernels do);
    the backward only scales them. The chunk size does not depend on K, so a probe's sums
    run in the same order alone or batched. Twice-differentiable it is not (not needed).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        k, n, _ = x.shape
        loss = torch.zeros(k, dtype=torch.float64, device=x.device)
        gx = torch.empty_like(x)
        gw = torch.zeros_like(w)
        wt = w.transpose(1, 2)
        for r in range(0, n, CE_CHUNK):
            xr, yr = x[:, r:r + CE_CHUNK], y[:, r:r + CE_CHUNK, None]
            logits = torch.bmm(xr, w).float()
            lse = torch.logsumexp(logits, -1, keepdim=True)
            loss += (lse - logits.gather(-1, yr)).sum((1, 2))
            p = logits.sub_(lse).exp_()  # softmax, in place
            p.scatter_add_(-1, yr, torch.full(yr.shape, -1.0, device=p.device))
            p.div_(n)
            p = p.to(x.dtype)
            gx[:, r:r + CE_CHUNK] = torch.bmm(p, wt)
            gw.baddbmm_(xr.transpose(1, 2), p)
        ctx.save_for_backward(gx, gw)
        return (loss / n).float()

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        gx, gw = ctx.saved_tensors
        g = g.view(-1, 1, 1)
        return gx * g.to(gx.dtype), gw * g.to(gw.dtype), None


class ProbeModel(nn.Module):
    """K probes as one module: every weight is ``(K, ...)``, every matmul a ``bmm``.

    ``seeds[k]`` alone decides probe k's initial weights (drawn on the CPU from its own
    generator, in a fixed order), so probe k starts the same whether it is trained alone
    or among others, on any device.

    Examples
    --------
    >>> m = ProbeModel(ProbeConfig(depth=1, seq_len=8, vocab_size=64), seeds=[0, 1])
    >>> idx = torch.zeros(2, 3, 8, dtype=torch.long)  # (K, batch, seq)
    >>> m(idx, idx).shape  # one mean loss per probe
    torch.Size([2])
    """

    def __init__(self, cfg: ProbeConfig, seeds: list[int]) -> None:
        super().__init__()
        cfg.validate()
        self.cfg, self.seeds = cfg, list(seeds)
        k, d, v, h = len(seeds), cfg.d_model, cfg.vocab_size, cfg.mlp_ratio * cfg.d_model
        if k < 1:
            msg = "a probe model needs at least one seed"
            raise ConfigError(msg)

        def p(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.empty(k, *shape))

        self.wte = p(v, d)
        self.qkv = nn.ParameterList([p(d, 3 * d) for _ in range(cfg.depth)])
        self.proj = nn.ParameterList([p(d, d) for _ in range(cfg.depth)])
        self.fc = nn.ParameterList([p(d, h) for _ in range(cfg.depth)])
        self.fc_out = nn.ParameterList([p(h, d) for _ in range(cfg.depth)])
        self.lm_head = p(d, v)
        cos, sin = _rotary(cfg.seq_len, cfg.head_dim)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.init_weights()

    @property
    def k(self) -> int:
        return len(self.seeds)

    @torch.no_grad()
    def init_weights(self) -> None:
        """nanochat's scheme: embeddings N(0,1), in-projections U(±√3/√fan_in), output
        projections zero, lm_head N(0, 0.001); each probe from its own seed."""
        for i, seed in enumerate(self.seeds):
            g = torch.Generator().manual_seed(int(seed))
            self.wte[i].copy_(torch.randn(self.wte.shape[1:], generator=g))
            for layer in range(self.cfg.depth):
                for w in (self.qkv[layer], self.fc[layer]):
                    s = math.sqrt(3.0 / w.shape[1])
                    w[i].copy_(torch.rand(w.shape[1:], generator=g) * 2 * s - s)
                self.proj[layer][i].zero_()
                self.fc_out[layer][i].zero_()
            self.lm_head[i].copy_(torch.randn(self.lm_head.shape[1:], generator=g) * 0.001)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """``idx``/``targets``: (K, B, T) token ids. Returns per-probe mean loss (K,), or
        with ``targets=None`` the logits (K, B, T, V)."""
        cfg = self.cfg
        k, b, t = idx.shape
        d, nh, hd, v = cfg.d_model, cfg.n_heads, cfg.head_dim, cfg.vocab_size
        offs = (torch.arange(k, device=idx.device) * v).view(k, 1, 1)
        x = F.embedding(idx + offs, self.wte.view(k * v, d)).view(k, b * t, d)
        x = _rms_norm(x)
        cos, sin = self.cos[:, :t], self.sin[:, :t]
        for layer in range(cfg.depth):
            qkv = torch.bmm(_rms_norm(x), self.qkv[layer]).view(k * b, t, 3, nh, hd)
            q, kk, vv = qkv.unbind(2)
            q = _rms_norm(_apply_rotary(q, cos, sin))
            kk = _rms_norm(_apply_rotary(kk, cos, sin))
            y = F.scaled_dot_product_attention(q.transpose(1, 2), kk.transpose(1, 2),
                                               vv.transpose(1, 2), is_causal=True)
            y = y.transpose(1, 2).reshape(k, b * t, d)
            x = x + torch.bmm(y, self.proj[layer])
            hmid = F.relu(torch.bmm(_rms_norm(x), self.fc[layer])).square()
            x = x + torch.bmm(hmid, self.fc_out[layer])
        x = _rms_norm(x)
        if targets is None:
            return torch.bmm(x, self.lm_head).view(k, b, t, v)
        if not x.is_cuda:  # on CUDA, compile fuses the plain loss well enough
            return _LinearCrossEntropy.apply(x, self.lm_head, targets.reshape(k, b * t))
        logits = torch.bmm(x, self.lm_head)  # (K, B*T, V)
        loss = F.cross_entropy(logits.float().view(-1, v), targets.reshape(-1),
                               reduction="none")
        return loss.view(k, b * t).mean(1)

    @torch.no_grad()
    def token_losses(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Per-token losses in nats, (K, B, T), for evaluation."""
        logits = self(idx).float()
        k, b, t, v = logits.shape
        loss = F.cross_entropy(logits.view(-1, v), targets.reshape(-1), reduction="none")
        return loss.view(k, b, t)

    def probe_state(self, i: int) -> dict[str, torch.Tensor]:
        """Probe ``i``'s weights alone (CPU tensors), e.g. to save one probe."""
        return {name: w[i].detach().cpu().clone() for name, w in self.named_parameters()}


def clip_per_probe(params: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Clip each probe's gradient to ``max_norm`` separately; return the norms (K,).

    ``torch.nn.utils.clip_grad_norm_`` would take one norm over all K probes and couple
    them; this takes one norm per probe (the leading axis), as K separate runs would.
    """
    sq = None
    for w in params:
        if w.grad is None:
            continue
        s = w.grad.float().pow(2).flatten(1).sum(1)
        sq = s if sq is None else sq + s
    if sq is None:
        return torch.zeros(0)
    norms = sq.sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for w in params:
        if w.grad is not None:
            w.grad.mul_(scale.view(-1, *([1] * (w.grad.dim() - 1))).to(w.grad.dtype))
    return norms
