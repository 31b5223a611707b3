"""`mixforge probe sweep|fit|transfer`: train probes over many mixes; how well they predict;
whether their ranking holds at a larger scale."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import click

from ..config import click_options, from_flags
from ..train_probe.model import ProbeConfig
from ..train_probe.sweep import SweepConfig
from ..train_probe.train import TrainConfig
from ._common import CONTEXT, RunOptions, probe_results, probes_folder, probes_option, run_options


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
    a larger --k uses the cores better than several processes. With --scales, the same
    mixes are trained at each probe scale and their rankings compared (`probe transfer`).
    """
    from ..tokenize.store import TokenStore

    run_dir = run.run_dir
    cfg = from_flags(SweepConfig, flags)
    cfg.probe = from_flags(ProbeConfig, flags, where="probe options")
    cfg.train = from_flags(TrainConfig, flags, where="train options")
    store = TokenStore(cfg.store_dir(run_dir))
    if cfg.scales:
        from ..train_probe.transfer import scaled_configs

        subs = [(s.name, sub) for s, sub in scaled_configs(cfg, run_dir)]
    else:
        subs = [("", cfg)]
    for name, sub in subs:
        _sweep_one(sub, name, store, run, dry_run)
    if cfg.scales and not dry_run:
        _echo_transfer([sub.out_dir(run_dir) for _, sub in subs])


def _sweep_one(cfg: SweepConfig, name: str, store, run: RunOptions, dry_run: bool) -> None:
    from ..mixers.propose import recommended_probes
    from ..train_probe.sweep import plan_sweep, run_sweep, summary_table

    plans = plan_sweep(cfg, store)
    n_params = ProbeConfig(**{**cfg.probe.__dict__, "vocab_size": store.vocab_size}).n_params
    click.echo(f"probe sweep{f' (scale {name})' if name else ''}: {len(plans)} probes of "
               f"{n_params:,} parameters x {cfg.train.tokens:,} tokens, {cfg.k} per batch, "
               f"on {cfg.train.resolve_device()}; store {store.path}")
    n_mixes = len({p.source for p in plans})
    want = recommended_probes(len(store.domains))
    if n_mixes < want:
        click.echo(f"note: {n_mixes} mixes for {len(store.domains)} domains; {want} or more "
                   f"are recommended for the fit (4 x (domains + 2); Olmix: the probes "
                   f"needed grow linearly with the domains)", err=True)
    if dry_run:
        for p in plans:
            top = sorted(p.mix.weights.items(), key=lambda kv: -kv[1])[:3]
            click.echo(f"  {p.id} seed {p.seed}: " + ", ".join(f"{d} {w:.2f}" for d, w in top))
        return
    with sweep_progress(len(plans), cfg.train.tokens) as (on_tokens, on_probes):
        report = run_sweep(cfg, run.run_dir, run.executor(default_workers=1),
                           on_tokens=on_tokens, on_probes=on_probes)
    click.echo(f"probes: {len(report.ran)} trained, {len(report.skipped)} already done; "
               f"results in {report.out / 'results.parquet'}")
    click.echo(summary_table(report.results))
    if not report.results.is_empty():
        from ..train_probe.heldout import thin_figures

        for line in thin_figures(report.results.row(0, named=True)):
            click.echo(f"note: {line}")


@contextlib.contextmanager
def sweep_progress(n_probes: int, tokens: int, every_s: float = 30.0):
    """(on_tokens, on_probes) callbacks: tqdm bars on a terminal; otherwise (a log file,
    CI) one ``progress:`` line on stderr at most every ``every_s`` seconds and at each
    finished batch of probes."""
    from tqdm import tqdm

    tok_bar = tqdm(total=n_probes * tokens, desc="tokens", unit="tok", unit_scale=True,
                   file=sys.stderr, dynamic_ncols=True, disable=None)
    probe_bar = tqdm(total=n_probes, desc="probes", unit="probe", file=sys.stderr,
                     dynamic_ncols=True, disable=None)
    state = {"tokens": 0, "probes": 0, "last": time.monotonic(), "start": time.monotonic()}

    def report(force: bool) -> None:
        now = time.monotonic()
        if tok_bar.disable and (force or now - state["last"] >= every_s):
            state["last"] = now
            rate = state["tokens"] / max(now - state["start"], 1e-9)
            click.echo(f"progress: {state['probes']}/{n_probes} probes, "
                       f"{state['tokens']:,}/{n_probes * tokens:,} tokens "
                       f"({rate:,.0f} tokens/s)", err=True)

    def on_tokens(n: int) -> None:
        tok_bar.update(n)
        state["tokens"] += n
        report(False)

    def on_probes(n: int) -> None:
        probe_bar.update(n)
        state["probes"] += n
        report(True)

    try:
        yield on_tokens, on_probes
    finally:
        tok_bar.close()
        probe_bar.close()


def _echo_transfer(folders: list[Path], metric: str = "bpb:avg", top_k: int = 0,
                   threshold: float | None = None, seed: int = 0) -> None:
    from ..progress import table
    from ..train_probe.transfer import THRESHOLD, transfer_report

    df, pairs = transfer_report(folders, metric, top_k, seed=seed,
                                threshold=THRESHOLD if threshold is None else threshold)
    click.echo(table(df, f"probe scales compared on {metric}"))
    for t in pairs:
        click.echo(t.line())


@command.command("transfer", context_settings=CONTEXT)
@click.argument("sweeps", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--metric", default="bpb:avg", show_default=True,
              help="The objective the mixes are ranked by: a results column, bpb:<domain>, "
              "bpb:<target> or bpb:avg.")
@click.option("--top-k", type=int, default=0, help="Top-k agreement over the k best mixes "
              "(default: a quarter of the mixes).")
@click.option("--threshold", type=float, default=None,
              help="Spearman a scale must reach to be trusted [default: 0.89, Olmix 2026].")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
def transfer(sweeps: tuple[Path, ...], metric: str, top_k: int, threshold: float | None,
             seed: int) -> None:
    """Do the probes' rankings of mixes hold at a larger scale?

    SWEEPS: a folder written by `probe sweep --scales` (its scale-* sweeps), or two or
    more sweep folders of the same mixes at different probe sizes. Each is compared with
    the sweep of the largest probes: Spearman of the two rankings with a bootstrap 95%
    interval (mixes resampled), top-k agreement, and a verdict against the threshold.
    """
    from ..train_probe.transfer import sweep_folders

    _echo_transfer(sweep_folders(list(sweeps)), metric, top_k, threshold, seed)


@command.command("fit", context_settings=CONTEXT)
@click.option("--run-dir", "-r", type=click.Path(path_type=Path), default=None,
              help="A run with a token store and a probe sweep (RUN_DIR/probes).")
@probes_option
@click.option("--target", default=None,
              help="Score the fit on this domain's bpb (default: the mean over domains).")
def fit(run_dir: Path | None, probes: Path | None, target: str | None) -> None:
    """How well probe results predict held-out bpb: regressors vs trivial predictors.

    Every regressor and trivial predictor is scored by 5-fold CV on held-out probes:
    Spearman and MAE averaged over the domains, and on the objective (_obj columns). The
    chosen regressor is the one `mix propose --regressor auto` would take.
    """
    from ..errors import ConfigError
    from ..layout import token_store
    from ..mixers.propose import fit_report
    from ..mixers.strategies import store_tokens
    from ..progress import table
    from ..tokenize.store import TokenStore

    if run_dir is None:
        msg = "probe fit needs the token store: give --run-dir RUN (RUN/tokenize)"
        raise ConfigError(msg)
    rep = fit_report(probe_results(probes_folder(run_dir, probes)),
                     store_tokens(TokenStore(token_store(run_dir))), target)
    click.echo(table(rep.table, f"cross-validated fit on held-out probes (objective: "
                                f"{rep.objective})"))
    if rep.best:
        click.echo(f"chosen: {rep.best}" + ("" if rep.beats_trivial else
                                            " (does NOT beat the trivial predictors)"))
    for w in rep.warnings():
        click.echo(f"warning: {w}", err=True)
