"""`mixforge run`: a whole pipeline from one YAML config file."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import click_options
from ..executor import ExecutorConfig
from ._common import CONTEXT, print_stats


@click.command("run", context_settings=CONTEXT)
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate the config and print the plan; run "
              "nothing.")
@click_options(ExecutorConfig)
@click.pass_context
def command(ctx: click.Context, config: Path, dry_run: bool, **flags) -> None:
    """Run a whole pipeline from one YAML CONFIG (see examples/); reruns resume.

    Every section is the config of one stage, with the same keys as that command's flags
    (underscores for dashes). Wrong keys or types fail before any work starts.
    --executor, --workers and --ray-address, when given, override the file's.
    """
    from ..ingest import plan_ingest
    from ..pipeline import describe, load_pipeline, run_pipeline
    from ..progress import shard_bar

    cfg = load_pipeline(config)
    for name, value in flags.items():  # given on the command line: override the file
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT:
            setattr(cfg, name, value)
    click.echo(describe(cfg))
    shards = len(plan_ingest(cfg.ingest, cfg.run_dir))  # inputs exist and are readable
    click.echo(f"# ingest: {shards} shards")
    if dry_run:
        click.echo("dry run: nothing was run")
        return
    results = run_pipeline(cfg, bar=lambda name, n: shard_bar(n, name))
    print_stats(Path(cfg.run_dir))
    if "report" in results:
        click.echo(f"report: {results['report']}")
