"""A second real corpus, offline, with nothing `mixforge corpus` takes: other domains, many scripts.

    PYTHONPATH=$PWD python -m bench.corpus_other --out /tmp/other --max-mb 20

Five domains, all human-written text this machine has installed (Debian packages, the
venv's wheels, global npm modules). `mixforge corpus` takes the stdlib's code and
docstrings, package METADATA, licence texts, Debian copyright and changelog files and
fortunes; none of those are read here:

- ``translations``: gettext catalogs (/usr/share/locale/*/LC_MESSAGES/*.mo), every
  locale (Latin, Cyrillic, Greek, Georgian, Arabic, Hebrew, CJK, Indic, ... scripts); a
  document is consecutive translated messages of one catalog, up to ~4 KB.
- ``man_pages``: /usr/share/man (English and ~30 translations, including ja, ko, ru,
  uk, zh_CN, zh_TW), roff markup stripped to plain text (macro lines dropped or
  reduced to their arguments, font escapes removed; ``.so`` redirects skipped).
- ``c_headers``: C/C++ headers under /usr/include.
- ``javascript``: .js/.mjs/.cjs sources of the npm modules under /usr/lib/node_modules.
- ``package_docs``: README/NEWS/TODO/.md/.rst/.txt files under /usr/share/doc (not
  copyright, not changelog.Debian), site-packages and node_modules.

Output: ``<out>/<domain>.jsonl`` (fields ``text``, ``domain``, ``source``, ``lang`` where
known: the locale of a catalog or man page) and ``manifest.json`` (per domain: docs,
bytes, available documents, origin and licence). ``--max-mb`` gives each domain an equal
share, taken in a fixed pseudo-random order (a hash of the source path), so the same
machine gives the same bytes. Licences: each file keeps its package's own licence
(Debian: /usr/share/doc/<package>/copyright; npm and wheels: their package metadata).
"""

from __future__ import annotations

import argparse
import gettext
import gzip
import hashlib
import re
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import orjson

Doc = tuple[str, str, str]  # source, text, lang
MIN_CHARS = 40
MAX_DOC_BYTES = 1 << 20
DOC_CHARS = 4000


def _read(path: Path) -> str | None:
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError):
        return None


def catalogs(root: Path = Path("/usr/share/locale")) -> Iterator[tuple[str, Path, list]]:
    """``(locale, path, [(msgid, msgstr), ...])`` of every gettext catalog under ``root``,
    in path order, with only the messages really translated (both stripped; a malformed
    catalog is skipped). The one reader of the catalogs: this corpus's translations,
    bench/gettext_corpus.py and bench/langid.py use it."""
    for mo in sorted(root.glob("*/LC_MESSAGES/*.mo")):
        try:
            with open(mo, "rb") as f:
                catalog = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
        except Exception:
            continue
        yield mo.parent.parent.name, mo, [
            (msgid.strip(), msgstr.strip()) for msgid, msgstr in catalog.items()
            if isinstance(msgid, str) and msgid and isinstance(msgstr, str)
            and msgstr.strip() and msgstr != msgid]


def translations() -> Iterator[Doc]:
    for lang, mo, messages in catalogs():
        doc: list[str] = []
        part = 0
        for _msgid, msgstr in messages:
            doc.append(msgstr)
            if sum(map(len, doc)) >= DOC_CHARS:
                yield f"{mo}:{part}", "\n".join(doc), lang
                doc, part = [], part + 1
        if doc:
            yield f"{mo}:{part}", "\n".join(doc), lang


_ESCAPES = [(re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""), (re.compile(r"\\s[+-]?\d"), ""),
            (re.compile(r"\\\(em|\\\[em\]"), "—"), (re.compile(r"\\\(en|\\\[en\]"), "–"),
            (re.compile(r"\\\(bu|\\\[bu\]"), "•"), (re.compile(r"\\\((oq|cq|lq|rq)"), "'"),
            (re.compile(r"\\\*\(..|\\\*\[[^\]]*\]|\\\*."), ""), (re.compile(r"\\[-e]"), "-"),
            (re.compile(r"\\[&|^%:c]"), ""), (re.compile(r"\\ "), " ")]
_TEXT_MACROS = {"SH", "SS", "B", "I", "BR", "RB", "IR", "RI", "BI", "IB", "IP", "TP", "Nm",
                "Nd", "Sh", "Ss", "Fl", "Ar", "Op", "Xr", "Pa", "Dl", "It", "Em", "Sy"}


def roff_text(src: str) -> str:
    """Plain text of a man page's roff source (a cheap stripper, not a renderer)."""
    out = []
    for line in src.splitlines():
        if line.startswith((".", "'")):
            parts = line[1:].split(None, 1)
            if not parts or parts[0] not in _TEXT_MACROS:
                continue
            args = parts[1] if len(parts) > 1 else ""
            if parts[0] == "IP":  # .IP TAG [INDENT]: the tag only
                m = re.match(r'"([^"]*)"|(\S*)', args)
                args = m.group(1) or m.group(2) or ""
            line = args.replace('"', "")
        out.append(line)
    text = "\n".join(out)
    for pat, rep in _ESCAPES:
        text = pat.sub(rep, text)
    return text.replace("\\\\", "\\")


def man_pages() -> Iterator[Doc]:
    root = Path("/usr/share/man")
    for p in sorted(root.rglob("*.gz")):
        rel = p.relative_to(root).parts
        lang = "en" if rel[0].startswith("man") else rel[0]
        src = _read(p)
        if src and not src.lstrip().startswith(".so "):
            yield str(p), roff_text(src), lang


def _files(root: Path, suffixes: tuple[str, ...]) -> Iterator[Doc]:
    for p in sorted(root.rglob("*")):
        if p.suffix in suffixes and p.is_file() and not p.is_symlink():
            text = _read(p)
            if text:
                yield str(p), text, ""


def c_headers() -> Iterator[Doc]:
    yield from _files(Path("/usr/include"), (".h", ".hpp", ".hh"))


def javascript() -> Iterator[Doc]:
    yield from _files(Path("/usr/lib/node_modules"), (".js", ".mjs", ".cjs"))


def package_docs() -> Iterator[Doc]:
    doc_re = re.compile(r"^(README|NEWS|TODO|FAQ|AUTHORS|THANKS|HISTORY|CHANGES)|"
                        r"\.(md|rst|txt)$", re.IGNORECASE)
    for root in (Path("/usr/share/doc"), Path(sysconfig.get_paths()["purelib"]),
                 Path("/usr/lib/node_modules")):
        for p in sorted(root.rglob("*")):
            name = p.name.removesuffix(".gz")
            if (doc_re.search(name) and p.is_file() and "LICENSE" not in name.upper()
                    and "copyright" not in name and "changelog" not in name.lower()):
                text = _read(p)
                if text:
                    yield str(p), text, ""


DOMAINS = {
    "translations": (translations, "/usr/share/locale/*/LC_MESSAGES/*.mo (gettext catalogs)"),
    "man_pages": (man_pages, "/usr/share/man (roff stripped to text), ~30 locales"),
    "c_headers": (c_headers, "/usr/include"),
    "javascript": (javascript, "/usr/lib/node_modules (global npm modules)"),
    "package_docs": (package_docs, "README/NEWS/.md/.rst/.txt in /usr/share/doc, "
                     "site-packages, node_modules"),
}
LICENCE = "each file its package's own (Debian: /usr/share/doc/<pkg>/copyright; npm, wheels: " \
          "package metadata)"


def build(out: Path, max_mb: float | None) -> dict:
    """Write ``<out>/<domain>.jsonl`` per domain and ``manifest.json``; return the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    cap = max_mb * 1e6 / len(DOMAINS) if max_mb else float("inf")
    manifest: dict = {"max_mb": max_mb, "licence": LICENCE, "domains": {}}
    for name, (collect, origin) in DOMAINS.items():
        docs = [d for d in collect() if len(d[1].strip()) >= MIN_CHARS
                and len(d[1].encode()) <= MAX_DOC_BYTES]
        docs.sort(key=lambda d: hashlib.blake2b(d[0].encode(), digest_size=8).digest())
        size, n, langs = 0, 0, set()
        path = out / f"{name}.jsonl"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            for source, text, lang in docs:
                nbytes = len(text.encode())
                if size + nbytes > cap and n:
                    break
                f.write(orjson.dumps({"text": text, "domain": name, "source": source,
                                      "lang": lang}) + b"\n")
                size, n = size + nbytes, n + 1
                langs.add(lang)
        tmp.replace(path)
        manifest["domains"][name] = {"docs": n, "text_bytes": size, "available_docs": len(docs),
                                     "languages": sorted(lang for lang in langs if lang),
                                     "origin": origin, "file": path.name}
        print(f"{name:14s} {n:7,} docs {size / 1e6:7.1f} MB  (of {len(docs):,} available)")
    (out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-mb", type=float, default=20.0)
    args = ap.parse_args()
    build(args.out, args.max_mb)


if __name__ == "__main__":
    main()
