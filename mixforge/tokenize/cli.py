"""`mixforge tokenizer train|inspect` and `mixforge tokenize`."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import click_options, from_flags
from ..executor import get_executor
from ..progress import shard_bar
from .stage import TokenizeConfig, TokenizerTrainConfig, plan_tokenize, tokenize, train_from_run

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
def tokenizer() -> None:
    """Train or inspect a tokenizer."""


@tokenizer.command(context_settings=CONTEXT)
@click.option("--run-dir", "-r", type=click.Path(path_type=Path), required=True,
              help="The run directory; the tokenizer goes to RUN_DIR/tokenizer/.")
@click_options(TokenizerTrainConfig)
def train(run_dir: Path, **flags) -> None:
    """Train a byte-level BPE (Hugging Face `tokenizers`) on the run's documents."""
    path = train_from_run(from_flags(TokenizerTrainConfig, flags), run_dir)
    click.echo(f"tokenizer: {path}")


@tokenizer.command(context_settings=CONTEXT)
@click.argument("spec")
@click.option("--text", default="Hello, world! 日本語 🚀", show_default=True,
              help="A text to encode and show.")
def inspect(spec: str, text: str) -> None:
    """Show a tokenizer (SPEC: tokenizer.json, hf:NAME, tiktoken:NAME): engine, vocab, ids."""
    from .tokenizer import load_tokenizer

    tok = load_tokenizer(spec)
    for k, v in tok.describe().items():
        click.echo(f"{k:>14}: {v}")
    ids = tok.encode_batch([text])[0]
    click.echo(f"{'ids':>14}: {ids}")
    click.echo(f"{'round trip':>14}: {tok.decode(ids) == text}")


@click.command("tokenize", context_settings=CONTEXT)
@click.option("--run-dir", "-r", type=click.Path(path_type=Path), required=True,
              help="The run directory; the token store goes to RUN_DIR/tokenize/.")
@click.option("--workers", type=int, default=None, help="Worker processes (default: all).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="Where shards run.")
@click_options(TokenizeConfig)
def tokenize_cmd(run_dir: Path, workers: int | None, executor: str, **flags) -> None:
    """Encode the run's documents into the token store (per domain, memory-mappable)."""
    cfg = from_flags(TokenizeConfig, flags)
    tasks, tok = plan_tokenize(cfg, run_dir)
    click.echo(f"engine: {tok.engine} ({tok.engine_reason})")
    with shard_bar(len(tasks), "tokenize") as tick:
        report = tokenize(cfg, run_dir, get_executor(executor, workers), tick)
    t = report.totals
    click.echo(f"tokenize: {t['docs']:,} documents, {t['tokens']:,} tokens "
               f"({len(report.ran)} shards run, {len(report.skipped)} skipped)")
    from .store import TokenStore

    store = TokenStore(Path(run_dir) / "tokenize")
    for d in store.domains:
        i = store.info(d)
        click.echo(f"  {d:<20} {i['docs']:>8,} docs {i['tokens']:>12,} tokens "
                   f"{i['bytes_per_token']:>6.3f} bytes/token")
