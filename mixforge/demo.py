"""`mixforge demo`: the whole loop on the real local corpus, with no network."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .corpus import build_corpus
from .executor import get_executor
from .ingest import IngestConfig, ingest, plan_ingest
from .progress import shard_bar, table
from .stats import run_stats


def run_demo(out: str | Path, max_mb: float = 20.0, workers: int | None = None,
             echo: Callable[[str], None] = print) -> Path:
    """Build the corpus (once), then run every stage into ``out/run``; return the run dir."""
    out = Path(out)
    corpus_dir, run_dir = out / "corpus", out / "run"
    if not (corpus_dir / "manifest.json").exists():
        echo(f"building the local corpus ({max_mb:g} MB) in {corpus_dir} ...")
        build_corpus(corpus_dir, max_mb)
    executor = get_executor("local", workers)
    cfg = IngestConfig(inputs=[str(corpus_dir)], shard_mb=max(1.0, max_mb / 8))
    with shard_bar(len(plan_ingest(cfg, run_dir)), "ingest") as tick:
        report = ingest(cfg, run_dir, executor, tick)
    echo(f"ingest: {report.totals['kept']:,} documents")
    for name, df in run_stats(run_dir).items():
        echo(table(df, f"[{name}] documents per domain"))
    echo(f"run directory: {run_dir}")
    return run_dir
