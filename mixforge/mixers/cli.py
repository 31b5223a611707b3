"""`mixforge mix plan` and `mixforge export`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..progress import table
from ..tokenize.store import TokenStore
from .mix import Mix
from .plan import plan_mix
from .strategies import STRATEGIES, make_mix

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _store(run_dir: Path) -> TokenStore:
    return TokenStore(run_dir / "tokenize")


@click.group(context_settings=CONTEXT)
def mix() -> None:
    """Build and inspect data mixes (domain weights with a token budget)."""


@mix.command(context_settings=CONTEXT)
@click.option("--run-dir", "-r", type=click.Path(path_type=Path), required=True,
              help="A run with a token store (RUN_DIR/tokenize).")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="natural",
              show_default=True, help="How weights are chosen.")
@click.option("--budget", type=int, default=0,
              help="Total training tokens (default: every token of the store once).")
@click.option("--epoch-cap", type=float, default=4.0, show_default=True,
              help="Most times any domain may be repeated.")
@click.option("--tau", type=float, default=3.0, show_default=True,
              help="Temperature for --strategy temperature (p ∝ n^(1/tau)).")
@click.option("--weights", default=None,
              help='Weights for --strategy manual, as JSON: \'{"code": 2, "web": 1}\'.')
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@click.option("--val-fraction", type=float, default=0.01, show_default=True,
              help="Share of each domain's documents that export holds out; the mix is "
              "sized on the rest.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None,
              help="Write the mix here (.yaml or .json).")
def plan(run_dir: Path, strategy: str, budget: int, epoch_cap: float, tau: float,
         weights: str | None, seed: int, val_fraction: float, out: Path | None) -> None:
    """Make a mix with a strategy and show its plan: tokens available, taken, epochs."""
    from .materialize import train_tokens

    store = _store(run_dir)
    tokens = train_tokens(store, val_fraction, seed)
    params: dict = {"epoch_cap": epoch_cap, "seed": seed}
    if strategy == "temperature":
        params["tau"] = tau
    if strategy == "manual":
        params["weights"] = json.loads(weights or "{}")
    m = make_mix(strategy, tokens, budget, **params)
    df, warnings = plan_mix(m, store, val_fraction)
    click.echo(table(df, f"mix plan ({strategy}, budget {m.budget_tokens or 'all':,} tokens)"
                     if m.budget_tokens else f"mix plan ({strategy}, every token once)"))
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    if out:
        click.echo(f"mix: {m.save(out)}")


@click.command(context_settings=CONTEXT)
@click.option("--run-dir", "-r", type=click.Path(path_type=Path), required=True,
              help="A run with a token store (RUN_DIR/tokenize).")
@click.option("--mix", "mix_path", type=click.Path(path_type=Path), required=True,
              help="The mix file (from `mixforge mix plan -o` or `mixforge mix propose`).")
@click.option("--format", "fmt", type=click.Choice(["nanogpt", "llmc", "megatron", "hf"]),
              required=True, help="The training format to write.")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True,
              help="Output folder.")
@click.option("--val-fraction", type=float, default=0.01, show_default=True,
              help="Share of each domain's documents held out for validation.")
@click.option("--seq-len", type=int, default=None,
              help="Pack documents into rows of this many tokens (hf format).")
def export(run_dir: Path, mix_path: Path, fmt: str, out: Path, val_fraction: float,
           seq_len: int | None) -> None:
    """Materialize a mix from the token store and write it in a training format."""
    from .export import export as run_export

    s = run_export(Mix.load(mix_path), _store(run_dir), fmt, out, val_fraction, seq_len)
    click.echo(f"export {fmt}: {s['train_tokens']:,} train tokens in {s['train_docs']:,} "
               f"docs, {s['val_docs']:,} val docs, {s['bytes'] / 1e6:.1f} MB at "
               f"{s['mb_per_s']} MB/s -> {out}")
