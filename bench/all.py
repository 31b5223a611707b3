"""Every benchmark with its peers on the given corpora; rewrites docs/benchmarks.md's tables.

    PYTHONPATH=$PWD python -m bench.all --corpus CORPUS [--corpus NAME=CORPUS ...] [--quick]
    make bench CORPUS=path [BENCH_ARGS='--repeats 3']

A corpus is anything `mixforge ingest` reads (JSONL/parquet/text folder, ...), labelled by
its folder or file name unless given as ``NAME=PATH``. It is ingested once; then each
benchmark script runs in its own process (a crash or a timeout in one is reported and
written into its table, the others go on) with the contract of bench/_common.py
(``--corpus RUN --json OUT [--quick] [--repeats N]``), and each result becomes one
markdown table between the markers ``<!-- bench:NAME:CORPUS -->`` and ``<!-- /bench -->``
in the doc: the corpus and the command named above it, the notes below it. A marker pair
already in the doc is rewritten in place (the prose around it is kept); a new one is
added under the heading "Tables by corpus" at the end. ``--quick`` is the smoke-test size
(a few hundred documents, one round).
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
TRAILER = "## Tables by corpus"
#: name -> (module, extra arguments); the table names are the JSON's "name"
BENCHES: dict[str, tuple[str, list[str]]] = {
    "dedup_signatures": ("bench.dedup_signatures", []),
    "dedup_fuzzy": ("bench.dedup_fuzzy", []),
    "filters": ("bench.filters", []),
    "tokenize": ("bench.tokenize_speed", ["--tokenizer", "trained"]),
}
#: run once per invocation, on the pool of every corpus given (bench/scaling.py)
SCALING = "scaling"
#: the corpora this run built (path -> the command that builds it), named by that command
BUILT: dict[Path, str] = {}


def block_re(name: str, corpus: str) -> re.Pattern:
    return re.compile(rf"<!-- bench:{re.escape(name)}:{re.escape(corpus)} -->\n.*?"
                      r"<!-- /bench -->\n?", re.DOTALL)


def cell(v: object) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def table(rows: list[dict]) -> str:
    """A markdown table: the columns of the first row, then any others in order seen."""
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def render(name: str, corpus: str, result: dict, when: str) -> str:
    """The block between a marker pair (markers included)."""
    head = (f"<!-- bench:{name}:{corpus} -->\n"
            f"Corpus **{corpus}** (`{result.get('corpus', '?')}`), {when}:\n"
            f"`{result.get('command', '?')}`\n\n")
    if result.get("error"):
        body = f"**failed**: {result['error']}\n"
    else:
        body = table(result["rows"]) + "\n"
        if result.get("notes"):
            body += "\n" + result["notes"].strip() + "\n"
    return head + body + "<!-- /bench -->\n"


def rewrite(doc: str, blocks: dict[tuple[str, str], str]) -> str:
    """``doc`` with each (name, corpus) block replaced in place or added at the end."""
    for (name, corpus), text in blocks.items():
        pat = block_re(name, corpus)
        if pat.search(doc):
            doc = pat.sub(lambda _m, t=text: t, doc, count=1)
            continue
        if TRAILER not in doc:
            doc = doc.rstrip("\n") + (f"\n\n{TRAILER}\n\nWritten by `make bench`; every table "
                                      "names its corpus and command.\n")
        doc = doc.rstrip("\n") + f"\n\n### {name} on {corpus}\n\n{text}"
    return doc


def label_of(arg: str) -> tuple[str, Path]:
    """``NAME=PATH`` or ``PATH`` (named by its file or folder name, suffixes dropped)."""
    if "=" in arg and not Path(arg).exists():
        name, path = arg.split("=", 1)
        return name, Path(path)
    p = Path(arg)
    return p.name.split(".")[0] or "corpus", p


def default_corpora(work: Path, mb: float) -> list[tuple[str, Path]]:
    """The project's two real corpora at ``mb`` MB each: ``local`` and ``other``."""
    from bench.corpus_other import build
    from mixforge.corpus import build_corpus

    build_corpus(work / "corpora" / "local", max_mb=mb)
    build(work / "corpora" / "other", mb)
    BUILT[work / "corpora" / "local"] = f"mixforge corpus --out CORPUS --max-mb {mb:g}"
    BUILT[work / "corpora" / "other"] = (f"python -m bench.corpus_other --out CORPUS "
                                         f"--max-mb {mb:g}")
    return [("local", work / "corpora" / "local"), ("other", work / "corpora" / "other")]


def run_one(module: str, args: list[str], out: Path, timeout: float) -> dict:
    """Run one benchmark script; its JSON, or ``{"error": ...}`` with the output's tail."""
    cmd = [sys.executable, "-m", module, *args, "--json", str(out)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "command": shlex.join(cmd)}
    sec = time.perf_counter() - t
    if p.returncode != 0 or not out.exists():
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {p.returncode}: " + " / ".join(tail), "command": shlex.join(cmd)}
    res = orjson.loads(out.read_bytes())
    res["seconds"] = sec
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", action="append", default=[],
                    help="[NAME=]PATH, repeatable; default: the two real corpora, built here "
                         "(`local`: mixforge corpus, `other`: bench/corpus_other.py)")
    ap.add_argument("--corpus-mb", type=float, default=20.0,
                    help="size of the default corpora (scaling builds them at full size)")
    ap.add_argument("--doc", type=Path, default=DOC, help="the markdown file to rewrite")
    ap.add_argument("--only", default="", help=f"comma-separated subset of "
                    f"{sorted([*BENCHES, SCALING])}")
    ap.add_argument("--quick", action="store_true", help="smoke-test size, one round")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds per benchmark")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: temp)")
    args = ap.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or [*BENCHES, SCALING]
    unknown = set(names) - {*BENCHES, SCALING}
    if unknown:
        ap.error(f"unknown benchmark(s) {sorted(unknown)}; known: {sorted([*BENCHES, SCALING])}")
    from mixforge.executor import LocalExecutor
    from mixforge.ingest import IngestConfig, ingest

    when = (f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f} at start")
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        blocks: dict[tuple[str, str], str] = {}
        failed = 0
        corpora = [label_of(a) for a in args.corpus] or default_corpora(Path(tmp),
                                                                          args.corpus_mb)
        runs = []
        for label, path in corpora:
            run = Path(tmp) / label / "run"
            ingest(IngestConfig(inputs=[str(path)]), run, LocalExecutor(1))
            runs.append(run)
        jobs = [(label, path, run, name, *BENCHES[name])
                for (label, path), run in zip(corpora, runs, strict=True)
                for name in names if name in BENCHES]
        if SCALING in names:
            # one run over the pool of every corpus; by default its own full-size pool
            pool = [] if args.corpus else ["--sizes", "25,100,400"]
            for run in runs[1:] if args.corpus else []:
                pool += ["--extra-corpus", str(run)]
            jobs.append(("+".join(label for label, _ in corpora), Path(", ".join(
                str(p) for _, p in corpora) if args.corpus else "pool"),
                runs[0] if args.corpus else None, SCALING, "bench.scaling", pool))
            BUILT[Path("pool")] = "both real corpora at full size, built by bench/scaling.py"
        for label, path, run, name, module, extra in jobs:
            extra = [*extra, "--repeats", str(args.repeats)]
            extra += ["--corpus", str(run)] if run else []
            extra += ["--quick"] if args.quick else []
            print(f"[{label}] {name} ...", flush=True)
            res = run_one(module, extra, Path(tmp) / f"{label}-{name}.json", args.timeout)
            res["corpus"] = BUILT.get(path, str(path))
            # the command that reproduces the table on its own: the corpus, not our run
            res["command"] = res.get("command", "").split(" --json ")[0]
            for (_, src), r in zip(corpora, runs, strict=True):
                res["command"] = res["command"].replace(
                    str(r), "CORPUS" if src in BUILT else shlex.quote(str(src)))
            if "error" in res:
                failed += 1
                print(f"[{label}] {name} FAILED: {res['error']}", flush=True)
            else:
                print(f"[{label}] {name} done in {res['seconds']:.0f} s", flush=True)
            blocks[(res.get("name", name), label)] = render(res.get("name", name), label,
                                                            res, when)
    doc = args.doc.read_text() if args.doc.exists() else "# Benchmarks\n"
    tmp_doc = args.doc.with_suffix(".md.tmp")
    tmp_doc.write_text(rewrite(doc, blocks))
    tmp_doc.replace(args.doc)
    print(f"{len(blocks)} table(s) written to {args.doc} ({failed} failed) in "
          f"{time.perf_counter() - t_all:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
