"""Numba's first-run compile, said out loud.

Kernels are compiled with ``cache=True``: the first run on a machine compiles them (about
2 minutes for the filter's text statistics on 2 cores, in every worker at once), later
runs load them from ``__pycache__`` in well under a second. `announce_compile` logs one
line before a stage whose kernels are not cached yet, so that pause is never silent.
"""

from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)


def kernels(module: str) -> list[str]:
    """Names of ``module``'s own Numba kernels (``@njit`` dispatchers)."""
    from numba.core.registry import CPUDispatcher

    mod = importlib.import_module(module)
    return sorted(name for name, obj in vars(mod).items()
                  if isinstance(obj, CPUDispatcher) and obj.__module__ == mod.__name__)


def uncached_kernels(module: str) -> list[str]:
    """Names of ``module``'s Numba kernels that have no valid on-disk cache yet.

    Reads Numba's cache index the way Numba does (a stale index, after the source
    changed, counts as missing). Returns [] when Numba's cache internals are not there
    (another Numba version): then nothing is announced rather than a wrong warning.
    """
    from numba.core.registry import CPUDispatcher

    mod = importlib.import_module(module)
    missing = []
    for name, obj in sorted(vars(mod).items()):
        if not isinstance(obj, CPUDispatcher) or obj.__module__ != mod.__name__:
            continue
        try:
            cache_file = obj._cache._cache_file  # numba private: FunctionCache._cache_file
            if not cache_file._load_index():
                missing.append(name)
        except AttributeError:
            return []
    return missing


def announce_compile(stage: str, *modules: str) -> bool:
    """Log "compiling kernels (first run only)" when a module of ``modules`` has no
    cached kernel at all; return whether it did.

    All of a module's caches go stale together (Numba stamps them with the source file's
    mtime and size), and a fresh machine has none, so "none cached" is the first run. A
    module with some kernels cached was run before: the kernels still missing are ones
    no stage has called yet (a stage uses a few of a module's kernels), not a long wait.
    """
    cold = [m for m in modules if (names := kernels(m)) and
            len(uncached_kernels(m)) == len(names)]
    if cold:
        log.warning("%s: compiling Numba kernels (first run only; this can take a minute "
                    "or two, later runs start at once)", stage)
    return bool(cold)
