"""Export a mix from the token store to a training format (`mixforge export`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..errors import ConfigError
from ..rundir import write_json
from ..tokenize.store import TokenStore
from .formats import Target, writers
from .materialize import Selection, iter_tokens, materialize
from .mix import Mix

log = logging.getLogger(__name__)


def export(mix: Mix, store: TokenStore, fmt: str, out: str | Path,
           val_fraction: float = 0.01, seq_len: int | None = None) -> dict:
    """Materialize ``mix`` and write train/val splits in ``fmt``; return a summary.

    The summary (also ``<out>/export.json``) holds per-domain tokens taken, documents,
    files, bytes and MB/s; with the mix and seed it pins the output byte for byte.
    """
    table = writers()
    if fmt not in table:
        msg = f"unknown export format {fmt!r}; choose one of {sorted(table)}"
        raise ConfigError(msg)
    if store.meta.get("framing") not in ("eos", "both") and fmt in ("nanogpt", "llmc"):
        msg = (f"{fmt} expects an EOT token after each document, but the token store was "
               f"written with framing={store.meta.get('framing')!r}; re-run "
               "`mixforge tokenize --framing eos`")
        raise ConfigError(msg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sel: Selection = materialize(mix, store, val_fraction)
    target = Target(store.vocab_size, store.meta.get("eos_id"), seq_len)
    start = time.perf_counter()
    files = []
    for split, picks in (("train", sel.train), ("val", sel.val)):
        files += table[fmt](out, split, iter_tokens(store, sel, picks), target)
    secs = time.perf_counter() - start
    nbytes = sum(f.stat().st_size if f.is_file() else
                 sum(p.stat().st_size for p in f.rglob("*") if p.is_file()) for f in files)
    summary = {"format": fmt, "mix": mix.to_dict(), "tokens_per_domain": sel.tokens,
               "train_docs": len(sel.train), "val_docs": len(sel.val),
               "train_tokens": sum(sel.tokens.values()), "seq_len": seq_len,
               "files": [f.name for f in files], "bytes": nbytes, "seconds": round(secs, 3),
               "mb_per_s": round(nbytes / 1e6 / secs, 1) if secs else None}
    write_json(out / "export.json", summary)
    log.info("export %s: %d files, %.1f MB in %.1f s", fmt, len(files), nbytes / 1e6, secs)
    return summary
