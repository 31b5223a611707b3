"""`mixforge dedup exact|fuzzy`: thin commands over `mixforge.curate.dedup`."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import CONTEXT, _print_stats, run_options
from ..config import click_options, from_flags, to_dict
from ..executor import get_executor
from ..progress import shard_bar
from ..stats import stage_files
from .dedup import ExactConfig, FuzzyConfig, resolve_input
from .dedup import dedup as run_dedup

STAT_KEYS = ("docs", "reference_docs", "duplicate_ids", "docs_without_shingles",
             "candidate_edges", "candidate_pairs", "verified_pairs",
             "clusters", "docs_in_clusters", "duplicates", "kept", "rejected",
             "seconds_map", "seconds_reduce", "seconds_drop", "peak_rss_mb_main")


@click.group(context_settings=CONTEXT)
def dedup() -> None:
    """Remove exact and near-duplicate documents (exact | fuzzy)."""


def _run(cfg, run_dir: Path, workers: int | None, executor: str, dry_run: bool) -> None:
    cfg = resolve_input(run_dir, cfg)
    cfg.validate()
    resolved = to_dict(cfg)
    if isinstance(cfg, FuzzyConfig):
        p = cfg.params()
        resolved.update(bands=p.bands, rows=p.rows)
    click.echo("config: " + ", ".join(f"{k}={v}" for k, v in resolved.items()))
    if dry_run:
        return
    n = len(stage_files(run_dir / cfg.input_stage))
    with shard_bar(n, f"dedup {cfg.kind}") as tick:
        report = run_dedup(cfg, run_dir, get_executor(executor, workers), tick)
    s = report.stats
    click.echo(f"dedup {cfg.kind}: {s['duplicates']:,} duplicates removed in "
               f"{s['clusters']:,} clusters; {s['kept']:,} of {s['docs']:,} documents kept "
               f"(stats in {run_dir / cfg.output_stage / '_dedup.json'})")
    click.echo("  " + ", ".join(f"{k}={s[k]}" for k in STAT_KEYS if k in s))
    _print_stats(run_dir, cfg.output_stage)


@dedup.command(context_settings=CONTEXT)
@run_options
@click.option("--dry-run", is_flag=True, help="Print the resolved config and stop.")
@click_options(ExactConfig)
def exact(run_dir: Path, workers: int | None, executor: str, dry_run: bool, **flags) -> None:
    """Drop documents whose normalized text equals another's (one kept per group)."""
    _run(from_flags(ExactConfig, flags), run_dir, workers, executor, dry_run)


@dedup.command(context_settings=CONTEXT)
@run_options
@click.option("--dry-run", is_flag=True, help="Print the resolved config and stop.")
@click_options(FuzzyConfig)
def fuzzy(run_dir: Path, workers: int | None, executor: str, dry_run: bool, **flags) -> None:
    """Drop near-duplicates: MinHash-LSH over word shingles, clusters by union-find."""
    _run(from_flags(FuzzyConfig, flags), run_dir, workers, executor, dry_run)
