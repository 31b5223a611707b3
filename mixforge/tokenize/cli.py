"""`mixforge tokenize` and `mixforge tokenizer train|inspect`: thin commands over the API."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import CONTEXT, run_options
from ..config import click_options, from_flags
from ..executor import get_executor
from ..progress import shard_bar, table
from .stage import TokenizeConfig
from .train import TrainConfig


@click.command("tokenize", context_settings=CONTEXT)
@run_options
@click_options(TokenizeConfig)
def tokenize_cmd(run_dir: Path, workers: int | None, executor: str, **flags) -> None:
    """Encode RUN_DIR's latest document stage into the token store RUN_DIR/tokenize.

    The tokenizer defaults to RUN_DIR/tokenizer/tokenizer.json (`mixforge tokenizer
    train`). The fast tiktoken engine is used when it is proven to give the same ids as
    tokenizers on a sample; the summary says which engine ran and why. Reruns skip
    finished shards.
    """
    import polars as pl

    from .stage import plan_tokenize, tokenize

    cfg = from_flags(TokenizeConfig, flags)
    ex = get_executor(executor, workers)
    prep = plan_tokenize(cfg, run_dir, ex.workers)
    click.echo(f"tokenize: engine {prep.encoder.engine} ({prep.encoder.reason})")
    with shard_bar(len(prep.tasks), "tokenize") as tick:
        report, meta = tokenize(cfg, run_dir, ex, tick, prepared=prep)
    click.echo(f"tokenize: {len(report.ran)} shards run, {len(report.skipped)} skipped; "
               f"dtype {meta['dtype']}, vocab {meta['vocab_size']:,}")
    rows = [{"domain": d, "docs": v["docs"], "tokens": v["tokens"], "bytes": v["bytes"],
             "bytes/token": v["bytes_per_token"]} for d, v in meta["domains"].items()]
    click.echo(table(pl.DataFrame(rows), f"[token store {Path(run_dir) / 'tokenize'}]"))


@click.group("tokenizer", context_settings=CONTEXT)
def tokenizer_group() -> None:
    """Train a byte-level BPE on a run, or inspect any tokenizer."""


@tokenizer_group.command("train", context_settings=CONTEXT)
@click.option("--run-dir", "-r", type=click.Path(path_type=Path), required=True,
              help="The run directory; writes RUN_DIR/tokenizer/tokenizer.json.")
@click_options(TrainConfig)
def train_cmd(run_dir: Path, **flags) -> None:
    """Train a byte-level BPE on RUN_DIR's latest document stage."""
    from .loading import load_tokenizer
    from .train import train_tokenizer

    cfg = from_flags(TrainConfig, flags)
    out = train_tokenizer(run_dir, cfg)
    tok = load_tokenizer(out)
    click.echo(f"tokenizer: {tok.vocab_size:,} tokens written to {out} "
               f"(fingerprint {tok.fingerprint[:16]})")


@tokenizer_group.command("inspect", context_settings=CONTEXT)
@click.argument("spec")
@click.option("--text", default="Hello, world! 日本語 😀 def f(x): return x",
              show_default=True, help="Encode this text and show the pieces.")
@click.option("--allow-download", is_flag=True, help="Let hf:/tiktoken: specs download.")
def inspect_cmd(spec: str, text: str, allow_download: bool) -> None:
    """Show a tokenizer (SPEC: a tokenizer.json, hf:ORG/NAME, tiktoken:NAME or a .tiktoken
    file): source, fingerprint, vocabulary, special tokens, and which engine encodes it."""
    from .fast import build_encoder
    from .loading import load_tokenizer

    tok = load_tokenizer(spec, allow_download=allow_download)
    enc = build_encoder(tok, "auto", [text])
    ids, _ = enc.encode([text])
    specials = tok.special_tokens()
    click.echo(f"source       {tok.kind}: {tok.path}")
    click.echo(f"fingerprint  {tok.fingerprint}")
    click.echo(f"vocab size   {tok.vocab_size:,} (token dtype "
               f"{'uint16' if tok.vocab_size <= 1 << 16 else 'uint32'})")
    click.echo(f"specials     {len(specials)}: {specials[:8]}{' ...' if len(specials) > 8 else ''}")
    click.echo(f"engine       {enc.engine} ({enc.reason})")
    click.echo(f"encode       {text!r} -> {ids.tolist()}")
    click.echo(f"round trip   {enc.decode(ids) == text}")
