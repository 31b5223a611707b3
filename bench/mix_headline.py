"""The headline: does the proposed mix beat natural and uniform? (docs/mixing.md)

Protocol, on the real local corpus (`mixforge corpus`):

1. One corpus domain (``--holdout``, default ``python_docs``) is kept out of training
   entirely: it is not ingested, so no probe and no model ever trains on it. Its
   documents become a *data target* (``--target NAME=PATH``): the evaluation set a user
   cares about. python_docs is the default because it is real text of a kind the other
   domains only neighbour (code, READMEs, licences), so the best mix for it is not
   "train on it" and not obviously any one domain.
2. The other domains are ingested, a BPE is trained on them (``--vocab``), tokenized.
3. A probe sweep (``--probes`` probes, depth 1, ``--probe-tokens`` each) scores every
   domain and the target.
4. Two proposals: one for the mean over domains (``avg``), one for the target.
5. `mix evaluate`: natural, uniform, UniMax and both proposals, ``--seeds`` seeds, on
   models of depth ``--depth`` (parameters and tokens printed against the probes'),
   reporting paired differences with 95% intervals and tokens-to-natural; and how the
   probes' fitted predictions rank the evaluated mixes (Spearman), per objective.

Everything lands in ``--out`` (nothing is deleted): the run (``run/``), the sweep
(``run/probes``), the evaluation (``run/evaluate/*.parquet``) and ``headline.json``.

    python bench/mix_headline.py --out bench-out/headline              # full size
    python bench/mix_headline.py --out /tmp/h --max-mb 3 --probes 16 \\
        --probe-tokens 20000 --tokens-mult 5 --seeds 3                  # reduced
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from mixforge.corpus import build_corpus
from mixforge.ingest import IngestConfig
from mixforge.mixers.evaluate import EvaluateConfig, evaluate_mixes, summary_table
from mixforge.mixers.propose import propose_mix, results_matrix, target_column
from mixforge.mixers.regression import REGRESSORS
from mixforge.mixers.strategies import store_tokens
from mixforge.pipeline import PipelineConfig, run_pipeline
from mixforge.progress import table
from mixforge.tokenize.stage import TokenizeConfig
from mixforge.tokenize.store import TokenStore
from mixforge.tokenize.train import TokenizerTrainConfig
from mixforge.train_probe.model import ProbeConfig
from mixforge.train_probe.sweep import SweepConfig
from mixforge.train_probe.train import TrainConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("bench-out/headline"))
    ap.add_argument("--max-mb", type=float, default=6.0, help="corpus size")
    ap.add_argument("--holdout", default="python_docs", help="domain used as the target")
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--probes", type=int, default=24)
    ap.add_argument("--probe-tokens", type=int, default=40_000)
    ap.add_argument("--depth", type=int, default=3, help="evaluation model depth")
    ap.add_argument("--tokens-mult", type=float, default=5.0,
                    help="evaluation tokens per model / probe tokens")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--evals", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    start = time.perf_counter()
    corpus, run = args.out / "corpus", args.out / "run"
    if not (corpus / "manifest.json").exists():
        build_corpus(corpus, args.max_mb)
    files = sorted(corpus.glob("*.jsonl.zst"))
    held = [f for f in files if f.name.split(".")[0] == args.holdout]
    if not held:
        msg = f"no corpus domain {args.holdout!r} in {corpus}"
        raise SystemExit(msg)
    target = f"{args.holdout}_eval"
    probe = ProbeConfig(depth=1, seq_len=64)
    sweep = SweepConfig(n_probes=args.probes, k=min(args.probes, 12), probe=probe,
                        train=TrainConfig(tokens=args.probe_tokens, batch_size=8, evals=1),
                        targets=[f"{target}={held[0]}"])
    cfg = PipelineConfig(
        run_dir=str(run), workers=args.workers, report=False,
        ingest=IngestConfig(inputs=[str(f) for f in files if f not in held], shard_mb=0.5,
                            on_error="reject"),
        tokenizer=TokenizerTrainConfig(vocab_size=args.vocab), tokenize=TokenizeConfig(),
        probe=sweep)
    results = run_pipeline(cfg)["probe"].results
    t_sweep = time.perf_counter() - start
    store = TokenStore(run / "tokenize")
    tokens = store_tokens(store)
    budget = sum(tokens.values())
    mixes = {}
    for label, tgt in (("proposal_avg", None), ("proposal_target", target)):
        mix, _fit = propose_mix(results, tokens, budget, epoch_cap=4.0, target=tgt)
        mixes[label] = mix.save(run / "mix" / f"{label}.yaml")
    eval_cfg = EvaluateConfig(
        mixes=["unimax", *(f"{k}={v}" for k, v in mixes.items())], seeds=args.seeds,
        k=12, targets=sweep.targets,
        probe=ProbeConfig(depth=args.depth, seq_len=64),
        train=TrainConfig(tokens=int(args.probe_tokens * args.tokens_mult), batch_size=8,
                          evals=args.evals))
    ev = evaluate_mixes(eval_cfg, run)
    # the probes' fitted predictions for the evaluated mixes vs what the models measured
    domains, w, y = results_matrix(results)
    transfer = {}
    for objective in ("avg", target):
        if objective == "avg":
            model, obj = REGRESSORS["mixing_law"]().fit(w, y), np.full(len(domains),
                                                                         1 / len(domains))
        else:
            model, obj = (REGRESSORS["mixing_law"]().fit(w, target_column(results, target,
                                                                          domains)),
                          np.ones(1))
        res = ev.results
        pred, meas, seen = [], [], set()
        for label in res["mix"].unique(maintain_order=True).to_list():
            rows = res.filter(pl.col("mix") == label)
            wm = np.array([[rows[f"w:{d}"][0] for d in domains]])
            if tuple(wm[0].round(9)) in seen:  # UniMax equal to uniform: one mix, not two
                continue
            seen.add(tuple(wm[0].round(9)))
            pred.append(float(model.predict(wm)[0] @ obj))
            meas.append(float(rows[f"bpb:{objective}"].mean()))
        transfer[objective] = {"spearman": float(stats.spearmanr(pred, meas).statistic),
                               "n_mixes": len(pred)}
    wall = time.perf_counter() - start
    p_params = ProbeConfig(depth=1, seq_len=64, vocab_size=store.vocab_size).n_params
    e_params = int(ev.results["params"][0])
    head = (f"probes: {args.probes} x depth 1 ({p_params:,} params) x "
            f"{args.probe_tokens:,} tokens; evaluation: depth {args.depth} ({e_params:,} "
            f"params, {e_params / p_params:.1f}x) x {eval_cfg.train.tokens:,} tokens "
            f"({args.tokens_mult:g}x), {args.seeds} seeds; target {target} = corpus "
            f"domain {args.holdout}, never trained on; wall {wall:.0f} s "
            f"(sweep {t_sweep:.0f} s)")
    print(head)
    for objective in ("avg", target):
        print(table(summary_table(ev.summary, [objective]),
                    f"{objective}: bpb, paired differences (95% CI), tokens to natural; "
                    f"probe->model Spearman {transfer[objective]['spearman']:.2f} over "
                    f"{transfer[objective]['n_mixes']} distinct mixes"))
    out = {"args": {k: str(v) for k, v in vars(args).items()}, "header": head,
           "probe_params": p_params, "eval_params": e_params, "wall_s": round(wall, 1),
           "transfer": transfer, "weights": {m: json.loads(json.dumps(
               {c[2:]: ev.results.filter(pl.col("mix") == m)[c][0]
                for c in ev.results.columns if c.startswith("w:")}))
               for m in ev.results["mix"].unique(maintain_order=True).to_list()},
           "summary": ev.summary.filter(pl.col("target").is_in(["avg", target])).to_dicts()}
    (args.out / "headline.json").write_text(json.dumps(out, indent=1, default=str))
    print(f"figures: {args.out / 'headline.json'}; evaluation: {ev.out}")


if __name__ == "__main__":
    main()
