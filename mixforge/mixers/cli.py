"""`mixforge mix plan` and `mixforge export`: thin commands over strategies, plan, export."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import click
import polars as pl

from ..config import click_options, from_flags
from ..errors import ConfigError
from ..progress import table

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}


def parse_tokens(text: str | int | float) -> int:
    """``"300M"``, ``"1.5B"``, ``"1e9"`` or ``2000`` -> a token count.

    Examples
    --------
    >>> parse_tokens("1.5B"), parse_tokens("300k"), parse_tokens("1e6")
    (1500000000, 300000, 1000000)
    """
    if isinstance(text, int | float):
        return int(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmbgt]?)\s*", str(text).lower())
    if not m:
        msg = f"token count {text!r} is not a number like 2000, 1e9, 300M or 1.5B"
        raise ConfigError(msg)
    return round(float(m.group(1)) * _SUFFIX[m.group(2)])


def _store_path(store: Path | None, run_dir: Path | None) -> Path:
    if store is None and run_dir is None:
        msg = "name the token store: --store PATH, or --run-dir RUN (uses RUN/tokenize)"
        raise ConfigError(msg)
    return store if store is not None else run_dir / "tokenize"


def _store_options(fn):
    fn = click.option("--run-dir", "-r", type=click.Path(path_type=Path), default=None,
                      help="A run directory; its token store is RUN_DIR/tokenize.")(fn)
    return click.option("--store", "-s", type=click.Path(path_type=Path), default=None,
                        help="The token store folder (holds store.json).")(fn)


@click.group("mix", context_settings=CONTEXT)
def mix_group() -> None:
    """Data mixes: make one with a strategy and see its plan against a token store."""


@mix_group.command("plan", context_settings=CONTEXT)
@_store_options
@click.option("--mix", "mix_file", type=click.Path(path_type=Path), default=None,
              help="Plan this mix file (YAML/JSON) instead of making one.")
@click.option("--strategy", type=click.Choice(["natural", "uniform", "temperature", "unimax",
                                               "manual"]),
              default="natural", show_default=True, help="How to weight the domains.")
@click.option("--budget", default=None, help="Token budget: 2000, 1e9, 300M, 1.5B.")
@click.option("--epoch-cap", type=float, default=4.0, show_default=True,
              help="Most epochs any domain may be repeated.")
@click.option("--tau", type=float, default=2.0, show_default=True,
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
def plan_command(store: Path | None, run_dir: Path | None, mix_file: Path | None,
                 strategy: str, budget: str | None, epoch_cap: float, tau: float,
                 weights: tuple[str, ...], seed: int, val_fraction: float, over_cap: str,
                 out: Path | None) -> None:
    """Make a mix (or read --mix) and print its plan: per domain tokens available, taken,
    epochs, and warnings where a domain would pass its epoch cap."""
    from ..tokenize.store import TokenStore
    from .mix import Mix
    from .plan import plan_store
    from .strategies import make_mix, parse_weights, store_tokens

    path = _store_path(store, run_dir)
    ts = TokenStore(path)
    if mix_file is not None:
        mix = Mix.load(mix_file)
        if budget is not None:
            mix.budget_tokens = parse_tokens(budget)
    else:
        if budget is None:
            msg = "give --budget (tokens to export), e.g. --budget 300M"
            raise ConfigError(msg)
        mix = make_mix(strategy, store_tokens(ts), parse_tokens(budget), epoch_cap=epoch_cap,
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


def _export_flags(fn):
    from .export_config import ExportConfig

    return click_options(ExportConfig)(fn)


@click.command("export", context_settings=CONTEXT)
@_store_options
@click.option("--mix", "mix_file", type=click.Path(path_type=Path, exists=True), required=True,
              help="The mix file (YAML/JSON, e.g. from `mixforge mix plan --out`).")
@click.option("--budget", default=None, help="Override the mix's token budget (300M, 1.5B).")
@_export_flags
def export_command(store: Path | None, run_dir: Path | None, mix_file: Path,
                   budget: str | None, **flags) -> None:
    """Materialize a mix from the token store into a training format.

    \b
    Formats:
      nanogpt     train.bin / val.bin, uint16, EOT after each document
      llmc        llm.c / modded-nanogpt shards (256 x int32 header, uint16)
      megatron    Megatron-LM train.bin/.idx, val.bin/.idx (MMIDIDX v1)
      hf-parquet  data/{train,validation}-NNNNN-of-MMMMM.parquet with input_ids
      hf-disk     a DatasetDict as save_to_disk writes it (load_from_disk)
      mds         MosaicML streaming train/, val/ (tokens: ndarray:int32)
      datatrove   train/000_<prefix>.ds + .ds.index (+ .ds.metadata)
    """
    from tqdm import tqdm

    from .export import export
    from .export_config import ExportConfig
    from .mix import Mix

    cfg = from_flags(ExportConfig, flags)
    mix = Mix.load(mix_file)
    if budget is not None:
        mix.budget_tokens = parse_tokens(budget)
    path = _store_path(store, run_dir)
    bar = tqdm(total=None, desc=f"export {cfg.format}", unit="tok", unit_scale=True,
               file=sys.stderr, dynamic_ncols=True, disable=None)
    start = time.perf_counter()
    try:
        rep = export(path, mix, cfg, on_chunk=bar.update)
    finally:
        bar.close()
    secs = time.perf_counter() - start
    mb = rep.bytes_written / 1e6
    rows = [{"split": s, "docs": r.docs, "tokens": r.tokens, "files": len(r.files)}
            for s, r in rep.splits.items()]
    click.echo(table(pl.DataFrame(rows), f"{cfg.format} export written to {rep.out}"))
    if rep.manifest.get("warnings"):
        click.echo(f"{len(rep.manifest['warnings'])} warning(s) above, also in the manifest",
                   err=True)
    click.echo(f"{mb:,.1f} MB in {secs:.1f} s ({mb / max(secs, 1e-9):,.0f} MB/s); "
               f"manifest: {rep.out / 'mixforge-export.json'}")


mix = mix_group          # the names main's `_register` imports
export = export_command
