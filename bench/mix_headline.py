"""Does the proposed mix win? Larger probes on natural, uniform, UniMax and a proposed mix.

Trains one model per (mix, seed) — bigger and longer than the sweep's probes — on the
run's token store, and reports held-out average bits per byte per mix with a 95%
confidence interval over seeds (t distribution). Same held-out documents for every model.

    python bench/mix_headline.py -r mixforge-demo/run --proposed mixforge-demo/run/mix/regmix.yaml \
        [--seeds 3] [--depth 2] [--tokens 300000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from scipy import stats

from mixforge.executor import LocalExecutor
from mixforge.mixers.mix import Mix
from mixforge.mixers.strategies import make_mix, store_tokens
from mixforge.tokenize.store import TokenStore
from mixforge.train_probe.model import ProbeConfig
from mixforge.train_probe.sweep import SweepConfig, run_sweep
from mixforge.train_probe.train import TrainConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-r", "--run-dir", type=Path, required=True)
    ap.add_argument("--proposed", type=Path, required=True, action="append")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=300_000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    store = TokenStore(args.run_dir / "tokenize")
    tokens = store_tokens(store)
    budget = sum(tokens.values())
    mixes = {s: make_mix(s, tokens, budget, epoch_cap=4.0) for s in ("natural", "uniform",
                                                                      "unimax")}
    for p in args.proposed:
        mixes[p.stem] = Mix.load(p)
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "mixes"
        folder.mkdir()
        for name, mix in mixes.items():
            mix.save(folder / f"{name}.yaml")
        cfg = SweepConfig(mixes=[str(folder)], seeds_per_mix=args.seeds, k=len(mixes) *
                          args.seeds, out=str(Path(d) / "sweep"),
                          probe=ProbeConfig(depth=args.depth, seq_len=64),
                          train=TrainConfig(tokens=args.tokens, batch_size=8, evals=2))
        res = run_sweep(cfg, args.run_dir, LocalExecutor(args.workers)).results
    names = sorted(mixes)  # mix files are read in name order
    print(f"{args.depth}-block probes, {args.tokens:,} tokens each, {args.seeds} seeds; "
          "held-out average bits per byte (lower is better)")
    print(f"{'mix':<12} {'mean bpb':>9} {'95% CI':>17} {'per seed'}")
    for i, name in enumerate(names):
        rows = res.filter(res["probe"].str.starts_with(f"p{i:04d}"))
        v = rows["bpb:avg"].to_numpy()
        half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
        print(f"{name:<12} {v.mean():>9.4f} [{v.mean() - half:.4f}, {v.mean() + half:.4f}] "
              f"{np.round(v, 4).tolist()}")


if __name__ == "__main__":
    main()
