"""A real many-script corpus from this machine: the gettext translations of every locale.

The ``.mo`` catalogs under /usr/share/locale hold human translations of program messages
into ~180 locales: Latin, Cyrillic, Greek, Arabic, Hebrew, Georgian, Armenian, Ethiopic,
a dozen Indic scripts, Thai, Lao, Khmer, Myanmar, Tibetan, Han, Kana, Hangul, with their
combining marks. A document is consecutive translated messages of one catalog joined up to
about ``--chars`` characters (its ``domain`` is the locale); each locale contributes at
most ``--max-mb`` / 100 MB, so large locales do not crowd out the rest. Deterministic
(catalogs in path order, messages in catalog order). Writes one JSONL that `mixforge
ingest` (and every bench script's ``--corpus``) reads.

    PYTHONPATH=$PWD python bench/gettext_corpus.py --out /tmp/gettext_corpus --max-mb 20
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from bench.corpus_other import catalogs


def documents(chars: int, per_locale_bytes: int, root: Path = Path("/usr/share/locale"),
              ) -> list[dict[str, str]]:
    """``[{"text", "domain"}]``: translated messages joined into documents, per locale."""
    docs, used = [], Counter()
    for loc, _mo, messages in catalogs(root):
        doc: list[str] = []
        for _msgid, msgstr in messages:
            if used[loc] >= per_locale_bytes:
                break
            doc.append(msgstr)
            if sum(map(len, doc)) >= chars:
                text = "\n".join(doc)
                docs.append({"text": text, "domain": loc})
                used[loc] += len(text.encode())
                doc = []
    return docs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for gettext.jsonl")
    ap.add_argument("--max-mb", type=float, default=20.0, help="about this many MB in all")
    ap.add_argument("--chars", type=int, default=2000, help="characters per document")
    args = ap.parse_args()
    docs = documents(args.chars, int(args.max_mb * 1e6 / 100))
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "gettext.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    tmp.replace(args.out / "gettext.jsonl")
    mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    print(f"{len(docs):,} documents, {mb:.1f} MB, "
          f"{len({d['domain'] for d in docs})} locales -> {args.out / 'gettext.jsonl'}")


if __name__ == "__main__":
    main()
