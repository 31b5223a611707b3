"""Progress bars and summary tables: drawn by the CLI only (the library logs, never prints)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import polars as pl
from tqdm import tqdm

from .executor import OnResult


@contextlib.contextmanager
def shard_bar(total: int, desc: str) -> Iterator[OnResult]:
    """A tqdm bar over shards; yields the ``on_result`` callback executors call."""
    bar = tqdm(total=total, desc=desc, unit="shard", file=sys.stderr, dynamic_ncols=True,
               disable=None)
    try:
        yield lambda _i, _r: bar.update(1)
    finally:
        bar.close()


def table(df: pl.DataFrame, title: str = "") -> str:
    """Render a small frame as an aligned text table."""
    with pl.Config(tbl_rows=100, tbl_cols=20, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True, fmt_str_lengths=60,
                   thousands_separator=True, tbl_formatting="ASCII_MARKDOWN"):
        return (f"{title}\n" if title else "") + str(df)
