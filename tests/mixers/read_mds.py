"""Read MDS folders with mosaicml-streaming's StreamingDataset (run in .venv-mds).

Usage: read_mds.py OUT.npz DIR [DIR ...]. Writes, per folder i, ``tokens_i`` (every
sample's tokens back to back), ``lens_i`` (tokens per sample) and ``dtype_i``.

``streaming/__init__.py`` imports ``streaming.vision`` and so torchvision, which does not
import beside the CPU torch here; the MDS reader lives in ``streaming.base``, which does
not need it. So the package is registered without running its ``__init__``.
"""

from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np

spec = importlib.util.find_spec("streaming")
pkg = types.ModuleType("streaming")
pkg.__path__ = list(spec.submodule_search_locations)
sys.modules["streaming"] = pkg

from streaming.base import StreamingDataset  # noqa: E402
from streaming.base.util import clean_stale_shared_memory  # noqa: E402


def main(out: str, dirs: list[str]) -> None:
    arrays = {}
    for i, d in enumerate(dirs):
        clean_stale_shared_memory()
        ds = StreamingDataset(local=d, shuffle=False, batch_size=1)
        samples = [ds[j]["tokens"] for j in range(ds.num_samples)]
        # also the iterator a training loop uses: same samples, same order
        it = [s["tokens"] for s in ds]
        assert len(it) == len(samples)
        assert all(np.array_equal(a, b) for a, b in zip(it, samples, strict=True))
        arrays[f"tokens_{i}"] = np.concatenate(samples) if samples else np.zeros(0, np.int32)
        arrays[f"lens_{i}"] = np.array([len(s) for s in samples], np.int64)
        arrays[f"dtype_{i}"] = np.array(samples[0].dtype.name if samples else "")
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
