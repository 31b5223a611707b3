"""`mixforge dedup exact|fuzzy`: thin commands over `mixforge.curate.dedup`."""

from __future__ import annotations

import click

from ..config import click_options, from_flags
from ..curate.dedup import ExactConfig, FuzzyConfig
from ._common import CONTEXT, RunOptions, print_stats, run_options

STAT_KEYS = ("docs_in", "reference_docs", "duplicate_ids", "docs_without_shingles",
             "candidate_edges", "candidate_pairs", "verified_pairs",
             "clusters", "docs_in_clusters", "duplicates", "kept", "rejected",
             "seconds_map", "seconds_reduce", "seconds_drop", "peak_rss_mb_main")
_DRY_RUN = click.option("--dry-run", is_flag=True, help="Print the resolved config and stop.")


@click.group("dedup", context_settings=CONTEXT)
def command() -> None:
    """Remove exact and near-duplicate documents (exact | fuzzy)."""


def _run(cfg, run: RunOptions, dry_run: bool) -> None:
    from ..config import to_dict
    from ..curate.dedup import dedup, resolve_input
    from ..progress import shard_bar
    from ..stats import stage_files

    run_dir = run.run_dir
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
    executor = run.executor()
    with shard_bar(n, f"dedup {cfg.kind}") as tick:
        report = dedup(cfg, run_dir, executor, tick)
    s = report.stats
    click.echo(f"dedup {cfg.kind}: {s['duplicates']:,} duplicates removed in "
               f"{s['clusters']:,} clusters; {s['kept']:,} of {s['docs_in']:,} documents kept "
               f"(stats in {run_dir / cfg.output_stage / '_dedup.json'})")
    click.echo("  " + ", ".join(f"{k}={s[k]}" for k in STAT_KEYS if k in s))
    print_stats(run_dir, cfg.output_stage)


@command.command("exact", context_settings=CONTEXT)
@run_options
@_DRY_RUN
@click_options(ExactConfig)
def exact(run: RunOptions, dry_run: bool, **flags) -> None:
    """Drop documents whose normalized text equals another's (one kept per group)."""
    _run(from_flags(ExactConfig, flags), run, dry_run)


@command.command("fuzzy", context_settings=CONTEXT)
@run_options
@_DRY_RUN
@click_options(FuzzyConfig)
def fuzzy(run: RunOptions, dry_run: bool, **flags) -> None:
    """Drop near-duplicates: MinHash-LSH over word shingles, clusters by union-find."""
    _run(from_flags(FuzzyConfig, flags), run, dry_run)
