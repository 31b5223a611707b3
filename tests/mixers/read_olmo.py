"""Read OLMo-core / dolma exports with ai2-olmo-core itself (run in .venv-olmo).

Usage: read_olmo.py OUT.npz EOS_ID VOCAB_SIZE DTYPE SEQ_LEN DIR [DIR ...]. Per folder i:
``tokens_i`` and ``lens_i`` (every document from the ``.csv.gz`` metadata through
``iter_document_indices(use_array_if_local=False)``, back to back), ``eos_lens_i`` (the
document lengths OLMo-core infers by scanning for EOS) and ``fsl_i`` (every instance of a
``NumpyFSLDataset`` of SEQ_LEN tokens over the folder's parts, stacked).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from olmo_core.data.numpy_dataset import NumpyFSLDataset
from olmo_core.data.utils import iter_document_indices, load_array_slice


def main(out: str, eos: int, vocab: int, dtype: str, seq_len: int, dirs: list[str]) -> None:
    dt = getattr(np, dtype)
    arrays = {}
    for i, d in enumerate(dirs):
        paths = sorted(Path(d).glob("part-*.npy"))
        toks, lens, eos_lens = [], [], []
        for p in paths:
            for start, end in iter_document_indices(p, use_array_if_local=False, dtype=dt):
                toks.append(load_array_slice(p, start, end, dt))
                lens.append(end - start)
            eos_lens += [e - s for s, e in iter_document_indices(
                p, use_array_if_local=True, eos_token_id=eos, dtype=dt)]
        ds = NumpyFSLDataset(*paths, sequence_length=seq_len, pad_token_id=eos,
                             eos_token_id=eos, vocab_size=vocab, dtype=dt)
        ds.prepare()
        fsl = [np.asarray(ds[k]["input_ids"]) for k in range(len(ds))]
        arrays[f"tokens_{i}"] = np.concatenate(toks) if toks else np.zeros(0, dt)
        arrays[f"lens_{i}"] = np.array(lens, np.int64)
        arrays[f"eos_lens_{i}"] = np.array(eos_lens, np.int64)
        arrays[f"fsl_{i}"] = np.stack(fsl) if fsl else np.zeros((0, seq_len), np.int64)
    np.savez(out, **arrays)


if __name__ == "__main__":
    a = sys.argv
    main(a[1], int(a[2]), int(a[3]), a[4], int(a[5]), a[6:])
