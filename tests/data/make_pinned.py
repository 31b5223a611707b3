"""Regenerate the pinned test corpora of tests/data (run by hand, never by the tests).

    .venv/bin/python tests/data/make_pinned.py

Writes `corpus/` (the 3 MB seven-domain corpus every shared fixture reads) and
`near_dup/` (8 MB of licence and Debian copyright text for the dedup quality tests) with
`mixforge corpus`, copies `html/` (real HTML pages of Debian packages' documentation, for
the WARC tests; see html/SOURCES.md), then writes `SHA256SUMS`. The output depends on
the machine it runs on; that is why it is frozen. After regenerating, review every
threshold a test sets on this data.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from mixforge.corpus import build_corpus

HERE = Path(__file__).parent
SETS = {"corpus": {"max_mb": 3.0}, "near_dup": {"max_mb": 8.0,
                                               "domains": ["licenses", "debian_copyright"]}}
HTML = ["/usr/share/doc/libffi8/html/*.html", "/usr/share/doc/base-passwd/users-and-groups.html",
        "/usr/share/doc/python3/python-policy.html",
        "/usr/share/doc/zlib1g-dev/examples/zlib_how.html"]

if __name__ == "__main__":
    import glob

    for pattern in HTML:
        for f in sorted(glob.glob(pattern)):
            shutil.copy(f, HERE / "html" / Path(f).name)
    lines = []
    for name in [*SETS, "html"]:
        out = HERE / name
        if name in SETS:
            shutil.rmtree(out, ignore_errors=True)
            build_corpus(out, **SETS[name])
        for p in sorted(out.iterdir()):
            lines.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {name}/{p.name}")
    (HERE / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
