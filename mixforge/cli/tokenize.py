"""`mixforge tokenize`: a run's documents -> the token store RUN_DIR/tokenize."""

from __future__ import annotations

import click

from ..config import click_options, from_flags
from ..tokenize.stage import TokenizeConfig
from ._common import CONTEXT, RunOptions, run_options


@click.command("tokenize", context_settings=CONTEXT)
@run_options
@click_options(TokenizeConfig)
def command(run: RunOptions, **flags) -> None:
    """Encode RUN_DIR's latest document stage into the token store RUN_DIR/tokenize.

    The tokenizer defaults to RUN_DIR/tokenizer/tokenizer.json (`mixforge tokenizer
    train`). A fast engine (native, else tiktoken) is used when it is proven to give the
    same ids as tokenizers on a sample; the summary says which engine ran and why. Reruns
    skip finished shards.
    """
    import polars as pl

    from ..layout import token_store
    from ..progress import shard_bar, table
    from ..tokenize.stage import plan_tokenize, tokenize

    cfg = from_flags(TokenizeConfig, flags)
    ex = run.executor()
    prep = plan_tokenize(cfg, run.run_dir, ex.workers)
    click.echo(f"tokenize: engine {prep.encoder.engine} ({prep.encoder.reason})")
    with shard_bar(len(prep.tasks), "tokenize") as tick:
        report, meta = tokenize(cfg, run.run_dir, ex, tick, prepared=prep)
    click.echo(f"tokenize: {len(report.ran)} shards run, {len(report.skipped)} skipped; "
               f"dtype {meta['dtype']}, vocab {meta['vocab_size']:,}")
    rows = [{"domain": d, "docs": v["docs"], "tokens": v["tokens"], "bytes": v["bytes"],
             "bytes/token": v["bytes_per_token"]} for d, v in meta["domains"].items()]
    click.echo(table(pl.DataFrame(rows), f"[token store {token_store(run.run_dir)}]"))
