"""mixforge: raw text corpora to pretraining-ready token shards, and the data mix that
makes a pretraining run learn the most per token.

The Python API mirrors the CLI: each `mixforge <verb>` is a function here.
"""

from __future__ import annotations

from .corpus import build_corpus
from .errors import ConfigError, FatalError, InputError, MixforgeError, RetryableError
from .executor import LocalExecutor, get_executor
from .ingest import IngestConfig, ingest
from .readers import ReadOptions, read_table
from .stats import run_stats

__version__ = "0.1.0"
__all__ = [
    "ConfigError", "FatalError", "IngestConfig", "InputError", "LocalExecutor",
    "MixforgeError", "ReadOptions", "RetryableError", "build_corpus", "get_executor",
    "ingest", "read_table", "run_stats",
]
