"""`mixforge probe sweep`: train probes over many mixes, batched and resumable."""

from __future__ import annotations

import sys
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
    tok_bar = tqdm(total=len(plans) * cfg.train.tokens, desc="tokens", unit="tok",
                   unit_scale=True, file=sys.stderr, dynamic_ncols=True, disable=None)
    probe_bar = tqdm(total=len(plans), desc="probes", unit="probe", file=sys.stderr,
                     dynamic_ncols=True, disable=None)
    try:
        report = run_sweep(cfg, run_dir, get_executor(executor, workers or 1),
                           on_tokens=tok_bar.update, on_probes=probe_bar.update)
    finally:
        tok_bar.close()
        probe_bar.close()
    click.echo(f"probes: {len(report.ran)} trained, {len(report.skipped)} already done; "
               f"results in {report.out / 'results.parquet'}")
    click.echo(summary_table(report.results))
    if not report.results.is_empty():
        from .evaluate import thin_figures

        for line in thin_figures(report.results.row(0, named=True)):
            click.echo(f"note: {line}")


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
