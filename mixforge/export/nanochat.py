"""nanochat: text parquet shards in the mix's proportions; the last shard is validation.

nanochat tokenizes on the fly, so it reads text, not tokens (``nanochat/dataset.py``:
``list_parquet_files`` sorts the ``*.parquet`` files of its data folder,
``parquets_iter_batched`` takes all but the last as train and the last as val, reading
``read_row_group(i).column("text")``). We write ``shard_NNNNN.parquet`` with one column
``text``, row groups of 1,024 documents, zstd compression (the layout of nanochat's
``repackage_data_reference.py``). Train shards close after ``--shard-tokens`` tokens; the
validation documents are one final shard, so ``--val-fraction`` must leave at least one.

The text is the document stage the token store was made from (``store.json``'s
``input_stage``), in the order the mix's plan writes the tokens, repeats included: an
epoch of a domain is the same documents again. Memory: one split's selected texts at a
time (plus the ids of the documents it reads).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError
from .base import ExportContext, SplitResult, rel

TEXT = True
ROW_GROUP = 1024


def check(ctx: ExportContext) -> None:
    """Nothing to refuse up front: nanochat re-tokenizes the text with its own tokenizer."""


def shard_name(index: int) -> str:
    return f"shard_{index:05d}.parquet"


def write_split(folder: Path, split: str, ctx: ExportContext, texts: pa.Array,
                n_tokens: np.ndarray) -> SplitResult:
    """Write ``texts`` (in order) as shards after those already in ``folder``.

    ``n_tokens[i]`` is document i's token count in the store: a train shard closes once it
    holds ``ctx.shard_tokens`` tokens; the val split is always one shard (nanochat reads
    only the last file as validation).
    """
    if split == "val" and len(texts) == 0:
        msg = ("nanochat reads its last parquet shard as validation, but the validation "
               "split is empty; raise --val-fraction so at least one document is held out")
        raise ConfigError(msg)
    start = len(list(folder.glob("shard_*.parquet")))
    if split == "val":
        cuts = [0, len(texts)]
    else:
        ends = np.cumsum(n_tokens)
        cuts, base = [0], 0
        for i, end in enumerate(ends):
            if end - base >= ctx.shard_tokens:
                cuts.append(i + 1)
                base = end
        if cuts[-1] != len(texts):
            cuts.append(len(texts))
    paths = []
    for k, (a, b) in enumerate(itertools.pairwise(cuts)):
        path = folder / shard_name(start + k)
        pq.write_table(pa.table({"text": texts.slice(a, b - a)}), path,
                       row_group_size=ROW_GROUP, compression="zstd")
        paths.append(path)
    return SplitResult(rel(folder, paths), len(texts), int(np.sum(n_tokens)))
