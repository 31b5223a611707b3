"""The code rules vs their references: per-rule keep/drop agreement on real files.

    PYTHONPATH=$PWD python bench/code_filters.py [--root DIR] [--nemo-python .venv-nemo/bin/python]

Files: every file under ``--root`` (default: the running Python's standard library, its
``.py`` modules and its test data: XML, JSON, HTML, CSV, ...; ``site-packages`` skipped)
that decodes as strict UTF-8, is not empty and is under 1 MB. Per rule, three deciders at
the same thresholds (`CodeConfig`'s defaults, StarCoder's: longest line 1,000, mean line
100, alphanumeric fraction 0.25, ``<?xml version=`` in the first 100 characters):

- mixforge: `code_stats` + the thresholds;
- NeMo Curator 1.4.0 (``PerExtensionFilter`` statistics and ``XMLHeaderFilter``), run by
  ``tests/curate/nemo_code.py`` in ``.venv-nemo`` (``make .venv-nemo``); ``basic`` is its
  whole ``PerExtensionFilter`` decision against our three rules together;
- bigcode: the statistics of bigcode-dataset's ``preprocessing/filtering.py``
  (``add_stats``: ``splitlines()``, ``str.isalnum``), re-typed here as the one-liners they are
  (bigcode-dataset is a repository, not a package).

Prints a markdown table (files dropped by each, agreement) and the first disagreements.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sysconfig
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

from mixforge.curate.filters import CodeConfig, code_stats

ROOT = Path(__file__).resolve().parents[1]


def load(root: Path, max_bytes: int = 1 << 20) -> tuple[list[str], list[str]]:
    names, texts = [], []
    for p in sorted(root.rglob("*")):
        if (not p.is_file() or p.is_symlink() or "__pycache__" in p.parts
                or "site-packages" in p.relative_to(root).parts):
            continue
        if p.stat().st_size == 0 or p.stat().st_size > max_bytes:
            continue
        try:
            texts.append(p.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            continue
        names.append(str(p.relative_to(root)))
    return names, texts


def bigcode_stats(text: str) -> tuple[int, float, float]:
    """bigcode-dataset's add_stats: max and mean of ``splitlines()`` lengths, isalnum mean."""
    lens = [len(line) for line in text.splitlines()] or [0]
    return max(lens), float(np.mean(lens)), float(np.mean([c.isalnum() for c in text]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    ap.add_argument("--nemo-python", type=Path, default=ROOT / ".venv-nemo" / "bin" / "python")
    ap.add_argument("--show", type=int, default=3, help="Disagreements shown per rule.")
    args = ap.parse_args()
    names, texts = load(args.root)
    c = CodeConfig()
    ours = code_stats(pa.array(texts, pa.large_string()))
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.json", Path(tmp) / "out.json"
        src.write_text(json.dumps(texts))
        subprocess.run([str(args.nemo_python), str(ROOT / "tests/curate/nemo_code.py"),
                        str(src), str(out)], check=True)
        nemo = json.loads(out.read_text())
    big = [bigcode_stats(t) for t in texts]
    n_max = np.array([r["max_line"] for r in nemo])
    n_mean = np.array([r["mean_line"] for r in nemo])
    n_alnum = np.array([r["alnum"] for r in nemo], float)
    drops = {  # rule -> (mixforge, NeMo, bigcode) drop decisions
        "code_max_line_length": (ours["code_max_line"].to_numpy() > c.max_line_length,
                                 n_max > c.max_line_length,
                                 np.array([b[0] for b in big]) > c.max_line_length),
        "code_mean_line_length": (ours["code_mean_line"].to_numpy() > c.max_mean_line_length,
                                  n_mean > c.max_mean_line_length,
                                  np.array([b[1] for b in big]) > c.max_mean_line_length),
        "code_alnum_fraction": (ours["code_alnum_frac"].to_numpy() < c.min_alnum_fraction,
                                n_alnum < c.min_alnum_fraction,
                                np.array([b[2] for b in big]) < c.min_alnum_fraction),
        "code_xml": (ours["code_xml"].to_numpy(), ~np.array([r["xml_keep"] for r in nemo]),
                     np.array(["<?xml version=" in t[:100] for t in texts])),
    }
    basic = [drops[r] for r in ("code_max_line_length", "code_mean_line_length",
                                "code_alnum_fraction")]
    drops["basic (the three above)"] = (basic[0][0] | basic[1][0] | basic[2][0],
                                        ~np.array([r["basic_keep"] for r in nemo]),
                                        basic[0][2] | basic[1][2] | basic[2][2])
    print(f"{len(texts):,} files under {args.root}\n")
    print("| rule | mixforge drops | NeMo Curator drops | agreement | bigcode drops | agreement |")
    print("|---|---|---|---|---|---|")
    for rule, (m, n, b) in drops.items():
        print(f"| {rule} | {m.sum():,} | {n.sum():,} | {np.mean(m == n):.4f} | {b.sum():,} | "
              f"{np.mean(m == b):.4f} |")
    for rule, (m, n, b) in drops.items():
        for who, ref in (("NeMo", n), ("bigcode", b)):
            for i in np.flatnonzero(m != ref)[: args.show].tolist():
                print(f"{rule} vs {who}: {names[i]}: mixforge {'drops' if m[i] else 'keeps'} "
                      f"(max {ours['code_max_line'][i]}, mean {ours['code_mean_line'][i]:.1f}, "
                      f"alnum {ours['code_alnum_frac'][i]:.3f}); NeMo max {n_max[i]}, mean "
                      f"{n_mean[i]:.1f}, alnum {n_alnum[i]:.3f}; bigcode max {big[i][0]}, "
                      f"mean {big[i][1]:.1f}, alnum {big[i][2]:.3f}")


if __name__ == "__main__":
    main()
