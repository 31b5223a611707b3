"""`mixforge mix propose` and `mixforge probe fit`: probe-driven mixing."""

from __future__ import annotations

from pathlib import Path

import click

from ..progress import table
from ..tokenize.store import TokenStore

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _store(run_dir: Path) -> TokenStore:
    return TokenStore(run_dir / "tokenize")


def _probe_results(run_dir: Path):
    import polars as pl

    path = run_dir / "probes" / "results.parquet"
    if not path.exists():
        from ..errors import ConfigError

        msg = f"{path} does not exist: run `mixforge probe sweep -r {run_dir}` first"
        raise ConfigError(msg)
    return pl.read_parquet(path)


@click.command(context_settings=CONTEXT)
@click.option("--run-dir", "-r", type=click.Path(path_type=Path), required=True,
              help="A run with a token store and a probe sweep (RUN_DIR/probes).")
@click.option("--strategy", type=click.Choice(["regmix", "doremi"]), default="regmix",
              show_default=True, help="regmix: fit a regressor on the probe sweep's results "
              "and minimize its predicted held-out bpb. doremi: train a reference and a "
              "proxy probe and reweight domains by excess loss (no sweep needed).")
@click.option("--doremi-steps", type=int, default=200, show_default=True,
              help="doremi: training steps of the reference and the proxy.")
@click.option("--regressor", type=click.Choice(["mixing_law", "linear"]),
              default="mixing_law", show_default=True, help="The loss model of the mix.")
@click.option("--target", default=None,
              help="Minimize this target's bpb: a domain, or a target the sweep scored "
              "(a data target NAME=PATH or a set of domains, from `probe sweep --target`); "
              "default: the mean over domains (avg).")
@click.option("--kl", type=float, default=0.05, show_default=True,
              help="Pull toward the prior (tokens^0.5): KL weight in the objective.")
@click.option("--budget", type=int, default=0,
              help="Training tokens of the final run (default: every token once).")
@click.option("--epoch-cap", type=float, default=4.0, show_default=True,
              help="Most times any domain may be repeated at that budget.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None,
              help="Where to write the mix (default: RUN_DIR/mix/regmix.yaml).")
def propose(run_dir: Path, strategy: str, doremi_steps: int, regressor: str,
            target: str | None, kl: float, budget: int, epoch_cap: float, seed: int,
            out: Path | None) -> None:
    """Propose a mix: regmix (from a probe sweep) or doremi (reference + proxy probes)."""
    import polars as pl

    if strategy == "doremi":
        from .doremi import DoReMiConfig, doremi

        m, info = doremi(_store(run_dir), DoReMiConfig(steps=doremi_steps, seed=seed))
        df = pl.DataFrame([{"domain": d, "doremi (average)": round(w, 4),
                            "final alpha": round(info["final_alpha"][d], 4)}
                           for d, w in m.weights.items()])
        click.echo(table(df, f"DoReMi weights ({doremi_steps} steps)"))
        click.echo(f"mix: {m.save(out or run_dir / 'mix' / 'doremi.yaml')}")
        return

    from .propose import propose_mix
    from .strategies import store_tokens

    tokens = store_tokens(_store(run_dir))
    m, fit = propose_mix(_probe_results(run_dir), tokens, budget or sum(tokens.values()),
                         epoch_cap, target, regressor, kl, seed)
    total = sum(tokens.values())
    df = pl.DataFrame([{"domain": d, "natural": round(tokens[d] / total, 4),
                        "uniform": round(1 / len(tokens), 4),
                        "regmix top-k": round(fit["regmix_top_k_weights"][d], 4),
                        "proposed": round(w, 4)} for d, w in m.weights.items()])
    click.echo(table(df, f"proposed mix ({regressor}, {fit['n_probes']} probes)"))
    p = fit["predicted"]
    click.echo(f"predicted {fit['target']} bpb: proposed {p['proposed']:.4f}, regmix top-k "
               f"{p['regmix_top_k']:.4f}, natural {p['natural']:.4f}, uniform "
               f"{p['uniform']:.4f}")
    if fit["cv"]:
        click.echo(f"fit (5-fold CV on held-out probes): Spearman {fit['cv']['spearman']:.3f}, "
                   f"MAE {fit['cv']['mae']:.4f} bpb")
    click.echo(f"mix: {m.save(out or run_dir / 'mix' / 'regmix.yaml')}")


@click.command("fit", context_settings=CONTEXT)
@click.option("--run-dir", "-r", type=click.Path(path_type=Path), required=True,
              help="A run with a probe sweep (RUN_DIR/probes).")
def probe_fit(run_dir: Path) -> None:
    """How well probe results predict held-out bpb: regressors vs trivial predictors."""
    from .fit import fit_table
    from .strategies import store_tokens

    df, _ = fit_table(_probe_results(run_dir), store_tokens(_store(run_dir)))
    click.echo(table(df, "cross-validated fit on held-out probes (mean over domains)"))


def _evaluate_options(fn):
    from ..config import click_options
    from ..train_probe.model import ProbeConfig
    from ..train_probe.train import TrainConfig
    from .evaluate import EvaluateConfig

    fn = click_options(TrainConfig)(fn)
    fn = click_options(ProbeConfig, skip=("vocab_size",))(fn)
    return click_options(EvaluateConfig)(fn)


@click.command("evaluate", context_settings=CONTEXT)
@click.option("--run-dir", "-r", type=click.Path(path_type=Path), required=True,
              help="A run with a token store (RUN_DIR/tokenize).")
@_evaluate_options
def evaluate_cmd(run_dir: Path, **flags) -> None:
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
    from ..train_probe.model import ProbeConfig
    from ..train_probe.train import TrainConfig
    from .evaluate import EvaluateConfig, evaluate_mixes, summary_table

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
    from ..train_probe.evaluate import thin_figures

    for line in thin_figures(ev.results.row(0, named=True)):
        click.echo(f"note: {line}")
    click.echo(f"results: {ev.out / 'summary.parquet'} (every domain too), "
               f"{ev.out / 'results.parquet'}")
