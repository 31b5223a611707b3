"""Executors map a picklable function over a list of tasks; stages never know which one.

`local` (the default) is a process pool on this machine; a `ray` executor plugs in behind
the same two-method interface. Results come back in task order whatever order they finish
in, so outputs do not depend on scheduling.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Protocol

from .errors import ConfigError

OnResult = Callable[[int, Any], None]


class Executor(Protocol):
    """What a stage runner needs: a worker count and an ordered map."""

    workers: int

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any],
            on_result: OnResult | None = None) -> list[Any]: ...


class LocalExecutor:
    """A process pool (forkserver) over this machine's cores; inline for one worker or task.

    Examples
    --------
    >>> LocalExecutor(workers=1).map(abs, [-1, 2])
    [1, 2]
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any],
            on_result: OnResult | None = None) -> list[Any]:
        results: list[Any] = [None] * len(items)
        if self.workers == 1 or len(items) <= 1:
            for i, item in enumerate(items):
                results[i] = fn(item)
                if on_result:
                    on_result(i, results[i])
            return results
        ctx = mp.get_context("forkserver")
        with ProcessPoolExecutor(min(self.workers, len(items)), mp_context=ctx) as pool:
            futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
            try:
                for fut in as_completed(futures):
                    i = futures[fut]
                    results[i] = fut.result()
                    if on_result:
                        on_result(i, results[i])
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
        return results


def get_executor(name: str = "local", workers: int | None = None) -> Executor:
    """The executor called ``name`` (``local``; ``ray`` with the ``ray`` extra)."""
    if name == "local":
        return LocalExecutor(workers)
    msg = f"unknown executor {name!r}; choose 'local'"
    raise ConfigError(msg)
