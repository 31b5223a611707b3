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
    """Log "compiling kernels (first run only)" when any kernel of ``modules`` is not
    cached; return whether it did."""
    missing = [k for m in modules for k in uncached_kernels(m)]
    if missing:
        log.warning("%s: compiling %d Numba kernels (first run only; this can take a "
                    "minute or two, later runs start at once)", stage, len(missing))
    return bool(missing)
