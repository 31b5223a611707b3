"""`mixforge demo`: the whole loop on the real local corpus, offline."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import CONTEXT


@click.command("demo", context_settings=CONTEXT)
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("mixforge-demo"),
              show_default=True, help="The demo's folder (corpus and run directory).")
@click.option("--max-mb", type=float, default=20.0, show_default=True,
              help="Size of the local corpus the demo builds.")
@click.option("--workers", type=int, default=None, help="Worker processes (default: all).")
def command(out: Path, max_mb: float, workers: int | None) -> None:
    """The whole loop on the real local corpus, offline; reruns resume."""
    from ..demo import run_demo

    run_demo(out, max_mb, workers, echo=click.echo)
