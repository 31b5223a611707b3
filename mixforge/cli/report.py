"""`mixforge report`: the HTML report of a run."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import CONTEXT


@click.command("report", context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None,
              help="Where to write the HTML (default: RUN_DIR/report.html).")
def command(run_dir: Path, out: Path | None) -> None:
    """Write the HTML report of RUN_DIR: funnel, rejects, domains, tokens, probes, mix."""
    from ..report import build_report

    click.echo(f"report: {build_report(run_dir, out)}")
