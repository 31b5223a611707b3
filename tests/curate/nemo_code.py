"""NeMo Curator's code filters on documents: the reference of the code rules (run in .venv-nemo).

Usage: nemo_code.py IN.json OUT.json. IN: a JSON list of documents (strings). OUT: per
document, what nemo-curator 1.4.0 (``stages/text/filters/heuristic/code/code.py``, its port
of StarCoder's bigcode-dataset filters) computes and decides:

- ``max_line``, ``mean_line``: ``PerExtensionFilter._line_statistics``;
- ``alnum``: ``PerExtensionFilter._alphanum_fraction`` (null for an empty document, which
  it cannot score);
- ``basic_keep``: ``PerExtensionFilter`` with the basic filter's thresholds for Python
  (longest line 1,000, mean line 100 -- which it ties to the former --, alphanumeric 0.25);
- ``xml_keep``: ``XMLHeaderFilter``.

``nemo_curator/__init__.py`` imports cosmos-xenna and Ray, and the filter packages'
``__init__`` modules import pandas; the code filters need none of them, so the parent
packages are registered without running their ``__init__`` (as read_mds.py does).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
import types
from pathlib import Path

root = Path(importlib.util.find_spec("nemo_curator").origin).parent
for name in ("", ".stages", ".stages.text", ".stages.text.filters",
             ".stages.text.filters.heuristic", ".stages.text.filters.heuristic.code",
             ".stages.text.utils"):
    pkg = types.ModuleType("nemo_curator" + name)
    pkg.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
    sys.modules["nemo_curator" + name] = pkg

from nemo_curator.stages.text.filters.heuristic.code.code import (  # noqa: E402
    PerExtensionFilter,
    XMLHeaderFilter,
)

CSV = ("language,extension,Include,Long_line_threshold,Alphanum_threshold,Alpha filter\n"
       "python,py,1,1000,0.25,\n")


def main(src: str, out: str) -> None:
    docs = json.loads(Path(src).read_text())
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write(CSV)
    basic = PerExtensionFilter("python", "py", metadata_file=f.name)
    xml = XMLHeaderFilter()
    rows = []
    for text in docs:
        max_line, mean_line = basic._line_statistics(text)
        rows.append({"max_line": max_line, "mean_line": mean_line,
                     "alnum": basic._alphanum_fraction(text) if text else None,
                     "basic_keep": basic.keep_document(basic.score_document(text))
                     if text else None,
                     "xml_keep": xml.keep_document(xml.score_document(text))})
    Path(out).write_text(json.dumps(rows))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
