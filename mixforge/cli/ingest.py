"""`mixforge ingest`: sources -> the document table in RUN_DIR/ingest."""

from __future__ import annotations

import click

from ..config import click_options, from_flags
from ..ingest import IngestConfig
from ._common import CONTEXT, RunOptions, print_stats, run_options


@click.command("ingest", context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True)
@run_options
@click_options(IngestConfig, skip=("inputs",))
def command(inputs: tuple[str, ...], run: RunOptions, **flags) -> None:
    """Read INPUTS (files, folders, store URLs, hf:NAME) into the document table in
    RUN_DIR/ingest.

    Formats: .jsonl / .jsonl.gz / .jsonl.zst, .parquet, folders of .txt/.md files, web
    archives (.warc / .warc.gz / .wet / .wet.gz: HTML to text, docs/web.md), saved Hugging
    Face datasets and hf:NAME[@CONFIG][:SPLIT]. Inputs and RUN_DIR may be fsspec URLs
    (s3://bucket/prefix; docs/storage.md). Reruns skip finished shards.
    """
    from ..ingest import ingest, plan_ingest
    from ..progress import shard_bar

    cfg = from_flags(IngestConfig, {**flags, "inputs": list(inputs)})
    n = len(plan_ingest(cfg, run.run_dir))
    executor = run.executor()
    with shard_bar(n, "ingest") as tick:
        report = ingest(cfg, run.run_dir, executor, tick)
    t = report.totals
    click.echo(f"ingest: {t.get('kept', 0):,} documents kept, {t.get('rejected', 0):,} "
               f"rejected of {t.get('docs_in', 0):,} records "
               f"({len(report.ran)} shards run, {len(report.skipped)} skipped)")
    print_stats(run.run_dir, "ingest")
