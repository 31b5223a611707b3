"""`mixforge mix plan|propose`: make a mix by a strategy, or propose one from probes."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import click_options
from ..mixers.strategies import DEFAULT_TAU
from ._common import (
    CONTEXT,
    probe_results,
    probes_folder,
    probes_option,
    store_options,
    store_path,
)


@click.group("mix", context_settings=CONTEXT)
def command() -> None:
    """Data mixes: make one with a strategy and see its plan against a token store."""


@command.command("plan", context_settings=CONTEXT)
@store_options
@click.option("--mix", "mix_file", type=click.Path(path_type=Path), default=None,
              help="Plan this mix file (YAML/JSON) instead of making one.")
@click.option("--strategy", type=click.Choice(["natural", "uniform", "temperature", "unimax",
                                               "manual"]),
              default="natural", show_default=True, help="How to weight the domains.")
@click.option("--budget", default=None, help="Token budget: 2000, 1e9, 300M, 1.5B (default: "
              "every token of the store once).")
@click.option("--epoch-cap", type=float, default=4.0, show_default=True,
              help="Most epochs any domain may be repeated.")
@click.option("--tau", type=float, default=DEFAULT_TAU, show_default=True,
              help="Temperature (strategy temperature): p ∝ tokens^(1/tau).")
@click.option("--weights", multiple=True,
              help="Manual weights, NAME=W[,NAME=W...] (strategy manual).")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@click.option("--val-fraction", type=float, default=0.005, show_default=True,
              help="Share of the budget held out for validation.")
@click.option("--over-cap", type=click.Choice(["error", "exceed", "shrink"]), default="error",
              show_default=True, help="What export does with a domain over its cap.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None,
              help="Write the mix here (.yaml/.yml or .json).")
def plan(store: Path | None, run_dir: Path | None, mix_file: Path | None,
         strategy: str, budget: str | None, epoch_cap: float, tau: float,
         weights: tuple[str, ...], seed: int, val_fraction: float, over_cap: str,
         out: Path | None) -> None:
    """Make a mix (or read --mix) and print its plan: per domain tokens available, taken,
    epochs, and warnings where a domain would pass its epoch cap."""
    import polars as pl

    from ..config import parse_tokens
    from ..mixers.mix import Mix
    from ..mixers.plan import plan_store
    from ..mixers.strategies import make_mix, parse_weights, store_tokens
    from ..progress import table
    from ..tokenize.store import TokenStore

    path = store_path(store, run_dir)
    ts = TokenStore(path)
    if mix_file is not None:
        mix = Mix.load(mix_file)
        if budget is not None:
            mix.budget_tokens = parse_tokens(budget)
    else:
        tokens = store_tokens(ts)
        if budget is None:  # as probe sweep's --final-budget 0: every token once
            budget = str(sum(tokens.values()))
            click.echo(f"no --budget: every token of the store once ({int(budget):,} tokens)",
                       err=True)
        mix = make_mix(strategy, tokens, parse_tokens(budget), epoch_cap=epoch_cap,
                       seed=seed, tau=tau, weights=parse_weights(weights) if weights else None,
                       inputs={"store": str(path)})
    plan = plan_store(mix, ts, val_fraction=val_fraction,
                      over_cap=over_cap)  # type: ignore[arg-type]
    strat = mix.provenance.get("strategy", "given")
    with pl.Config(tbl_width_chars=160):
        click.echo(table(plan.table(), f"plan: {strat} mix of {mix.budget_tokens:,} tokens, "
                                       f"seed {mix.seed}, from {path}"))
    for w in plan.warnings:
        click.echo(f"warning: {w}", err=True)
    if plan.shortfall:
        click.echo(f"warning: the plan gives up {plan.shortfall:,} tokens of the budget",
                   err=True)
    if plan.over_cap_policy == "error" and any(r.over_cap for r in plan.rows):
        click.echo("warning: `export` with --over-cap error will refuse this mix; lower the "
                   "budget, raise the cap, or choose --over-cap exceed or shrink", err=True)
    if out is not None:
        mix.save(out)
        click.echo(f"mix written to {out}")


@command.command("propose", context_settings=CONTEXT)
@click.option("--run-dir", "-r", type=click.Path(path_type=Path), required=True,
              help="A run with a token store and a probe sweep (RUN_DIR/probes).")
@click.option("--strategy", type=click.Choice(["regmix", "doremi"]), default="regmix",
              show_default=True, help="regmix: fit a regressor on the probe sweep's results "
              "and minimize its predicted held-out bpb. doremi: train a reference and a "
              "proxy probe and reweight domains by excess loss (no sweep needed).")
@click.option("--doremi-steps", type=int, default=200, show_default=True,
              help="doremi: training steps of the reference and the proxy.")
@probes_option
@click.option("--regressor", type=click.Choice(["auto", "mixing_law", "linear", "gbm"]),
              default="auto", show_default=True, help="The loss model of the mix: auto "
              "takes the one that wins 5-fold CV on the objective.")
@click.option("--target", default=None,
              help="Minimize this target's bpb: a domain, or a target the sweep scored "
              "(a data target NAME=PATH or a set of domains, from `probe sweep --target`); "
              "default: the mean over domains (avg).")
@click.option("--kl", type=float, default=0.05, show_default=True,
              help="Pull toward the prior (tokens^0.5): KL weight in the objective.")
@click.option("--budget", type=int, default=0,
              help="Training tokens of the final run (default: the sweep's --budget, else "
              "every token once).")
@click.option("--epoch-cap", type=float, default=4.0, show_default=True,
              help="Most times any domain may be repeated at that budget.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None,
              help="Where to write the mix (default: RUN_DIR/mix/regmix.yaml).")
def propose(run_dir: Path, strategy: str, doremi_steps: int, probes: Path | None,
            regressor: str, target: str | None, kl: float, budget: int, epoch_cap: float,
            seed: int, out: Path | None) -> None:
    """Propose a mix: regmix (from a probe sweep) or doremi (reference + proxy probes)."""
    import polars as pl

    from ..layout import mix_file, token_store
    from ..progress import table
    from ..tokenize.store import TokenStore

    store = TokenStore(token_store(run_dir))
    if strategy == "doremi":
        from ..mixers.doremi import DoReMiConfig, doremi

        m, info = doremi(store, DoReMiConfig(steps=doremi_steps, seed=seed))
        df = pl.DataFrame([{"domain": d, "doremi (average)": round(w, 4),
                            "final alpha": round(info["final_alpha"][d], 4)}
                           for d, w in m.weights.items()])
        click.echo(table(df, f"DoReMi weights ({doremi_steps} steps)"))
        click.echo(f"mix: {m.save(out or mix_file(run_dir, 'doremi'))}")
        return

    from ..mixers.propose import load_sweep_info, propose_mix
    from ..mixers.strategies import store_tokens

    tokens = store_tokens(store)
    folder = probes_folder(run_dir, probes)
    results = probe_results(folder)
    info = load_sweep_info(folder, results)
    now = store.meta.get("tokenizer", {}).get("fingerprint")
    if info.get("sweep_tokenizer") and now and info["sweep_tokenizer"] != now:
        click.echo("warning: the probes were trained on a token store made with another "
                   "tokenizer (it was retrained since the sweep): their bpb no longer "
                   "describes this store; rerun `mixforge probe sweep`", err=True)
    budget = budget or info.get("sweep_budget") or sum(tokens.values())
    m, fit = propose_mix(results, tokens, budget, epoch_cap, target, regressor, kl, seed,
                         sweep=info)
    total = sum(tokens.values())
    df = pl.DataFrame([{"domain": d, "natural": round(tokens[d] / total, 4),
                        "uniform": round(1 / len(tokens), 4),
                        "regmix top-k": round(fit["regmix_top_k_weights"][d], 4),
                        "proposed": round(w, 4),
                        "bound": fit["domains_at_bound"].get(d, "")}
                       for d, w in m.weights.items()])
    how = "chosen by CV" if fit["selected_by"] == "cv" else "given"
    click.echo(table(df, f"proposed mix ({fit['regressor']}, {how}; {fit['n_probes']} "
                         f"probes; budget {budget:,} tokens)"))
    p = fit["predicted"]
    click.echo(f"predicted {fit['target']} bpb: proposed {p['proposed']:.4f}, regmix top-k "
               f"{p['regmix_top_k']:.4f}, natural {p['natural']:.4f}, uniform "
               f"{p['uniform']:.4f}")
    if fit["cv"]:
        row = next(r for r in fit["cv_table"] if r["predictor"] == fit["best_trivial"])
        click.echo(f"fit (5-fold CV on held-out probes, {fit['target']}): Spearman "
                   f"{fit['cv']['spearman']:.3f}, MAE {fit['cv']['mae']:.4f} bpb; best "
                   f"trivial predictor ({fit['best_trivial'].removeprefix('trivial: ')}) "
                   f"Spearman {row['spearman_obj']:.3f}, MAE {row['mae_obj']:.4f}")
    for w in fit["warnings"]:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"mix: {m.save(out or mix_file(run_dir, 'regmix'))}")


def _evaluate_options(fn):
    from ..mixers.evaluate import EvaluateConfig
    from ..train_probe.model import ProbeConfig
    from ..train_probe.train import TrainConfig

    fn = click_options(TrainConfig)(fn)
    fn = click_options(ProbeConfig, skip=("vocab_size",))(fn)
    return click_options(EvaluateConfig)(fn)


@command.command("evaluate", context_settings=CONTEXT)
@click.option("--run-dir", "-r", type=click.Path(path_type=Path), required=True,
              help="A run with a token store (RUN_DIR/tokenize).")
@_evaluate_options
def evaluate(run_dir: Path, **flags) -> None:
    """Train a model per mix x seed and compare mixes per target, paired by seed.

    Mixes: strategy names (natural, uniform, unimax, temperature), mix files or
    LABEL=FILE; natural and uniform are always there. Reports mean bpb with a 95% CI over
    seeds, the paired difference to natural and to uniform with its 95% CI, and the
    tokens each mix needs to reach natural's final bpb (fraction of natural's). Results:
    RUN_DIR/evaluate/{results,summary,curves}.parquet; a rerun skips finished models.
    """
    import sys

    from tqdm import tqdm

    from ..config import from_flags
    from ..mixers.evaluate import EvaluateConfig, evaluate_mixes, summary_table
    from ..progress import table
    from ..train_probe.heldout import thin_figures
    from ..train_probe.model import ProbeConfig
    from ..train_probe.train import TrainConfig

    cfg = from_flags(EvaluateConfig, flags)
    cfg.probe = from_flags(ProbeConfig, flags, where="model options")
    cfg.train = from_flags(TrainConfig, flags, where="train options")
    n = (len(set(cfg.mixes) | {"natural", "uniform"})) * cfg.seeds
    bar = tqdm(total=n * cfg.train.tokens, desc="tokens", unit="tok", unit_scale=True,
               file=sys.stderr, dynamic_ncols=True, disable=None)
    try:
        ev = evaluate_mixes(cfg, run_dir, on_step=bar.update)
    finally:
        bar.close()
    click.echo(f"mix evaluate: {ev.ran} model(s) trained, {ev.skipped} already done; "
               f"{ev.results['params'][0]:,} parameters x {cfg.train.tokens:,} tokens, "
               f"{cfg.seeds} seed(s); bits per byte (lower is better)")
    shown = [t for t in ev.targets if t == "avg" or t not in
             {c[2:] for c in ev.results.columns if c.startswith("w:")}]
    click.echo(table(summary_table(ev.summary, shown), "mixes per target: mean [95% CI] over "
                     "seeds; differences paired by seed (negative: better)"))
    for line in thin_figures(ev.results.row(0, named=True)):
        click.echo(f"note: {line}")
    click.echo(f"results: {ev.out / 'summary.parquet'} (every domain too), "
               f"{ev.out / 'results.parquet'}")
