"""litdata export read back by litdata's own StreamingDataset + TokensLoader, and compared
byte for byte with what litdata's own writer makes of the same documents.

litdata asks for torchvision (whose PyPI build does not import beside torch 2.13 CPU),
obstore and tifffile, none of which reading token chunks needs, so the reader runs in
``.venv-litdata`` (``make .venv-litdata``; ``make test`` builds it) through
``tests/mixers/read_litdata.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np

from mixforge.export import ExportConfig, export
from mixforge.mixers.mix import Mix
from mixforge.mixers.strategies import natural, store_tokens
from tests.mixers.stores import expected_docs, same_docs, split_on
from tests.requires import require

ROOT = Path(__file__).resolve().parents[2]
LITDATA_PYTHON = Path(os.environ.get("MIXFORGE_LITDATA_PYTHON",
                                     ROOT / ".venv-litdata" / "bin" / "python"))


def read_litdata(dirs: list[Path], block: int, tmp: Path, ref: dict | None = None):
    """What litdata reads from ``dirs`` (see read_litdata.py); with ``ref`` (documents and
    chunk_tokens), litdata's own writer also writes them into ``tmp/litdata.npz.ref``."""
    require(LITDATA_PYTHON.exists(),
            f"no litdata reader environment at {LITDATA_PYTHON}; run `make .venv-litdata`")
    tmp.mkdir(parents=True, exist_ok=True)
    out = tmp / "litdata.npz"
    if ref is not None:
        np.savez(tmp / "litdata.npz.in.npz", **ref)
    proc = subprocess.run([str(LITDATA_PYTHON), str(ROOT / "tests/mixers/read_litdata.py"),
                           str(out), str(block), *map(str, dirs)],
                          capture_output=True, text=True, cwd=tmp,
                          env={**os.environ, "PYTHONPATH": "", "HOME": str(tmp)},
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    z = np.load(out)
    return [{k: z[f"{k}_{i}"] for k in ("blocks", "shuffled", "chunk_size", "dim")}
            for i in range(len(dirs))]


def litdata_chunks(lens: list[int], limit: int) -> list[tuple[int, int]]:
    """Documents [a, b) per chunk, cut the way litdata's BinaryWriter cuts with
    chunk_size=limit: add documents while the tokens stay within the limit (an empty one
    counts 1); a document past the limit on its own is a chunk of its own."""
    cuts, a, fill = [], 0, 0
    for i, n in enumerate(lens):
        cost = max(n, 1)
        if i > a and fill + cost > limit:
            cuts.append((a, i))
            a, fill = i, 0
        fill += cost
    if a < len(lens):
        cuts.append((a, len(lens)))
    return cuts


def blocks_of(docs: list[np.ndarray], cuts: list[tuple[int, int]], block: int) -> np.ndarray:
    """TokensLoader's items: each chunk's tokens in blocks, the chunk's tail dropped."""
    out = []
    for a, b in cuts:
        toks = np.concatenate(docs[a:b])
        out.append(toks[: len(toks) // block * block].reshape(-1, block))
    return np.concatenate(out)


def test_litdata_reads_back_the_mix(token_store, big_vocab_store, tmp_path):
    mix = natural(store_tokens(token_store), 150_000, seed=2)
    cfg = ExportConfig(format="litdata", out=tmp_path / "lit", val_fraction=0.02,
                       shard_tokens=40_000, chunk_tokens=25_000)
    rep = export(token_store, mix, cfg)
    want = expected_docs(token_store, mix, "train", val_fraction=0.02)
    want_val = expected_docs(token_store, mix, "val", val_fraction=0.02)
    lens = [len(d) for d in want]
    cuts = litdata_chunks(lens, 40_000)
    assert len(cuts) >= 3
    ref = {"tokens": np.concatenate(want), "lens": np.array(lens), "chunk_tokens": 40_000}
    tr, va = read_litdata([rep.out / "train", rep.out / "val"], 64, tmp_path, ref)

    # litdata's reader sees the chunks cut as its writer cuts them, and every block in order
    assert tr["chunk_size"].tolist() == [b - a for a, b in cuts]
    assert tr["dim"].tolist() == [sum(lens[a:b]) for a, b in cuts]
    assert np.array_equal(tr["blocks"], blocks_of(want, cuts, 64))
    assert sorted(map(tuple, tr["shuffled"].tolist())) == sorted(map(tuple, tr["blocks"].tolist()))
    assert same_docs(split_on(tr["blocks"][:100].ravel(), want[0][-1])[:5], want[:5])
    assert np.array_equal(va["blocks"], blocks_of(want_val, litdata_chunks(
        [len(d) for d in want_val], 40_000), 64))

    # litdata's own writer makes the same chunk files and index from the same documents
    # (one item per document: the offsets hold the document boundaries)
    same_as_litdata(rep.out / "train", tmp_path / "litdata.npz.ref")
    assert json.loads((rep.out / "train" / "index.json").read_text())["updated_at"] == \
        rep.manifest["fingerprint"]

    # ids past 65,535; chunks that close exactly at the limit; every token read (blocks of
    # one token: no chunk tail is dropped)
    mix32 = Mix({"alpha": 1.0, "beta": 1.0}, budget_tokens=2_000, seed=3)
    want32 = expected_docs(big_vocab_store, mix32, "train", over_cap="shrink")
    limit = sum(len(d) for d in want32[:3])
    rep32 = export(big_vocab_store, mix32, ExportConfig(
        format="litdata", out=tmp_path / "l32", val_fraction=0.0, over_cap="shrink",
        shard_tokens=limit, chunk_tokens=500))
    ref32 = {"tokens": np.concatenate(want32), "lens": np.array([len(d) for d in want32]),
             "chunk_tokens": limit}
    (b32,) = read_litdata([rep32.out / "train"], 1, tmp_path / "r32", ref32)
    assert b32["chunk_size"][0] == 3
    assert same_docs(split_on(b32["blocks"].ravel(), 99_999), want32)
    assert b32["blocks"].max() > 65_535
    same_as_litdata(rep32.out / "train", tmp_path / "r32" / "litdata.npz.ref")


def same_as_litdata(ours: Path, theirs: Path) -> None:
    names = sorted(p.name for p in theirs.glob("chunk-*.bin"))
    assert names == sorted(p.name for p in ours.glob("chunk-*.bin")) and names
    assert all((theirs / n).read_bytes() == (ours / n).read_bytes() for n in names)
    a = json.loads((ours / "index.json").read_text())
    b = json.loads((theirs / "index.json").read_text())
    assert a["chunks"] == b["chunks"] and a["config"] == b["config"]
