"""The pinned test corpora in `tests/data/`, checked byte for byte before use.

`mixforge corpus` draws on what the machine has installed, so the tests read frozen copies
whose sha256 sums are in `tests/data/SHA256SUMS` (see tests/data/README.md).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

DATA = Path(__file__).parent / "data"


def pinned_copy(name: str, dst: Path) -> Path:
    """Copy the pinned corpus `tests/data/<name>/` to `dst`, after checking its checksums.

    Raises `RuntimeError` naming the file when a byte differs from `tests/data/SHA256SUMS`:
    the tests' expected values were set on exactly these bytes.
    """
    sums = dict(line.split()[::-1] for line in (DATA / "SHA256SUMS").read_text().splitlines())
    files = sorted(p for p in (DATA / name).iterdir())
    listed = sorted(k for k in sums if k.startswith(f"{name}/"))
    if [f"{name}/{p.name}" for p in files] != listed:
        msg = (f"tests/data/{name} holds {[p.name for p in files]} but SHA256SUMS lists "
               f"{listed}: the pinned test corpus changed; regenerate it with "
               "tests/data/make_pinned.py and review every threshold that depends on it")
        raise RuntimeError(msg)
    for p in files:
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
        if digest != sums[f"{name}/{p.name}"]:
            msg = (f"tests/data/{name}/{p.name}: sha256 {digest} differs from SHA256SUMS; the "
                   "pinned test corpus must not change silently (see tests/data/README.md)")
            raise RuntimeError(msg)
    dst.mkdir(parents=True, exist_ok=True)
    for p in files:
        shutil.copy2(p, dst / p.name)
    return dst
