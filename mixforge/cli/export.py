"""`mixforge export`: materialize a mix from the token store into a training format."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import click

from ..config import click_options, from_flags
from ..mixers.export_config import ExportConfig
from ._common import CONTEXT, store_options, store_path


@click.command("export", context_settings=CONTEXT)
@store_options
@click.option("--mix", "mix_file", type=click.Path(path_type=Path, exists=True), required=True,
              help="The mix file (YAML/JSON, e.g. from `mixforge mix plan --out`).")
@click.option("--budget", default=None, help="Override the mix's token budget (300M, 1.5B).")
@click_options(ExportConfig)
def command(store: Path | None, run_dir: Path | None, mix_file: Path,
            budget: str | None, **flags) -> None:
    """Materialize a mix from the token store into a training format.

    \b
    Formats:
      nanogpt     train.bin / val.bin, uint16, EOT after each document
      llmc        llm.c / modded-nanogpt shards (256 x int32 header; uint16 tokens, or
                  uint32 with the version 7 header past 65,536 ids)
      megatron    Megatron-LM train.bin/.idx, val.bin/.idx (MMIDIDX v1)
      hf-parquet  data/{train,validation}-NNNNN-of-MMMMM.parquet with input_ids
      hf-disk     a DatasetDict as save_to_disk writes it (load_from_disk)
      mds         MosaicML streaming train/, val/ (tokens: ndarray:int32)
      datatrove   train/000_<prefix>.ds + .ds.index (+ .ds.metadata)
      nanochat    shard_NNNNN.parquet of text (the documents themselves), last = val
      olmo        OLMo-core / dolma {train,val}/part-NNNNN.npy + .csv.gz metadata
      litdata     litdata {train,val}/chunk-0-N.bin + index.json (TokensLoader)
    """
    import polars as pl
    from tqdm import tqdm

    from ..config import parse_tokens
    from ..export import MANIFEST, export
    from ..mixers.mix import Mix
    from ..progress import table
    from ..rundir import run_lock

    cfg = from_flags(ExportConfig, flags)
    mix = Mix.load(mix_file)
    if budget is not None:
        mix.budget_tokens = parse_tokens(budget)
    path = store_path(store, run_dir)
    bar = tqdm(total=None, desc=f"export {cfg.format}", unit="tok", unit_scale=True,
               file=sys.stderr, dynamic_ncols=True, disable=None)
    start = time.perf_counter()
    # hold the run's lock while reading its store: a tokenize rerun cannot rewrite it
    # under the export (a store outside a run directory has no lock to take)
    lock = (run_lock(run_dir) if run_dir is not None else contextlib.nullcontext())
    try:
        with lock:
            rep = export(path, mix, cfg, on_chunk=bar.update)
    finally:
        bar.close()
    secs = time.perf_counter() - start
    mb = rep.bytes_written / 1e6
    rows = [{"split": s, "docs": r.docs, "tokens": r.tokens, "files": len(r.files)}
            for s, r in rep.splits.items()]
    click.echo(table(pl.DataFrame(rows), f"{cfg.format} export written to {rep.out}"))
    if rep.manifest.get("warnings"):
        click.echo(f"{len(rep.manifest['warnings'])} warning(s) above, also in the manifest",
                   err=True)
    click.echo(f"{mb:,.1f} MB in {secs:.1f} s ({mb / max(secs, 1e-9):,.0f} MB/s); "
               f"manifest: {rep.out / MANIFEST}")
