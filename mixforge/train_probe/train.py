"""The probe training loop: K probes (mixes x seeds) as one batched model, one run.

One step: each probe's sampler draws its own (B, T+1) windows; they are stacked to
(K, B, T+1); one forward gives K losses; their sum is backpropagated (each probe gets
exactly its own gradient); gradients are clipped per probe; one AdamW step updates all
(AdamW is elementwise, so this is K independent optimizers). The learning rate warms up
linearly, holds, then decays linearly to ``final_lr_frac`` over the last
``warmdown_frac`` of the steps (nanochat's schedule).

Paths: on CPU (tests, CI) fp32 and eager by default (``precision="bf16"`` autocasts the
training matmuls where the CPU has bf16 units). With CUDA (``device="auto"``), bf16
autocast and, by default, ``torch.compile`` of the model; the batching matters more there: one
1M-parameter probe is ~2 GFLOP per step at B=16, T=128, far below what fills an H100.

Evaluation runs ``evals`` times at evenly spaced steps (the last at the end) on the
held-out windows of every domain (see evaluate.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ..config import opt
from ..errors import ConfigError
from ..mixers.mix import Mix
from ..tokenize.store import TokenStore
from .data import HeldOut, MixSampler, eval_windows
from .heldout import evaluate
from .model import ProbeConfig, ProbeModel, clip_per_probe

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """How each probe is trained and evaluated."""

    tokens: int = opt(1_000_000, "Training tokens per probe.")
    batch_size: int = opt(16, "Sequences per probe per step.")
    lr: float = opt(3e-3, "Peak AdamW learning rate.")
    weight_decay: float = opt(0.0, "AdamW weight decay.")
    warmup_frac: float = opt(0.05, "Fraction of steps of linear warmup.")
    warmdown_frac: float = opt(0.4, "Fraction of steps of linear decay at the end.")
    final_lr_frac: float = opt(0.1, "Learning rate at the end, as a fraction of the peak.")
    grad_clip: float = opt(1.0, "Clip each probe's gradient norm to this (0: off).")
    evals: int = opt(4, "Held-out evaluations during training (the last at the end).")
    eval_tokens: int = opt(8192, "At most this many held-out tokens scored per domain.")
    device: str = opt("auto", "cpu, cuda, cuda:N, or auto (cuda when present).")
    compile: Literal["auto", "on", "off"] = opt(
        "auto", "torch.compile the model: auto = on with CUDA, off on CPU.")
    threads: int = opt(0, "torch CPU threads (0: leave torch's default).")
    precision: Literal["auto", "bf16", "fp32"] = opt(
        "auto", "Training matmuls: auto = bf16 autocast with CUDA, fp32 on CPU; bf16 on a "
        "CPU with AVX512-BF16/AMX trained 1.1-1.25x the tokens/s of fp32 here "
        "(docs/probes.md); evaluation stays fp32 on CPU.")

    def validate(self) -> None:
        if self.tokens < 1 or self.batch_size < 1 or self.evals < 1:
            msg = "tokens, batch_size and evals must be >= 1"
            raise ConfigError(msg)
        if not (0 <= self.warmup_frac < 1 and 0 <= self.warmdown_frac <= 1
                and self.warmup_frac + self.warmdown_frac <= 1):
            msg = (f"warmup_frac ({self.warmup_frac}) and warmdown_frac "
                   f"({self.warmdown_frac}) must be in [0, 1] and sum to at most 1")
            raise ConfigError(msg)

    def steps(self, seq_len: int) -> int:
        return max(1, math.ceil(self.tokens / (self.batch_size * seq_len)))

    def resolve_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dev = torch.device(self.device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            msg = f"device {self.device!r} asked for, but CUDA is not available; use auto or cpu"
            raise ConfigError(msg)
        return dev


_MALLOC_SET = False


def keep_freed_memory() -> None:
    """Make glibc keep freed large blocks instead of unmapping them (CPU path, Linux).

    A probe step allocates and frees the same few-MB activation tensors every step; by
    default glibc serves blocks over its mmap threshold with fresh ``mmap`` calls, so every
    step page-faults its activations in again. Raising the mmap and trim thresholds to
    1 GiB keeps them in the heap: measured 1.2-1.9x more tokens/s for 8 batched depth-1
    probes on this 2-core machine (bench/probes.py), at the cost of the process holding
    its peak activation memory until exit. Process-wide and idempotent; a no-op off glibc.
    """
    global _MALLOC_SET
    if _MALLOC_SET or not sys.platform.startswith("linux"):
        return
    _MALLOC_SET = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        log.debug("mallopt not available; leaving the allocator as it is")


def lr_at(step: int, steps: int, cfg: TrainConfig) -> float:
    """The learning-rate multiplier at ``step`` (0-based) of ``steps``."""
    warm = round(cfg.warmup_frac * steps)
    down = round(cfg.warmdown_frac * steps)
    if step < warm:
        return (step + 1) / warm
    if step < steps - down:
        return 1.0
    frac = (steps - step) / max(down, 1)
    return frac + (1 - frac) * cfg.final_lr_frac


def eval_steps(steps: int, evals: int) -> list[int]:
    """The 1-based step counts after which to evaluate (the last is ``steps``)."""
    return sorted({max(1, round(steps * (i + 1) / evals)) for i in range(evals)})


@dataclass
class ProbeRun:
    """What one probe produced: final metrics, the eval curve and the training losses."""

    metrics: dict[str, float]
    curve: list[dict[str, float]]
    train_loss: list[float]
    tokens: int
    tokens_per_domain: dict[str, int]
    epochs: dict[str, float]


def train_probes(store: TokenStore, heldout: HeldOut, mixes: list[Mix], seeds: list[int],
                 model_cfg: ProbeConfig, cfg: TrainConfig,
                 targets: dict[str, dict[str, float]] | None = None,
                 on_step: Callable[[int], None] | None = None,
                 windows: dict[str, np.ndarray] | None = None,
                 extra_windows: dict[str, np.ndarray] | None = None) -> list[ProbeRun]:
    """Train ``len(mixes)`` probes as one batched model; probe k uses ``mixes[k]`` and
    ``seeds[k]`` (for both its initial weights and its data stream).

    ``extra_windows`` are data targets' evaluation windows (`data.target_windows`),
    scored at every evaluation beside the domains. ``on_step(tokens)`` is called after
    every step with the tokens that step trained
    (all probes together), for progress bars.

    Examples
    --------
    >>> runs = train_probes(store, held, [mix_a, mix_b], [0, 1],  # doctest: +SKIP
    ...                     ProbeConfig(depth=2), TrainConfig(tokens=100_000))
    >>> runs[0].metrics["bpb:avg"]  # doctest: +SKIP
    2.41
    """
    cfg.validate()
    model_cfg.validate()
    if len(mixes) != len(seeds) or not mixes:
        msg = f"give one seed per mix: {len(mixes)} mixes, {len(seeds)} seeds"
        raise ConfigError(msg)
    if model_cfg.vocab_size < store.vocab_size:
        msg = (f"probe vocab_size {model_cfg.vocab_size} is smaller than the token store's "
               f"{store.vocab_size}")
        raise ConfigError(msg)
    threads = torch.get_num_threads()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    try:  # the caller's thread count is restored: training must not change the process's
        return _train(store, heldout, mixes, seeds, model_cfg, cfg, targets, on_step, windows,
                      extra_windows)
    finally:
        torch.set_num_threads(threads)


def _train(store: TokenStore, heldout: HeldOut, mixes: list[Mix], seeds: list[int],
           model_cfg: ProbeConfig, cfg: TrainConfig, targets, on_step, windows,
           extra_windows) -> list[ProbeRun]:
    device = cfg.resolve_device()
    cuda = device.type == "cuda"
    if not cuda:
        keep_freed_memory()
    k, b, t = len(mixes), cfg.batch_size, model_cfg.seq_len
    samplers = [MixSampler(store, heldout, m, b, t, s) for m, s in zip(mixes, seeds,
                                                                         strict=True)]
    if windows is None:
        windows = eval_windows(store, heldout, t, cfg.eval_tokens)
    model = ProbeModel(model_cfg, seeds).to(device)
    params = list(model.parameters())
    opt_kw = {"fused": True} if cuda else {"foreach": True}
    optim = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8,
                              weight_decay=cfg.weight_decay, **opt_kw)
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and cuda)
    use_compile = cfg.compile == "on" or (cfg.compile == "auto" and cuda)
    fwd = torch.compile(model) if use_compile else model
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
    steps = cfg.steps(t)
    at_eval = set(eval_steps(steps, cfg.evals))
    losses: list[torch.Tensor] = []
    curves: list[list[dict[str, float]]] = [[] for _ in range(k)]
    start = time.perf_counter()
    log.info("training %d probe(s) of %s parameters for %d steps on %s", k,
             f"{model_cfg.n_params:,}", steps, device)
    for step in range(steps):
        batch = np.stack([s.next_batch() for s in samplers])  # (K, B, T+1)
        xy = torch.from_numpy(batch).to(device, non_blocking=True)
        mult = lr_at(step, steps, cfg)
        for group in optim.param_groups:
            group["lr"] = cfg.lr * mult
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = fwd(xy[..., :-1], xy[..., 1:])
        loss.sum().backward()
        if cfg.grad_clip > 0:
            clip_per_probe(params, cfg.grad_clip)
        optim.step()
        optim.zero_grad(set_to_none=True)
        losses.append(loss.detach())
        if on_step:
            on_step(k * b * t)
        if step + 1 in at_eval:
            rows = evaluate(model, windows, store, targets, device=device,
                            autocast=cuda and bf16, extra=extra_windows)
            for i, row in enumerate(rows):
                curves[i].append({"step": step + 1, "tokens": (step + 1) * b * t, **row})
            log.info("step %d/%d: held-out bpb:avg %s", step + 1, steps,
                     " ".join(f"{r['bpb:avg']:.3f}" for r in rows))
    train_loss = torch.stack(losses).float().cpu().numpy()  # (steps, K)
    log.info("trained %d probe(s) in %.1f s", k, time.perf_counter() - start)
    return [ProbeRun({kk: v for kk, v in curves[i][-1].items() if ":" in kk}, curves[i],
                     train_loss[:, i].tolist(), steps * b * t,
                     samplers[i].tokens_per_domain(), samplers[i].epochs())
            for i in range(k)]
