"""The options of `mixforge export` (kept apart from the writers, so the CLI loads fast)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from ..config import opt
from ..errors import ConfigError

CHUNK_TOKENS = 1 << 24
FormatName = Literal["nanogpt", "llmc", "megatron", "hf-parquet", "hf-disk", "mds", "datatrove",
                     "nanochat", "olmo", "litdata"]
FORMAT_NAMES: tuple[str, ...] = get_args(FormatName)
PACKABLE = ("megatron", "hf-parquet", "hf-disk", "mds")  # row formats: --seq-len applies


@dataclass
class ExportConfig:
    """Options of `mixforge export` (and the `export` section of a pipeline config)."""

    format: FormatName = opt("nanogpt", "The training format to write.")
    out: Path = opt(Path("export"), "The export folder (written atomically).",
                    flag="--out", short="-o")
    val_fraction: float = opt(0.005, "Share of the budget held out for validation (whole "
                              "documents per domain, never repeated, never in train).")
    over_cap: Literal["error", "exceed", "shrink"] = opt(
        "error", "When a domain needs more epochs than its cap: stop, repeat anyway, or take "
        "it at the cap (a smaller budget, stated in the manifest).")
    append_eos: Literal["auto", "always", "never"] = opt(
        "auto", "Append eos_id after each document (auto: unless every document already "
        "ends with it).")
    eos_id: int | None = opt(None, "End-of-text token id (default: the store's eos_id).")
    seq_len: int = opt(0, "Pack documents into rows of this many tokens (hf-*, mds, "
                       "megatron); 0 keeps one row per document.")
    shard_tokens: int = opt(100_000_000, "Tokens per shard (llmc, hf-*, nanochat, olmo; litdata: "
                            "tokens per chunk).")
    prefix: str = opt("mix", "File name prefix of llm.c shards (<prefix>_train_000000.bin).")
    chunk_tokens: int = opt(CHUNK_TOKENS, "Tokens gathered per write (bounds memory: "
                            "4 bytes each).")
    overwrite: bool = opt(False, "Replace an existing export folder.")

    def validate(self) -> None:
        if self.format not in FORMAT_NAMES:
            msg = f"unknown export format {self.format!r}; choose one of {list(FORMAT_NAMES)}"
            raise ConfigError(msg)
        if self.seq_len < 0 or self.shard_tokens < 1 or self.chunk_tokens < 1:
            msg = "seq_len must be >= 0, shard_tokens and chunk_tokens >= 1"
            raise ConfigError(msg)
        if self.seq_len and self.format not in PACKABLE:
            msg = (f"--seq-len packs rows, but {self.format} is one flat token stream "
                   "(its loader cuts sequences itself); leave seq_len at 0")
            raise ConfigError(msg)
