"""The disk cache of what the encoder derives from the tokenizer file alone.

Loading a tokenizer for the fast engines costs a fixed 0.06-0.8 s before the first
document is encoded (8k to 65k vocabularies, measured in docs/benchmarks.md): the
tiktoken recipe rebuilt from the ``tokenizer.json`` merges, the vocabulary part of the
load-time proof (every merge result encodes to itself in `tokenizers`), the native
engine's hash tables of ranks and rank pairs, the vocabulary size and the bytes of every
token id (``token_bytes.npy``). None of it depends on the documents, so it is computed once per
tokenizer and kept here, as Numba keeps compiled kernels: a later run reads it back in
a few milliseconds. The part of the proof that runs on a sample of the user's own
documents is never cached (`fast.build_encoder` runs it every time).

Where: ``<cache_dir>/tokenizers-engine/<key>.npz`` (`mixforge.storage.cache_dir`:
``$MIXFORGE_CACHE``, default ``~/.cache/mixforge``). The key is a hash of the tokenizer's
fingerprint (the sha256 of its file: a changed file is another entry), `ENGINE_VERSION`
(bumped whenever the layout of the tables or what the proof checks changes) and the
`tokenizers` version (its behaviour is what the proof checks). One entry is a plain
``.npz`` (no pickle): a JSON header and named arrays, with a CRC-32 of both; it is
written to a temporary file and renamed, so readers never see half an entry. An entry
that cannot be read, fails its checksum or names another key is rebuilt (and replaced,
with a warning in the log); a cache folder that is missing and cannot be made, or
read-only, only means no cache. Clearing it is always safe: ``rm -rf
~/.cache/mixforge/tokenizers-engine``.

`read_entry`/`write_entry` are the one entry format of the cache: `native`'s code-point
tables (``<cache_dir>/unicode/``, keyed by table, Unicode version and layout) use them too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import zlib
from pathlib import Path

import numpy as np

from ..storage import cache_dir

log = logging.getLogger(__name__)

# Bump when the cached tables' layout, the recipe, or the checks of the proof change.
ENGINE_VERSION = 1
FOLDER = "tokenizers-engine"
_META = "__meta__"
_CRC = "__crc__"


def entry_key(fingerprint: str) -> str:
    """The cache key of a tokenizer: its fingerprint, `ENGINE_VERSION`, `tokenizers`'
    version (hex, 32 characters)."""
    import tokenizers

    parts = {"fingerprint": fingerprint, "engine": ENGINE_VERSION,
             "tokenizers": tokenizers.__version__}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def entry_path(fingerprint: str) -> Path:
    """Where the entry of a tokenizer lives (it may not exist)."""
    return cache_dir() / FOLDER / f"{entry_key(fingerprint)}.npz"


def _checksum(meta: bytes, arrays: dict[str, np.ndarray]) -> int:
    crc = zlib.crc32(meta)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        crc = zlib.crc32(f"{name}:{a.dtype.str}:{a.shape}".encode(), crc)
        crc = zlib.crc32(a.view(np.uint8).reshape(-1) if a.size else b"", crc)
    return crc


def load(fingerprint: str) -> tuple[dict, dict[str, np.ndarray]] | None:
    """The (header, arrays) cached for a tokenizer, or None (absent, unreadable, damaged
    or of another key: the caller rebuilds and `save`s)."""
    return read_entry(entry_path(fingerprint), entry_key(fingerprint))


def save(fingerprint: str, data: dict, arrays: dict[str, np.ndarray]) -> Path | None:
    """Write a tokenizer's entry atomically; its path, or None when the cache folder cannot
    be written (then there is just no cache)."""
    return write_entry(entry_path(fingerprint), entry_key(fingerprint), data, arrays)


def read_entry(path: Path, key: str) -> tuple[dict, dict[str, np.ndarray]] | None:
    """One cache entry (a ``.npz`` written by `write_entry`): its (header data, arrays), or
    None when it is absent, unreadable, fails its CRC-32 or was written for another
    ``key`` (logged as a warning, except absent). The one reader of every entry in the
    cache: the tokenizer parts here, `native`'s code-point tables."""
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        return None
    except Exception as e:  # a truncated zip, a bad header: anything means rebuild
        log.warning("cache entry %s is unreadable (%s); rebuilding it", path, e)
        return None
    meta_raw = arrays.pop(_META, np.zeros(0, np.uint8)).tobytes()
    crc = arrays.pop(_CRC, np.zeros(1, np.int64))
    try:
        meta = json.loads(meta_raw)
        ok = (crc.shape == (1,) and int(crc[0]) == _checksum(meta_raw, arrays)
              and meta.get("key") == key)
    except ValueError:
        ok = False
    if not ok:
        log.warning("cache entry %s fails its checksum; rebuilding it", path)
        return None
    return meta["data"], arrays


def write_entry(path: Path, key: str, data: dict, arrays: dict[str, np.ndarray],
                ) -> Path | None:
    """Write an entry atomically (temporary file, then rename): a JSON header holding
    ``key`` and ``data``, the named ``arrays``, a CRC-32 of both. Returns its path, or None
    when the folder cannot be written (then there is just no cache)."""
    meta_raw = json.dumps({"key": key, "data": data}, sort_keys=True).encode()
    payload = {_META: np.frombuffer(meta_raw, dtype=np.uint8),
               _CRC: np.array([_checksum(meta_raw, arrays)], dtype=np.int64), **arrays}
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, **payload)
        os.replace(tmp, path)
    except OSError as e:
        log.debug("cache entry not written (%s): %s", path, e)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        return None
    return path
