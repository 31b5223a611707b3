"""End to end: a batch of probes with and without torch.compile on the CPU, compile time
included (the sweep compiles once per process and batch shape).

    PYTHONPATH=$PWD python bench/probe_compile.py --depth 1 --tokens 60000 --k 8

Prints wall seconds and tokens/s of `train_probes` for --compile off, then on (twice: the
second run in the same process shows what a later batch of the same shape pays), and the
largest difference of the final held-out bpb between the two.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _store import bench_store

from mixforge.mixers.mix import Mix
from mixforge.tokenize.store import TokenStore
from mixforge.train_probe.data import split_heldout
from mixforge.train_probe.model import ProbeConfig
from mixforge.train_probe.train import TrainConfig, train_probes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--tokens", type=int, default=60_000)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    store = TokenStore(bench_store())
    held = split_heldout(store, seed=0)
    mixes = [Mix(dict.fromkeys(store.domains, 1.0 + i)) for i in range(args.k)]
    probe = ProbeConfig(depth=args.depth, seq_len=args.seq_len,
                        vocab_size=max(1024, store.vocab_size))
    out = {}
    for name, comp in (("eager", "off"), ("compile", "on"), ("compile again", "on")):
        cfg = TrainConfig(tokens=args.tokens, batch_size=args.batch_size, evals=1,
                          eval_tokens=2048, device="cpu", compile=comp)
        start = time.perf_counter()
        runs = train_probes(store, held, mixes, list(range(args.k)), probe, cfg)
        wall = time.perf_counter() - start
        out[name] = runs
        tps = runs[0].tokens * args.k / wall
        print(f"{name:>14}: {wall:7.1f} s, {tps:9,.0f} tokens/s (all {args.k} probes)",
              flush=True)
    diff = max(abs(a.metrics["bpb:avg"] - b.metrics["bpb:avg"])
               for a, b in zip(out["eager"], out["compile"], strict=True))
    print(f"largest |bpb:avg eager - compiled| over the probes: {diff:.4f}")


if __name__ == "__main__":
    main()
