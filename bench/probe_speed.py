"""How fast do probes train, as a fraction of what this machine's matmuls can do?

Run from the repository root (a minute or two; synthetic tokens, no store needed)::

    PYTHONPATH=$PWD python bench/probe_speed.py                      # CPU, 1 and 2 threads
    PYTHONPATH=$PWD python bench/probe_speed.py --compile             # + torch.compile
    PYTHONPATH=$PWD python bench/probe_speed.py --device cuda --k 64  # a GPU

1. **Matmul peak**: the best GFLOP/s of square ``torch.mm`` (fp32 and bf16) at a few
   sizes, per thread count (on CUDA: bf16 with fp32 accumulation, and tf32).
2. **Probe training**: the step the sweep runs (``ProbeModel`` forward with the fused
   cross-entropy, backward, per-probe clipping, AdamW) on K probes batched, for each
   variant: fp32 eager, bf16 autocast, and with ``--compile`` torch.compile. Printed:
   tokens/s (all K probes), the model FLOPs per token (``ProbeConfig.flops_per_token``:
   6N + attention) and the fraction of the measured fp32 (CPU) / bf16 (CUDA) peak.

Each figure is the best of ``--rounds`` timed runs of ``--steps`` steps after a warm-up
step (the machine may be shared: the best is the least disturbed); the load average is
printed with the results.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from mixforge.train_probe.model import ProbeConfig, ProbeModel, clip_per_probe


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_peak(dtype: torch.dtype, device: str, sizes=(512, 1024, 2048),
                seconds: float = 0.5) -> float:
    """Best GFLOP/s of ``torch.mm`` at square ``sizes``."""
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        torch.mm(a, b)
        sync(device)
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            torch.mm(a, b)
            reps += 1
        sync(device)
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - start) / 1e9)
    return best


def probe_speed(cfg: ProbeConfig, k: int, batch: int, device: str, autocast: bool,
                compile_: bool, steps: int, rounds: int) -> float:
    """Best tokens/s (all K probes) of the sweep's training step."""
    model = ProbeModel(cfg, list(range(k))).to(device)
    params = list(model.parameters())
    cuda = device.startswith("cuda")
    opt = torch.optim.AdamW(params, lr=1e-3, **({"fused": True} if cuda else
                                                 {"foreach": True}))
    fwd = torch.compile(model) if compile_ else model
    xy = torch.randint(0, cfg.vocab_size, (k, batch, cfg.seq_len + 1), device=device)
    dev_type = "cuda" if cuda else "cpu"

    def step() -> None:
        with torch.autocast(dev_type, dtype=torch.bfloat16, enabled=autocast):
            loss = fwd(xy[..., :-1], xy[..., 1:])
        loss.sum().backward()
        clip_per_probe(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    step()
    sync(device)
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync(device)
        best = max(best, steps * k * batch * cfg.seq_len / (time.perf_counter() - start))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--depths", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--k", type=int, default=8, help="probes per batch")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile")
    ap.add_argument("--no-bf16", action="store_true", help="skip the bf16 autocast rows")
    args = ap.parse_args()
    cuda = args.device.startswith("cuda")
    threads = [0] if cuda else args.threads
    print(f"device {args.device}; torch {torch.__version__}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for th in threads:
        if th:
            torch.set_num_threads(th)
        tag = f"{th} thread(s)" if th else args.device
        peak32 = matmul_peak(torch.float32, args.device)
        peak16 = matmul_peak(torch.bfloat16, args.device)
        peak = peak16 if cuda else peak32
        print(f"\n[{tag}] matmul peak: fp32 {peak32:,.0f} GFLOP/s, bf16 {peak16:,.0f} "
              f"GFLOP/s (fraction below is of {'bf16' if cuda else 'fp32'})")
        print(f"{'depth':>5} {'params':>8} {'variant':>14} {'tokens/s':>10} "
              f"{'GFLOP/s':>8} {'of peak':>8}")
        variants = [("fp32 eager", False, False)]
        if not args.no_bf16:
            variants.append(("bf16 autocast", True, False))
        if args.compile:
            variants.append(("fp32 compile", False, True))
            if not args.no_bf16:
                variants.append(("bf16 compile", True, True))
        for depth in args.depths:
            cfg = ProbeConfig(depth=depth, seq_len=args.seq_len, vocab_size=args.vocab)
            for name, ac, comp in variants:
                tps = probe_speed(cfg, args.k, args.batch_size, args.device, ac, comp,
                                  args.steps, args.rounds)
                gflops = tps * cfg.flops_per_token() / 1e9
                print(f"{depth:>5} {cfg.n_params:>8,} {name:>14} {tps:>10,.0f} "
                      f"{gflops:>8.1f} {gflops / peak:>8.1%}", flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
