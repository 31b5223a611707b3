"""Probe throughput: mixforge's batched probes vs a plain one-model training loop.

Run from the repository root (builds and caches a token store of the local corpus in
/tmp on first use, ~40 s)::

    PYTHONPATH=$PWD python bench/probes.py                 # all sizes, K=8, 2 threads
    PYTHONPATH=$PWD python bench/probes.py --sizes 1x16 4x32 --k 8 --threads 2
    PYTHONPATH=$PWD python bench/probes.py --batch-size 4 --seq-len 32   # small steps

For each model size, in one process on the same data (windows drawn by `MixSampler`):

- peer x1     the plain loop: one nanoGPT-style model (nn.Linear layers, torch AdamW,
              clip_grad_norm_) trained on one mix;
- ours x1     `train_probes` with one probe (the stacked model with K=1);
- peer seq K  the plain loop run K times, one probe after another (K mixes, K seeds);
- ours K      `train_probes` with the K probes as one batched model.

Printed: tokens/s of each, ``ratio = ours x1 / peer x1`` (one probe: the stacked model
and its fused loss vs the plain loop), ``gain = ours K / peer seq K`` (the aggregate gain
over training K plain probes one after another) and ``vs x1 = ours K / ours x1`` (the
part of it that batching alone buys). Every probe trains the same
number of tokens; the evaluation inside `train_probes` is cut to one window per domain.
The rows alternate over ``--rounds`` rounds and the best round is kept (the machine is
shared, so the best is the least disturbed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "tests" / "train_probe"))

from _store import bench_store  # noqa: E402
from naive_train_probe import PlainGPT  # noqa: E402

from mixforge.mixers.mix import Mix  # noqa: E402
from mixforge.tokenize.store import TokenStore  # noqa: E402
from mixforge.train_probe.data import MixSampler, eval_windows, split_heldout  # noqa: E402
from mixforge.train_probe.model import ProbeConfig, ProbeModel  # noqa: E402
from mixforge.train_probe.train import (  # noqa: E402
    TrainConfig,
    keep_freed_memory,
    lr_at,
    train_probes,
)


def peer_loop(store, held, mix, seed, cfg: ProbeConfig, tc: TrainConfig) -> float:
    """The plain one-model loop; returns seconds."""
    torch.manual_seed(seed)
    model = PlainGPT(cfg)
    model.load_probe(ProbeModel(cfg, [seed]).probe_state(0))  # same init as ours
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, betas=(0.9, 0.95), foreach=True)
    sampler = MixSampler(store, held, mix, tc.batch_size, cfg.seq_len, seed)
    steps = tc.steps(cfg.seq_len)
    start = time.perf_counter()
    for step in range(steps):
        xy = torch.from_numpy(sampler.next_batch())
        for g in opt.param_groups:
            g["lr"] = tc.lr * lr_at(step, steps, tc)
        loss = model(xy[:, :-1], xy[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def ours(store, held, mixes, seeds, cfg, tc, windows) -> float:
    start = time.perf_counter()
    train_probes(store, held, mixes, seeds, cfg, tc, windows=windows)
    return time.perf_counter() - start


def parse_size(s: str, seq_len: int) -> ProbeConfig:
    depth, aspect = (int(x) for x in s.split("x"))
    return ProbeConfig(depth=depth, aspect=aspect, head_dim=min(32, depth * aspect),
                       seq_len=seq_len)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["1x16", "1x32", "2x32", "3x32", "4x32"],
                    help="DEPTHxASPECT per model size (4x32 is the ~1M-parameter probe)")
    ap.add_argument("--k", type=int, default=8, help="probes per batch")
    ap.add_argument("--batch-size", type=int, default=8, help="sequences per probe per step")
    ap.add_argument("--seq-len", type=int, default=128, help="tokens per sequence")
    ap.add_argument("--seconds", type=float, default=1.5,
                    help="about how long one peer probe trains (sets the tokens)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # the same allocator setting for the peer and for us
    store = TokenStore(bench_store())
    held = split_heldout(store, 0)
    rng = np.random.default_rng(0)
    mixes = [Mix(dict(zip(store.domains, rng.dirichlet(np.ones(len(store.domains))),
                          strict=True))) for _ in range(args.k)]
    seeds = list(range(args.k))
    print(f"threads {args.threads}, K {args.k}, batch {args.batch_size} x seq {args.seq_len} "
          "per probe; "
          f"store {store.path}")
    header = (f"{'size':>6} {'params':>9} {'tokens':>7} | {'peer x1':>8} {'ours x1':>8} "
              f"{'ratio':>6} | {'peer seq':>8} {'ours K':>8} {'gain':>6} {'vs x1':>6}"
              "   (tokens/s)")
    print(header)
    rows = []
    for size in args.sizes:
        cfg = parse_size(size, args.seq_len)
        windows = eval_windows(store, held, cfg.seq_len, cfg.seq_len)
        probe_tc = TrainConfig(tokens=args.batch_size * cfg.seq_len * 5,
                               batch_size=args.batch_size, evals=1, device="cpu")
        dt = peer_loop(store, held, mixes[0], 0, cfg, probe_tc)  # warm up, calibrate
        tokens = int(args.seconds * probe_tc.tokens / dt)
        tokens = max(args.batch_size * cfg.seq_len * 10, tokens)
        tc = TrainConfig(tokens=tokens, batch_size=args.batch_size, evals=1, device="cpu")
        tokens = tc.steps(cfg.seq_len) * args.batch_size * cfg.seq_len
        best = {"peer1": 1e9, "ours1": 1e9, "peerK": 1e9, "oursK": 1e9}
        for _ in range(args.rounds):
            best["peer1"] = min(best["peer1"], peer_loop(store, held, mixes[0], 0, cfg, tc))
            best["ours1"] = min(best["ours1"], ours(store, held, mixes[:1], seeds[:1], cfg,
                                                    tc, windows))
            best["peerK"] = min(best["peerK"], sum(
                peer_loop(store, held, m, s, cfg, tc) for m, s in zip(mixes, seeds,
                                                                      strict=True)))
            best["oursK"] = min(best["oursK"], ours(store, held, mixes, seeds, cfg, tc,
                                                    windows))
        rate = {k: (tokens * (args.k if k.endswith("K") else 1)) / v for k, v in best.items()}
        row = (size, cfg.n_params, tokens, rate["peer1"], rate["ours1"],
               rate["ours1"] / rate["peer1"], rate["peerK"], rate["oursK"],
               rate["oursK"] / rate["peerK"], rate["oursK"] / rate["ours1"])
        rows.append(row)
        print(f"{size:>6} {cfg.n_params:>9,} {tokens:>7,} | {row[3]:>8,.0f} {row[4]:>8,.0f} "
              f"{row[5]:>5.2f}x | {row[6]:>8,.0f} {row[7]:>8,.0f} {row[8]:>5.2f}x "
              f"{row[9]:>5.2f}x", flush=True)
    one_m = [r for r in rows if r[0] == "4x32"]
    if one_m:
        agg = one_m[0][7]
        total = agg * 600
        print(f"\nCPU budget: ~1M-parameter probes (4x32) train at {agg:,.0f} tokens/s "
              f"batched (K={args.k}), so 10 minutes hold {total / 1e6:.1f}M tokens: "
              f"{args.k} probes x {total / args.k / 1e6:.2f}M tokens, or "
              f"{int(total // 1e6)} probes x 1M tokens.")


if __name__ == "__main__":
    main()
