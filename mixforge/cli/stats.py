"""`mixforge stats`: documents and bytes per domain at each stage of a run."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import CONTEXT, print_stats


@click.command("stats", context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--stage", default=None, help="Only this stage (default: every stage in the run).")
def command(run_dir: Path, stage: str | None) -> None:
    """Documents and bytes per domain at each stage of RUN_DIR."""
    print_stats(run_dir, stage)
