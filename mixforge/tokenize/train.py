"""Train a byte-level BPE on a run's curated documents (`mixforge tokenizer train`).

The `tokenizers` BPE trainer, GPT-2's byte-level alphabet (all 256 bytes, so no text is
ever unknown) and a split regex (GPT-4's by default: digits in groups of at most three,
which keeps numbers from eating the vocabulary), saved as ``<run>/tokenizer/tokenizer.json``
with a ``train.json`` beside it (config, documents and bytes seen, fingerprint). The
tokenizer it writes takes the fast tiktoken path of `mixforge.tokenize.fast`.

Memory: the trainer counts pre-tokens (words) in memory, about a few hundred bytes per
distinct word; ``max_docs``/``max_mb`` bound the text it sees, streamed batch by batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from .. import storage
from ..config import config_hash, opt, to_dict
from ..documents import input_key, input_stage
from ..errors import ConfigError
from ..layout import TOKENIZER, tokenizer_json
from ..rundir import atomic_path, read_marker, write_json
from ..stats import stage_files
from .loading import load_tokenizer

log = logging.getLogger(__name__)
GPT4_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}"""
                r"""| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+""")


@dataclass
class TokenizerTrainConfig:
    """Options of `mixforge tokenizer train`."""

    vocab_size: int = opt(32768, "Vocabulary size, special tokens included.")
    special_tokens: list[str] = opt(["<|endoftext|>", "<|bos|>"],
                                    "Special tokens, given the first ids in this order.")
    min_frequency: int = opt(2, "A pair must occur this many times to be merged.")
    pattern: str = opt(GPT4_PATTERN, "The pre-tokenizer split regex (GPT-4's by default).")
    input_stage: str | None = opt(None, "Train on this stage's documents (default: the latest "
                                  "of filter, dedup_fuzzy, dedup_exact, ingest).")
    max_mb: float = opt(0.0, "Train on at most this many MB of text (0: all).")

    def validate(self) -> None:
        if self.vocab_size < 256 + len(self.special_tokens):
            msg = (f"vocab_size {self.vocab_size} is below 256 bytes + "
                   f"{len(self.special_tokens)} special tokens")
            raise ConfigError(msg)
        if len(set(self.special_tokens)) != len(self.special_tokens):
            msg = f"special_tokens has duplicates: {self.special_tokens}"
            raise ConfigError(msg)


def iter_texts(files: list[Path], max_bytes: float = 0, batch_rows: int = 1024
               ) -> Iterator[list[str]]:
    """Batches of document texts from stage files, stopping after ``max_bytes`` (0: all)."""
    seen = 0
    for f in files:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_rows, columns=["text"]):
            texts = batch.column(0).to_pylist()
            yield texts
            seen += sum(len(t) for t in texts)  # characters: a cheap bound on bytes
            if max_bytes and seen >= max_bytes:
                return


def build_bpe(pattern: str = GPT4_PATTERN):
    """An untrained byte-level BPE with the given split regex."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    return tok


def train_on_texts(batches, cfg: TokenizerTrainConfig):
    """Train a byte-level BPE on an iterator of text batches; return the Tokenizer."""
    from tokenizers import pre_tokenizers, trainers

    tok = build_bpe(cfg.pattern)
    trainer = trainers.BpeTrainer(vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency,
                                  special_tokens=list(cfg.special_tokens),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(batches, trainer=trainer)
    return tok


def train_tokenizer(run_dir: str | Path, cfg: TokenizerTrainConfig | None = None) -> Path:
    """Train on the run's latest document stage; write ``<run>/tokenizer/tokenizer.json``.

    Examples
    --------
    >>> path = train_tokenizer("runs/r1", TokenizerTrainConfig(vocab_size=8192))  # doctest: +SKIP
    """
    cfg = cfg or TokenizerTrainConfig()
    run_dir = storage.local(run_dir)
    stage = input_stage(run_dir, TOKENIZER, cfg.input_stage)
    files = stage_files(Path(run_dir) / stage)
    out = tokenizer_json(run_dir)
    key = config_hash(to_dict(cfg), stage, [input_key(Path(run_dir) / stage, f.stem)
                                            for f in files])
    done = read_marker(out.parent / "train.json") or {}
    if out.exists() and done.get("key") == key:  # same config, same input shards
        log.info("tokenizer %s is up to date; not retraining", out)
        return out
    counts = {"docs": 0, "chars": 0}

    def batches() -> Iterator[list[str]]:
        for texts in iter_texts(files, cfg.max_mb * 1e6):
            counts["docs"] += len(texts)
            counts["chars"] += sum(len(t) for t in texts)
            yield texts

    tok = train_on_texts(batches(), cfg)
    with atomic_path(out) as tmp:
        tok.save(str(tmp))
    loaded = load_tokenizer(out)
    warnings = []
    if tok.get_vocab_size() < cfg.vocab_size:
        # the trainer stops when no pair occurs min_frequency times: a small or repetitive
        # corpus cannot fill the vocabulary, and `tokenizers` says nothing about it
        warnings.append(
            f"the trained vocabulary has {tok.get_vocab_size():,} tokens, fewer than the "
            f"{cfg.vocab_size:,} asked: {stage} holds too little distinct text "
            f"({counts['docs']:,} documents, {counts['chars']:,} characters) for more "
            f"merges at min_frequency {cfg.min_frequency}; train on more text or ask for "
            "a smaller --vocab-size")
        log.warning("%s", warnings[-1])
    write_json(out.parent / "train.json", {"key": key, "config": to_dict(cfg),
                                           "input_stage": stage,
                                           **counts, "vocab_size": tok.get_vocab_size(),
                                           "vocab_size_asked": cfg.vocab_size,
                                           "warnings": warnings,
                                           "fingerprint": loaded.fingerprint})
    log.info("trained a %d-token BPE on %d documents of %s", tok.get_vocab_size(),
             counts["docs"], stage)
    return out
