"""`mixforge tokenizer train|inspect`: train a byte-level BPE, or look at any tokenizer."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import click_options, from_flags
from ..tokenize.train import TokenizerTrainConfig
from ._common import CONTEXT


@click.group("tokenizer", context_settings=CONTEXT)
def command() -> None:
    """Train a byte-level BPE on a run, or inspect any tokenizer."""


@command.command("train", context_settings=CONTEXT)
@click.option("--run-dir", "-r", type=click.Path(path_type=Path), required=True,
              help="The run directory; writes RUN_DIR/tokenizer/tokenizer.json.")
@click_options(TokenizerTrainConfig)
def train(run_dir: Path, **flags) -> None:
    """Train a byte-level BPE on RUN_DIR's latest document stage."""
    from ..tokenize.loading import load_tokenizer
    from ..tokenize.train import train_tokenizer

    cfg = from_flags(TokenizerTrainConfig, flags)
    out = train_tokenizer(run_dir, cfg)
    tok = load_tokenizer(out)
    click.echo(f"tokenizer: {tok.vocab_size:,} tokens written to {out} "
               f"(fingerprint {tok.fingerprint[:16]})")


@command.command("inspect", context_settings=CONTEXT)
@click.argument("spec")
@click.option("--text", default="Hello, world! 日本語 😀 def f(x): return x",
              show_default=True, help="Encode this text and show the pieces.")
@click.option("--allow-download", is_flag=True, help="Let hf:/tiktoken: specs download.")
def inspect(spec: str, text: str, allow_download: bool) -> None:
    """Show a tokenizer (SPEC: a tokenizer.json, hf:ORG/NAME, tiktoken:NAME or a .tiktoken
    file): source, fingerprint, vocabulary, special tokens, and which engine encodes it."""
    from ..tokenize.fast import build_encoder
    from ..tokenize.loading import load_tokenizer

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
