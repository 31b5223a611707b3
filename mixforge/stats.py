"""Counts, bytes (and tokens, where a token store exists) per domain at any stage."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from . import storage
from .errors import ConfigError
from .layout import MARKERS, PIPELINE
from .rundir import read_marker


def stage_files(stage_dir: str | Path, suffix: str = ".parquet") -> list[Path]:
    """The output files of a finished stage, in shard order (from its markers)."""
    stage_dir = Path(stage_dir)
    markers = sorted((stage_dir / MARKERS).glob("*.json"))
    if not markers:
        msg = f"{stage_dir}: no finished shards here; run the stage first"
        raise ConfigError(msg)
    files = []
    for m in markers:
        for o in (read_marker(m) or {}).get("outputs", []):
            if o.endswith(suffix) and "/" not in o:
                files.append(stage_dir / o)
    return files


def document_stats(files: list[Path]) -> pl.DataFrame:
    """Docs, UTF-8 bytes and mean bytes per domain (streamed), with a total row."""
    lf = pl.scan_parquet([str(f) for f in files]).select(
        "domain", pl.col("text").str.len_bytes().alias("nbytes"))
    per = (lf.group_by("domain")
             .agg(docs=pl.len(), bytes=pl.col("nbytes").sum())
             .sort("domain")
             .collect(engine="streaming"))
    total = per.select(pl.lit("TOTAL").alias("domain"), pl.col("docs").sum(),
                       pl.col("bytes").sum())
    out = pl.concat([per, total.cast(per.schema)])
    return out.with_columns(mean_bytes=(pl.col("bytes") / pl.col("docs")).round(1))


def run_stats(run_dir: str | Path, stage: str | None = None) -> dict[str, pl.DataFrame]:
    """Per-domain stats of every document stage in a run (or of one stage), in pipeline
    order (stages the pipeline does not name come after, by name).

    Raises `ConfigError` when ``run_dir`` does not exist or holds no finished stage.
    """
    run_dir = storage.local(run_dir)
    if not run_dir.exists():
        msg = f"run directory {run_dir} does not exist"
        raise ConfigError(msg)
    order = {s.folder: i for i, s in enumerate(PIPELINE)}
    found = [p.name for p in run_dir.iterdir() if (p / MARKERS).is_dir()]
    if not stage and not found:
        msg = (f"{run_dir} is not a run directory (no finished stage in it); run "
               f"`mixforge ingest INPUTS -r {run_dir}` first")
        raise ConfigError(msg)
    stages = [stage] if stage else sorted(found, key=lambda n: (order.get(n, len(order)), n))
    out = {}
    for s in stages:
        files = stage_files(run_dir / s)
        if files and "text" in pq.read_schema(files[0]).names:
            out[s] = document_stats(files)
    return out
