"""The one place that sets Numba's compile flags for every kernel module.

Every ``_kernels.py`` decorates its kernels with ``@njit(**JIT)`` (or ``JIT_NOALLOC``, plus
per-kernel extras such as ``inline="always"``), so the flags cannot drift between modules:

- ``cache``: compiled kernels are kept on disk; only the first run compiles;
- ``nogil``: kernels release the GIL, so threads can run them side by side;
- ``fastmath`` off: results must be bit-for-bit reproducible (same input -> same bytes);
- ``boundscheck`` off: callers validate shapes before calling (the stumpy discipline).

``JIT_NOALLOC`` adds ``_nrt=False`` (Numba's runtime off) for kernels that allocate
nothing, every array being their caller's: Numba otherwise reference-counts, with an
atomic increment and decrement, every array handed to a call it did not inline, and
per-chunk helpers that take a dozen arrays paid that on every chunk of text: turning it
off took the text-statistics word split from 0.28 to 0.16 s of CPU time on 19.5 MB of
mixed text (bench/corpus_other.py). Such a kernel must not create an array (it would
never be freed) and must not be handed one it should free; views and slices are fine.

``parallel`` is not set: stages parallelize over shards with the executor instead.
"""

from __future__ import annotations

JIT: dict[str, bool] = {"cache": True, "nogil": True, "fastmath": False, "boundscheck": False}
JIT_NOALLOC: dict[str, bool] = {**JIT, "_nrt": False}
