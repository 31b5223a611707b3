"""What every benchmark script shares: the corpus it runs on, interleaved timing, its JSON.

The contract (bench/all.py relies on it): every script takes ``--corpus PATH`` (anything
`mixforge ingest` reads, or a run directory that already holds an ``ingest`` stage),
``--json PATH`` (write ``{"name", "command", "corpus", "rows": [...], "notes"}``; each row
is one line of the table docs/benchmarks.md shows, a dict of column -> cell) and
``--quick`` (a smoke-test size: the first few hundred documents, one repeat).

Timing: the machine is shared, so peers and mixforge run interleaved (round robin, one
call of each per round) and a figure is the median over the rounds with its range.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

QUICK_DOCS = 60


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the contract's options (--corpus, --json, --quick, --repeats)."""
    ap = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=None,
                    help="corpus (JSONL/parquet/folder: what `mixforge ingest` reads) or a run "
                         "directory with an ingest stage; default: the real local corpus")
    ap.add_argument("--json", type=Path, default=None, help="write the result here")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke-test size: the first {QUICK_DOCS} documents, one repeat")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved rounds (median, range)")
    ap.add_argument("--max-mb", type=float, default=20.0,
                    help="size of the local corpus built when --corpus is not given")
    return ap


def is_run(path: Path) -> bool:
    return (path / "ingest" / "_stage.json").exists()


def prepare_run(args: argparse.Namespace, work: Path) -> Path:
    """A fresh run directory under ``work`` whose ``ingest`` stage holds the corpus.

    A run directory given as --corpus has its ingest stage hard-linked (nothing re-read);
    any other input is ingested (one worker). With --quick only the first QUICK_DOCS
    documents are kept (re-ingested from a JSONL, domains kept).
    """
    from mixforge.corpus import build_corpus
    from mixforge.executor import LocalExecutor
    from mixforge.ingest import IngestConfig, ingest

    run = work / "run"
    src = args.corpus
    if src is None:
        src = work / "corpus"
        build_corpus(src, max_mb=args.max_mb)
    if is_run(src) and not args.quick:
        shutil.copytree(src / "ingest", run / "ingest", copy_function=os.link)
        return run
    if not is_run(src):
        ingest(IngestConfig(inputs=[str(src)]), run, LocalExecutor(1))
        if not args.quick:
            return run
        src, run = run, work / "run-quick"
    table = read_stage(src).slice(0, QUICK_DOCS)
    sub = work / "quick.jsonl"
    sub.write_bytes(b"".join(orjson.dumps({"text": t, "domain": d}) + b"\n" for t, d in zip(
        table["text"].to_pylist(), table["domain"].to_pylist(), strict=True)))
    ingest(IngestConfig(inputs=[str(sub)], domain_field="domain"), run, LocalExecutor(1))
    return run


def read_stage(run: Path, stage: str = "ingest") -> pa.Table:
    """Every kept document of ``stage`` in ``run``, as one table."""
    from mixforge.stats import stage_files

    return pa.concat_tables(pq.read_table(f) for f in stage_files(run / stage))


def corpus_name(args: argparse.Namespace) -> str:
    return str(args.corpus) if args.corpus else f"mixforge corpus --max-mb {args.max_mb:g}"


def interleaved(fns: dict[str, Callable[[], object]], repeats: int,
                clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds of each call over ``repeats`` rounds, one call of each per round (wall
    seconds; ``clock=time.process_time`` for this process's CPU seconds)."""
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = clock()
            fn()
            out[k].append(clock() - t)
    return out


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def fmt(x: float) -> str:
    """A number with 3 significant digits, thousands separated."""
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def spread(xs: list[float], scale: float = 1.0, invert: bool = False) -> str:
    """``median (min–max)`` of ``scale * x`` (or ``scale / x`` with invert)."""
    vals = sorted(scale / x if invert else scale * x for x in xs)
    m = statistics.median(vals)
    if len(vals) == 1:
        return fmt(m)
    return f"{fmt(m)} ({fmt(vals[0])}–{fmt(vals[-1])})"


def ratio(peer: list[float], ours: list[float]) -> str:
    """Per-round ratios peer/ours (rounds are paired), as ``**median**x (min–max)``."""
    r = sorted(p / o for p, o in zip(peer, ours, strict=False))
    m = statistics.median(r)
    if len(r) == 1:
        return f"**{m:.1f}x**"
    return f"**{m:.1f}x** ({r[0]:.1f}–{r[-1]:.1f})"


def write(args: argparse.Namespace, name: str, rows: list[dict], notes: str = "") -> None:
    """Print the rows and, with --json, write the contract's JSON."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    argv = ["-m", spec.name, *sys.argv[1:]] if spec else sys.argv
    result = {"name": name, "command": shlex.join(["python", *argv]),
              "corpus": corpus_name(args), "rows": rows, "notes": notes}
    for r in rows:
        print("  ".join(f"{k}={v}" for k, v in r.items()))
    if notes:
        print(notes)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        tmp.replace(args.json)
