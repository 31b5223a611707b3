"""Hugging Face datasets: parquet shards with ``input_ids``, or a ``save_to_disk`` folder.

``hf-parquet`` writes ``data/<split>-NNNNN-of-MMMMM.parquet`` (the Hub's layout, so
``load_dataset("parquet", data_dir=...)`` and ``load_dataset(<folder>)`` find the splits
``train`` and ``validation``), one row a document (or a packed row), ``input_ids`` as
``list<int32>`` with the ``datasets`` features in the schema metadata. ``hf-disk`` writes
what ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` write, through ``datasets``'
own ``ArrowWriter``: ``<split>/data-NNNNN-of-MMMMM.arrow`` + ``state.json`` +
``dataset_info.json`` and ``dataset_dict.json``, for ``load_from_disk``.

Both stream: one record batch per chunk; a shard closes after ``shard_tokens`` tokens
(shard names get their ``-of-MMMMM`` when the split is done).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..mixers.materialize import Chunk
from .base import ExportContext, SplitResult, SplitWriter, rel

PACKABLE = True
SPLIT_NAMES = {"train": "train", "val": "validation"}


def features():
    from datasets import Features, Sequence, Value

    return Features({"input_ids": Sequence(Value("int32"))})


def check(ctx: ExportContext) -> None:
    """Every vocabulary fits: ids are int32."""


def chunk_table(chunk: Chunk, schema: pa.Schema) -> pa.Table:
    """A chunk as a one-column table (zero copy: the chunk's tokens are the list values)."""
    offsets = np.zeros(len(chunk.doc_lens) + 1, np.int32)
    np.cumsum(chunk.doc_lens, out=offsets[1:])
    values = pa.array(np.ascontiguousarray(chunk.tokens, np.int32))
    lists = pa.ListArray.from_arrays(pa.array(offsets), values)
    return pa.Table.from_arrays([lists], schema=schema)


class _Sharded(SplitWriter):
    """Rotate shards every ``shard_tokens`` tokens (at chunk boundaries); name them at the end."""

    def __init__(self, folder: Path, split: str, ctx: ExportContext) -> None:
        self.folder, self.split, self.ctx = folder, SPLIT_NAMES[split], ctx
        self.schema = features().arrow_schema
        self.tmp_paths: list[Path] = []
        self.docs = self.tokens = self.in_shard = 0
        self.writer = None

    def _path(self, i: int, n: int | None) -> Path:  # pragma: no cover - per format
        raise NotImplementedError

    def _open(self, path: Path):  # pragma: no cover - per format
        raise NotImplementedError

    def write(self, chunk: Chunk) -> None:
        if not len(chunk.doc_lens):
            return
        if self.writer is None or self.in_shard >= self.ctx.shard_tokens:
            self._close_writer()
            path = self._path(len(self.tmp_paths), None)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.tmp_paths.append(path)
            self.writer = self._open(path)
            self.in_shard = 0
        self.writer.write_table(chunk_table(chunk, self.schema))
        self.in_shard += len(chunk.tokens)
        self.docs += len(chunk.doc_lens)
        self.tokens += len(chunk.tokens)

    def _close_writer(self) -> None:
        if self.writer is not None:
            self._finalize(self.writer)
            self.writer = None

    def _finalize(self, writer) -> None:
        writer.close()

    def close(self) -> SplitResult:
        if not self.tmp_paths:  # an empty split is still a (one-shard, no-row) split
            self.tmp_paths.append(self._path(0, None))
            self.tmp_paths[0].parent.mkdir(parents=True, exist_ok=True)
            self.writer = self._open(self.tmp_paths[0])
        self._close_writer()
        n = len(self.tmp_paths)
        paths = [self._path(i, n) for i in range(n)]
        for tmp, final in zip(self.tmp_paths, paths, strict=True):
            tmp.rename(final)
        return SplitResult(rel(self.folder, paths), self.docs, self.tokens)


class ParquetWriter(_Sharded):
    def _path(self, i: int, n: int | None) -> Path:
        name = f"{self.split}-{i:05d}" + (f"-of-{n:05d}.parquet" if n else ".parquet.partial")
        return self.folder / "data" / name

    def _open(self, path: Path):
        return pq.ParquetWriter(path, self.schema, compression="zstd", compression_level=1)


class DiskWriter(_Sharded):
    def _path(self, i: int, n: int | None) -> Path:
        name = f"data-{i:05d}" + (f"-of-{n:05d}.arrow" if n else ".arrow.partial")
        return self.folder / self.split / name

    def _open(self, path: Path):
        from datasets.arrow_writer import ArrowWriter

        return ArrowWriter(features=features(), path=str(path))

    def _finalize(self, writer) -> None:
        writer.finalize()
        writer.close()

    def close(self) -> SplitResult:
        from datasets import DatasetInfo

        result = super().close()
        split_dir = self.folder / self.split
        state = {"_data_files": [{"filename": Path(f).name} for f in result.files],
                 "_fingerprint": f"{self.ctx.fingerprint}-{self.split}",
                 "_format_columns": None, "_format_kwargs": {}, "_format_type": None,
                 "_output_all_columns": False, "_split": self.split}
        (split_dir / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True))
        info = asdict(DatasetInfo(features=features(),
                                  description="mixforge export (input_ids of a data mix)"))
        info = {k: info[k] for k in sorted(info)}
        (split_dir / "dataset_info.json").write_text(json.dumps(info, indent=2))
        result.files += rel(self.folder, [split_dir / "state.json",
                                          split_dir / "dataset_info.json"])
        return result


class _Format:
    def __init__(self, name: str, writer: type[_Sharded]) -> None:
        self.NAME, self.PACKABLE, self.writer = name, PACKABLE, writer
        self.check = check

    def open_split(self, folder: Path, split: str, ctx: ExportContext) -> SplitWriter:
        return self.writer(folder, split, ctx)

    def finish(self, folder: Path, ctx: ExportContext, results: dict[str, SplitResult]) -> None:
        if self.writer is DiskWriter:
            splits = [SPLIT_NAMES[s] for s in results]
            (folder / "dataset_dict.json").write_text(json.dumps({"splits": splits}))


PARQUET = _Format("hf-parquet", ParquetWriter)
DISK = _Format("hf-disk", DiskWriter)
