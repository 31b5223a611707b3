"""`mixforge probe sweep`: train probes over many mixes, batched and resumable."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import click
import polars as pl
from tqdm import tqdm

from ..config import click_options, from_flags
from ..executor import get_executor
from ..progress import table
from .model import ProbeConfig
from .sweep import SweepConfig, plan_sweep, run_sweep
from .train import TrainConfig

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
def probe() -> None:
    """Small transformer probes trained on candidate mixes."""


def _run_options(fn):
    from ..cli import run_options

    return run_options(fn)


@probe.command(context_settings=CONTEXT)
@_run_options
@click_options(SweepConfig)
@click_options(ProbeConfig, skip=("vocab_size",))
@click_options(TrainConfig)
@click.option("--dry-run", is_flag=True, help="Print the resolved plan and stop.")
def sweep(run_dir: Path, workers: int | None, executor: str, dry_run: bool, **flags) -> None:
    """Train one probe per mix (x seeds) on RUN_DIR/tokenize; results in RUN_DIR/probes.

    Mixes come from --mix files/folders, or are sampled from a seeded Dirichlet
    (--n-probes, --prior, --concentration). Probes train --k at a time as one batched
    model; results.jsonl gets one row per probe as each batch finishes, and a rerun
    skips finished probes. --workers defaults to 1 here: on a small CPU one process with
    a larger --k uses the cores better than several processes.
    """
    from ..tokenize.store import TokenStore

    cfg = from_flags(SweepConfig, flags)
    cfg.probe = from_flags(ProbeConfig, flags, where="probe options")
    cfg.train = from_flags(TrainConfig, flags, where="train options")
    store = TokenStore(cfg.store_dir(run_dir))
    if cfg.scales:
        from .transfer import scaled_configs

        subs = [(s.name, sub) for s, sub in scaled_configs(cfg, run_dir)]
    else:
        subs = [("", cfg)]
    for name, sub in subs:
        _sweep_one(sub, name, store, run_dir, workers, executor, dry_run)
    if cfg.scales and not dry_run:
        _echo_transfer([sub.out_dir(run_dir) for _, sub in subs])


def _sweep_one(cfg: SweepConfig, name: str, store, run_dir: Path, workers: int | None,
               executor: str, dry_run: bool) -> None:
    plans = plan_sweep(cfg, store)
    n_params = ProbeConfig(**{**cfg.probe.__dict__, "vocab_size": store.vocab_size}).n_params
    click.echo(f"probe sweep{f' (scale {name})' if name else ''}: {len(plans)} probes of "
               f"{n_params:,} parameters x {cfg.train.tokens:,} tokens, {cfg.k} per batch, "
               f"on {cfg.train.resolve_device()}; store {store.path}")
    from ..mixers.propose import recommended_probes

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
        report = run_sweep(cfg, run_dir, get_executor(executor, workers or 1),
                           on_tokens=on_tokens, on_probes=on_probes)
    click.echo(f"probes: {len(report.ran)} trained, {len(report.skipped)} already done; "
               f"results in {report.out / 'results.parquet'}")
    click.echo(summary_table(report.results))


@contextlib.contextmanager
def sweep_progress(n_probes: int, tokens: int, every_s: float = 30.0):
    """(on_tokens, on_probes) callbacks: tqdm bars on a terminal; otherwise (a log file,
    CI) one ``progress:`` line on stderr at most every ``every_s`` seconds and at each
    finished batch of probes."""
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
    from .transfer import THRESHOLD, transfer_report

    df, pairs = transfer_report(folders, metric, top_k, seed=seed,
                                threshold=THRESHOLD if threshold is None else threshold)
    click.echo(table(df, f"probe scales compared on {metric}"))
    for t in pairs:
        click.echo(t.line())


@probe.command(context_settings=CONTEXT)
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
    from .transfer import sweep_folders

    _echo_transfer(sweep_folders(list(sweeps)), metric, top_k, threshold, seed)


def summary_table(df: pl.DataFrame, rows: int = 20) -> str:
    """The best probes by average held-out bits per byte, as a text table."""
    if df.is_empty():
        return "(no results)"
    wcols = [c for c in df.columns if c.startswith("w:")]
    bpb = [c for c in df.columns if c.startswith("bpb:") and c != "bpb:avg"]
    targets = [c for c in bpb if f"w:{c[4:]}" not in wcols]
    top = df.with_columns(pl.col("seed").cast(pl.Utf8), pl.Series("mix (top 3)", [
            " ".join(f"{c[2:]}={w:.2f}" for c, w in sorted(
                ((c, r[c]) for c in wcols), key=lambda cw: -cw[1])[:3])
            for r in df.iter_rows(named=True)]))
    cols = ["probe", "seed", "mix (top 3)", "bpb:avg", *targets, "tokens", "wall_s"]
    out = top.sort("bpb:avg").head(rows).select(cols).with_columns(
        pl.col("^bpb:.*$").round(4))
    return table(out, f"best {min(rows, len(df))} of {len(df)} probes by bpb:avg")
