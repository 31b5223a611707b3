"""Read litdata exports with litdata itself (run in .venv-litdata), and write the same
documents with litdata's own writer.

Usage: read_litdata.py OUT.npz BLOCK DIR [DIR ...]. Per folder i:

- ``blocks_i``: every item of ``StreamingDataset(DIR, item_loader=TokensLoader(BLOCK))``
  in order (shuffle off), stacked; ``shuffled_i``: the same dataset shuffled (seed 7);
- ``chunk_size_i``, ``dim_i``: documents and tokens per chunk as litdata's reader parsed
  them from ``index.json``.

``OUT.npz.in.npz``, when present, holds documents (``tokens``, ``lens``) and
``chunk_tokens``: they are written with litdata's ``BinaryWriter`` (one int32 tensor per
document, ``TokensLoader``, ``chunk_size=chunk_tokens``) into ``OUT.npz.ref/``, for the
test to compare with the export byte for byte.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from litdata import StreamingDataset, TokensLoader
from litdata.streaming.writer import BinaryWriter


def read(folder: str, block: int, cache: Path, shuffle: bool) -> tuple[np.ndarray, object]:
    ds = StreamingDataset(folder, item_loader=TokensLoader(block_size=block), shuffle=shuffle,
                          seed=7, cache_dir=str(cache))
    items = [np.asarray(x) for x in ds]
    return (np.stack(items) if items else np.zeros((0, block), np.int32)), ds


def main(out: str, block: int, dirs: list[str]) -> None:
    arrays = {}
    for i, d in enumerate(dirs):
        arrays[f"blocks_{i}"], ds = read(d, block, Path(out + f".cache{i}"), False)
        arrays[f"shuffled_{i}"], _ = read(d, block, Path(out + f".scache{i}"), True)
        chunks = ds.cache._reader.config._chunks
        arrays[f"chunk_size_{i}"] = np.array([c["chunk_size"] for c in chunks], np.int64)
        arrays[f"dim_{i}"] = np.array([c["dim"] for c in chunks], np.int64)
    np.savez(out, **arrays)
    ref_in = Path(out + ".in.npz")
    if ref_in.exists():
        z = np.load(ref_in)
        w = BinaryWriter(out + ".ref", chunk_size=int(z["chunk_tokens"]),
                         item_loader=TokensLoader())
        start = 0
        for k, n in enumerate(z["lens"].tolist()):
            w[k] = torch.from_numpy(z["tokens"][start:start + n].astype(np.int32))
            start += n
        w.done()
        w.merge()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
