"""`mixforge probe sweep|fit`: train probes over many mixes; how well they predict."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..config import click_options, from_flags
from ..train_probe.model import ProbeConfig
from ..train_probe.sweep import SweepConfig
from ..train_probe.train import TrainConfig
from ._common import CONTEXT, RunOptions, probe_results, run_options


@click.group("probe", context_settings=CONTEXT)
def command() -> None:
    """Small transformer probes trained on candidate mixes."""


@command.command("sweep", context_settings=CONTEXT)
@run_options
@click_options(SweepConfig)
@click_options(ProbeConfig, skip=("vocab_size",))
@click_options(TrainConfig)
@click.option("--dry-run", is_flag=True, help="Print the resolved plan and stop.")
def sweep(run: RunOptions, dry_run: bool, **flags) -> None:
    """Train one probe per mix (x seeds) on RUN_DIR/tokenize; results in RUN_DIR/probes.

    Mixes come from --mix files/folders, or are sampled from a seeded Dirichlet
    (--n-probes, --prior, --concentration). Probes train --k at a time as one batched
    model; results.jsonl gets one row per probe as each batch finishes, and a rerun
    skips finished probes. --workers defaults to 1 here: on a small CPU one process with
    a larger --k uses the cores better than several processes.
    """
    from tqdm import tqdm

    from ..tokenize.store import TokenStore
    from ..train_probe.sweep import plan_sweep, run_sweep, summary_table

    run_dir = run.run_dir
    cfg = from_flags(SweepConfig, flags)
    cfg.probe = from_flags(ProbeConfig, flags, where="probe options")
    cfg.train = from_flags(TrainConfig, flags, where="train options")
    store = TokenStore(cfg.store_dir(run_dir))
    plans = plan_sweep(cfg, store)
    n_params = ProbeConfig(**{**cfg.probe.__dict__, "vocab_size": store.vocab_size}).n_params
    click.echo(f"probe sweep: {len(plans)} probes of {n_params:,} parameters x "
               f"{cfg.train.tokens:,} tokens, {cfg.k} per batch, on "
               f"{cfg.train.resolve_device()}; store {store.path}")
    if dry_run:
        for p in plans:
            top = sorted(p.mix.weights.items(), key=lambda kv: -kv[1])[:3]
            click.echo(f"  {p.id} seed {p.seed}: " + ", ".join(f"{d} {w:.2f}" for d, w in top))
        return
    executor = run.executor(default_workers=1)
    tok_bar = tqdm(total=len(plans) * cfg.train.tokens, desc="tokens", unit="tok",
                   unit_scale=True, file=sys.stderr, dynamic_ncols=True, disable=None)
    probe_bar = tqdm(total=len(plans), desc="probes", unit="probe", file=sys.stderr,
                     dynamic_ncols=True, disable=None)
    try:
        report = run_sweep(cfg, run_dir, executor,
                           on_tokens=tok_bar.update, on_probes=probe_bar.update)
    finally:
        tok_bar.close()
        probe_bar.close()
    click.echo(f"probes: {len(report.ran)} trained, {len(report.skipped)} already done; "
               f"results in {report.out / 'results.parquet'}")
    click.echo(summary_table(report.results))


@command.command("fit", context_settings=CONTEXT)
@click.option("--run-dir", "-r", type=click.Path(path_type=Path), required=True,
              help="A run with a probe sweep (RUN_DIR/probes).")
def fit(run_dir: Path) -> None:
    """How well probe results predict held-out bpb: regressors vs trivial predictors."""
    from ..layout import token_store
    from ..mixers.fit import fit_table
    from ..mixers.strategies import store_tokens
    from ..progress import table
    from ..tokenize.store import TokenStore

    df, _ = fit_table(probe_results(run_dir), store_tokens(TokenStore(token_store(run_dir))))
    click.echo(table(df, "cross-validated fit on held-out probes (mean over domains)"))
