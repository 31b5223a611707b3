"""OLMo-core / dolma export read back by ai2-olmo-core itself, in its own environment.

ai2-olmo-core brings cloud clients and a newer huggingface_hub, so the reader runs in
``.venv-olmo`` (``make .venv-olmo``; ``make test`` builds it) through
``tests/mixers/read_olmo.py``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

from mixforge.export import ExportConfig, export
from mixforge.mixers.mix import Mix
from mixforge.mixers.strategies import natural, store_tokens
from mixforge.tokenize.store import TokenStore
from tests.mixers.stores import expected_docs, same_docs
from tests.requires import require

ROOT = Path(__file__).resolve().parents[2]
OLMO_PYTHON = Path(os.environ.get("MIXFORGE_OLMO_PYTHON",
                                  ROOT / ".venv-olmo" / "bin" / "python"))


def read_olmo(dirs: list[Path], eos: int, vocab: int, dtype: str, seq_len: int, tmp: Path):
    require(OLMO_PYTHON.exists(),
            f"no OLMo-core reader environment at {OLMO_PYTHON}; run `make .venv-olmo`")
    out = tmp / "olmo.npz"
    proc = subprocess.run([str(OLMO_PYTHON), str(ROOT / "tests/mixers/read_olmo.py"), str(out),
                           str(eos), str(vocab), dtype, str(seq_len), *map(str, dirs)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""},
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    z = np.load(out)
    return [{k: z[f"{k}_{i}"] for k in ("tokens", "lens", "eos_lens", "fsl")}
            for i in range(len(dirs))]


def docs_of(tokens: np.ndarray, lens: np.ndarray) -> list[np.ndarray]:
    return np.split(tokens.astype(np.int64), np.cumsum(lens)[:-1]) if len(lens) else []


def test_olmo_core_reads_back_the_mix(token_store, big_vocab_store, tmp_path):
    mix = natural(store_tokens(token_store), 150_000, seed=2)
    cfg = ExportConfig(format="olmo", out=tmp_path / "olmo", val_fraction=0.02,
                       shard_tokens=40_000, chunk_tokens=25_000)
    rep = export(token_store, mix, cfg)
    again = export(token_store, mix, ExportConfig(**{**cfg.__dict__, "out": tmp_path / "o2"}))
    parts = sorted((rep.out / "train").glob("part-*"))
    assert len(parts) >= 6  # several .npy + .csv.gz pairs
    assert all(p.read_bytes() == (again.out / "train" / p.name).read_bytes() for p in parts)
    mix32 = Mix({"alpha": 1.0, "beta": 1.0}, budget_tokens=2_000, seed=3)
    rep32 = export(big_vocab_store, mix32, ExportConfig(format="olmo", out=tmp_path / "o32",
                                                        val_fraction=0.0, over_cap="shrink"))
    store = TokenStore(token_store)
    eos = store.meta["eos_id"]
    tr, va = read_olmo([rep.out / "train", rep.out / "val"], eos, store.vocab_size, "uint16",
                       64, tmp_path)
    (b32,) = read_olmo([rep32.out / "train"], 99_999, 100_000, "uint32", 50, tmp_path)
    want = expected_docs(token_store, mix, "train", val_fraction=0.02)
    assert same_docs(docs_of(tr["tokens"], tr["lens"]), want)
    assert tr["eos_lens"].tolist() == tr["lens"].tolist()  # metadata and EOS scan agree
    flat = np.concatenate(want)
    part_tokens = [p.stat().st_size // 2 for p in parts if p.suffix == ".npy"]
    assert len(tr["fsl"]) == sum(n // 64 for n in part_tokens)  # per array, remainder dropped
    assert np.array_equal(tr["fsl"][0], flat[:64])
    assert same_docs(docs_of(va["tokens"], va["lens"]),
                     expected_docs(token_store, mix, "val", val_fraction=0.02))
    want32 = expected_docs(big_vocab_store, mix32, "train", over_cap="shrink")
    assert same_docs(docs_of(b32["tokens"], b32["lens"]), want32)
    assert b32["tokens"].max() > 65_535
