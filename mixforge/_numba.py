"""The one place that sets Numba's compile flags for every kernel module.

Every ``_kernels.py`` decorates its kernels with ``@njit(**JIT)`` (plus per-kernel
extras such as ``inline="always"``), so the flags cannot drift between modules:

- ``cache``: compiled kernels are kept on disk; only the first run compiles;
- ``nogil``: kernels release the GIL, so threads can run them side by side;
- ``fastmath`` off: results must be bit-for-bit reproducible (same input -> same bytes);
- ``boundscheck`` off: callers validate shapes before calling (the stumpy discipline).

``parallel`` is not set: stages parallelize over shards with the executor instead.
"""

from __future__ import annotations

JIT: dict[str, bool] = {"cache": True, "nogil": True, "fastmath": False, "boundscheck": False}
