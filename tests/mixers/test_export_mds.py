"""MDS read back by mosaicml-streaming's StreamingDataset, in its own environment.

mosaicml-streaming pins numpy<2.2 (the project runs numpy 2.4), so the reader runs in
``.venv-mds`` (``make .venv-mds``; ``make test`` builds it first) through
``tests/mixers/read_mds.py``; without that environment this test is skipped, saying so.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

from mixforge.export import ExportConfig, export, mds
from mixforge.mixers._kernels import mds_encode
from mixforge.mixers.materialize import materialize
from mixforge.mixers.mix import Mix
from mixforge.mixers.strategies import natural, store_tokens
from tests.mixers.stores import expected_docs, same_docs
from tests.requires import require

ROOT = Path(__file__).resolve().parents[2]
MDS_PYTHON = Path(os.environ.get("MIXFORGE_MDS_PYTHON", ROOT / ".venv-mds" / "bin" / "python"))


def read_mds(dirs: list[Path], tmp_path: Path) -> list[tuple[np.ndarray, np.ndarray, str]]:
    require(MDS_PYTHON.exists(),
            f"no MDS reader environment at {MDS_PYTHON}; run `make .venv-mds` (make test does)")
    out = tmp_path / "read.npz"
    env = {**os.environ, "PYTHONPATH": ""}
    proc = subprocess.run([str(MDS_PYTHON), str(ROOT / "tests/mixers/read_mds.py"), str(out),
                           *map(str, dirs)], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    z = np.load(out)
    return [(z[f"tokens_{i}"], z[f"lens_{i}"], str(z[f"dtype_{i}"])) for i in range(len(dirs))]


def docs_of(tokens: np.ndarray, lens: np.ndarray) -> list[np.ndarray]:
    return np.split(tokens.astype(np.int64), np.cumsum(lens)[:-1]) if len(lens) else []


def test_mds_encoding_matches_the_documented_layout():
    # one sample of 3 int32 tokens: size u32, ndim<<2|uint8 shape code, shape, values
    got = mds_encode(np.array([1, 2, 300], np.int32), np.array([3]))
    body = bytes([1 << 2 | 0, 3]) + np.array([1, 2, 300], "<i4").tobytes()
    assert got.tobytes() == np.uint32(len(body)).tobytes() + body
    long = mds_encode(np.arange(300, dtype=np.int32), np.array([300]))
    assert long[4] == (1 << 2 | 1) and long[5:7].view("<u2")[0] == 300


def test_mds_reads_back_with_streaming_dataset(token_store, big_vocab_store, tmp_path):
    mix = natural(store_tokens(token_store), 150_000, seed=12)
    rep = export(token_store, mix, ExportConfig(format="mds", out=tmp_path / "mds",
                                                val_fraction=0.02, chunk_tokens=20_000))
    # a small shard limit forces many shards, as a big export would have
    small = tmp_path / "small"
    w = mds.Writer(small, "train", None, size_limit=20_000)
    m_docs = expected_docs(token_store, mix, "train", val_fraction=0.02)
    for chunk in materialize(token_store, mix, val_fraction=0.02).chunks("train", np.int32,
                                                                         7_000):
        w.write(chunk)
    res = w.close()
    assert len(res.files) > 10
    mix32 = Mix({"alpha": 1.0, "beta": 1.0}, budget_tokens=2_000, seed=3)
    rep32 = export(big_vocab_store, mix32, ExportConfig(format="mds", out=tmp_path / "m32",
                                                        val_fraction=0.0, seq_len=50))
    (tr, trl, dt), (va, val, _), (sm, sml, _), (b32, b32l, _) = read_mds(
        [rep.out / "train", rep.out / "val", small / "train", rep32.out / "train"], tmp_path)
    assert dt == "int32"
    assert same_docs(docs_of(tr, trl), m_docs) and len(trl) == rep.splits["train"].docs
    assert same_docs(docs_of(va, val), expected_docs(token_store, mix, "val",
                                                      val_fraction=0.02))
    assert same_docs(docs_of(sm, sml), m_docs)
    flat = np.concatenate(expected_docs(big_vocab_store, mix32, "train"))
    assert set(b32l) == {50} and np.array_equal(b32, flat[: len(b32)])
    assert b32.max() > 65_535
