"""`mixforge mix propose` and `mixforge probe fit`: probe-driven mixing."""

from __future__ import annotations

from pathlib import Path

import click

from ..progress import table
from ..tokenize.store import TokenStore

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _store(run_dir: Path) -> TokenStore:
    return TokenStore(run_dir / "tokenize")


def _probes_dir(run_dir: Path | None, probes: Path | None) -> Path:
    """The sweep folder: --probes (a sweep folder or its results.parquet), else
    RUN_DIR/probes."""
    from ..errors import ConfigError

    if probes is not None:
        return probes.parent if probes.suffix == ".parquet" else probes
    if run_dir is None:
        msg = "name the probe sweep: --probes PATH (a sweep folder), or --run-dir RUN"
        raise ConfigError(msg)
    return run_dir / "probes"


def _probe_results(folder: Path):
    import polars as pl

    path = folder / "results.parquet"
    if not path.exists():
        from ..errors import ConfigError

        msg = (f"{path} does not exist: run `mixforge probe sweep` first (with --out "
               f"{folder} if it is not RUN_DIR/probes), or point --probes at its folder")
        raise ConfigError(msg)
    return pl.read_parquet(path)


def _probes_option(fn):
    return click.option("--probes", "-p", type=click.Path(path_type=Path), default=None,
                        help="The probe sweep's folder (or its results.parquet), e.g. a "
                        "sweep written with --out (default: RUN_DIR/probes).")(fn)


@click.command(context_settings=CONTEXT)
@click.option("--run-dir", "-r", type=click.Path(path_type=Path), required=True,
              help="A run with a token store and a probe sweep (RUN_DIR/probes).")
@click.option("--strategy", type=click.Choice(["regmix", "doremi"]), default="regmix",
              show_default=True, help="regmix: fit a regressor on the probe sweep's results "
              "and minimize its predicted held-out bpb. doremi: train a reference and a "
              "proxy probe and reweight domains by excess loss (no sweep needed).")
@click.option("--doremi-steps", type=int, default=200, show_default=True,
              help="doremi: training steps of the reference and the proxy.")
@_probes_option
@click.option("--regressor", type=click.Choice(["auto", "mixing_law", "linear", "gbm"]),
              default="auto", show_default=True, help="The loss model of the mix: auto "
              "takes the one that wins 5-fold CV on the objective.")
@click.option("--target", default=None,
              help="Minimize this domain's bpb (default: the mean over domains).")
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

    if strategy == "doremi":
        from .doremi import DoReMiConfig, doremi

        m, info = doremi(_store(run_dir), DoReMiConfig(steps=doremi_steps, seed=seed))
        df = pl.DataFrame([{"domain": d, "doremi (average)": round(w, 4),
                            "final alpha": round(info["final_alpha"][d], 4)}
                           for d, w in m.weights.items()])
        click.echo(table(df, f"DoReMi weights ({doremi_steps} steps)"))
        click.echo(f"mix: {m.save(out or run_dir / 'mix' / 'doremi.yaml')}")
        return

    from .propose import load_sweep_info, propose_mix
    from .strategies import store_tokens

    tokens = store_tokens(_store(run_dir))
    folder = _probes_dir(run_dir, probes)
    results = _probe_results(folder)
    info = load_sweep_info(folder, results)
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
        click.echo(f"fit (5-fold CV on held-out probes, {fit['target']}): Spearman "
                   f"{fit['cv']['spearman']:.3f}, MAE {fit['cv']['mae']:.4f} bpb; best "
                   f"trivial predictor ({fit['best_trivial'].removeprefix('trivial: ')}) "
                   + _trivial_line(fit))
    for w in fit["warnings"]:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"mix: {m.save(out or run_dir / 'mix' / 'regmix.yaml')}")


def _trivial_line(fit: dict) -> str:
    row = next(r for r in fit["cv_table"] if r["predictor"] == fit["best_trivial"])
    return f"Spearman {row['spearman_obj']:.3f}, MAE {row['mae_obj']:.4f}"


@click.command("fit", context_settings=CONTEXT)
@click.option("--run-dir", "-r", type=click.Path(path_type=Path), default=None,
              help="A run with a token store and a probe sweep (RUN_DIR/probes).")
@_probes_option
@click.option("--target", default=None,
              help="Score the fit on this domain's bpb (default: the mean over domains).")
def probe_fit(run_dir: Path | None, probes: Path | None, target: str | None) -> None:
    """How well probe results predict held-out bpb: regressors vs trivial predictors.

    Every regressor and trivial predictor is scored by 5-fold CV on held-out probes:
    Spearman and MAE averaged over the domains, and on the objective (_obj columns). The
    chosen regressor is the one `mix propose --regressor auto` would take.
    """
    from .propose import fit_report
    from .strategies import store_tokens

    if run_dir is None:
        from ..errors import ConfigError

        msg = "probe fit needs the token store: give --run-dir RUN (RUN/tokenize)"
        raise ConfigError(msg)
    rep = fit_report(_probe_results(_probes_dir(run_dir, probes)),
                     store_tokens(_store(run_dir)), target)
    click.echo(table(rep.table, f"cross-validated fit on held-out probes (objective: "
                                f"{rep.objective})"))
    if rep.best:
        click.echo(f"chosen: {rep.best}" + ("" if rep.beats_trivial else
                                            " (does NOT beat the trivial predictors)"))
    for w in rep.warnings():
        click.echo(f"warning: {w}", err=True)
