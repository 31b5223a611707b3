"""Where a run's files live: a local folder, or any fsspec store (``s3://``, ``gs://``, ...).

One mechanism, a write-through local mirror. Every stage keeps computing on local files;
a URL is mapped to a folder of the local mirror (`cache_root`: ``$MIXFORGE_CACHE/store``,
default ``~/.cache/mixforge/store``) as ``<mirror>/<protocol>/<bucket>/<key>``, and:

- `local` checks the store (credentials, bucket) before any work, then *pulls* the URL's
  objects into the mirror: an object is downloaded only when the mirror's copy differs in
  size or modification time (each mirrored file carries its object's ``LastModified`` as
  its mtime), and mirrored files whose object is gone are removed;
- `push` uploads a file that `mixforge.rundir.atomic_path` has just renamed into place,
  whole (``put_file``: one object, written once), so a shard's outputs reach the store
  before its completion marker, which is written (and so uploaded) last: a marker on the
  store always means a complete shard, and resume reads markers as on local disk;
- `fetch` brings a task's inputs into a worker's mirror (a Ray worker on another machine
  has none), so no shared file system is needed;
- `remove` deletes the object of a mirrored file (stale shards, an overwritten export).

Temp names (``.NAME.tmp-PID``, and anything inside such a folder) never reach the store.
Store options come from fsspec's own configuration (``FSSPEC_S3_ENDPOINT_URL``, files in
``~/.config/fsspec/``) or the store's usual environment (``AWS_ENDPOINT_URL``,
``AWS_PROFILE``, ``GOOGLE_APPLICATION_CREDENTIALS``): every worker sees the same store.
The trade-off: the machine that runs a command holds a copy of the run directory it reads
(disk = the run's size; the mirror may be deleted at any time, it is pulled again). See
docs/storage.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import FatalError

log = logging.getLogger(__name__)

CACHE_ENV = "MIXFORGE_CACHE"
# "s3://bucket/key", or the same after pathlib folded the double slash ("s3:/bucket/key")
_URL = re.compile(r"^([a-z][a-z0-9+.-]+)://?(.*)$")
_TEMP = re.compile(r"^\..*\.(tmp|old)-\d+$")  # rundir.atomic_path / export.atomic_dir names


def split_url(path: str | os.PathLike) -> tuple[str, str] | None:
    """``(protocol, "bucket/key")`` of a store URL; None for a local path or ``file://``."""
    m = _URL.match(os.fspath(path))
    if not m or m.group(1) in ("file", "local"):
        return None
    return m.group(1), m.group(2).strip("/")


def cache_dir() -> Path:
    """mixforge's local cache: ``$MIXFORGE_CACHE``, else ``~/.cache/mixforge`` (the store
    mirror, and tables built once per machine such as the tokenizer's code-point classes)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache/mixforge").absolute()


def cache_root() -> Path:
    """The local mirror's root: ``<cache_dir>/store``."""
    return cache_dir() / "store"


def filesystem(protocol: str) -> Any:
    """The fsspec filesystem of ``protocol`` (fsspec caches instances, per process); a
    `FatalError` naming the package to install when fsspec does not know the protocol or
    its implementation is not installed."""
    try:
        import fsspec
    except ImportError:
        msg = f"{protocol}:// paths need fsspec: pip install 'mixforge[s3]' (or fsspec)"
        raise FatalError(msg) from None
    try:
        return fsspec.filesystem(protocol)
    except ValueError:
        msg = (f"unknown storage protocol {protocol}://: fsspec knows "
               f"{', '.join(sorted(fsspec.available_protocols())[:12])}, ...; check the URL")
        raise FatalError(msg) from None
    except ImportError as e:  # fsspec's message names the package ("Install s3fs to ...")
        msg = f"{protocol}:// paths need a package that is not installed: {e}"
        raise FatalError(msg) from None


def url_of(path: str | os.PathLike) -> str | None:
    """The store URL a mirrored local path stands for; None for any other path (and for
    temp names, which never reach the store)."""
    try:
        rel = Path(os.path.abspath(path)).relative_to(cache_root())
    except ValueError:
        return None
    if len(rel.parts) < 2 or any(_TEMP.match(p) for p in rel.parts):
        return None
    return f"{rel.parts[0]}://{'/'.join(rel.parts[1:])}"


def display(path: str | os.PathLike) -> str:
    """How a file is named in data and hashes: its URL when mirrored, else its absolute
    path (ids and fingerprints do not depend on where the mirror sits)."""
    return url_of(path) or str(Path(path).resolve())


def check(url: str) -> None:
    """Reach the store of ``url`` (list its bucket) before any work; a `FatalError` for
    wrong credentials, a missing bucket or an unreachable endpoint, naming the fix."""
    protocol, rest = split_url(url) or ("file", url)
    fs = filesystem(protocol)
    bucket = rest.split("/", 1)[0]
    try:
        fs.ls(bucket, detail=False)
    except FileNotFoundError:
        msg = (f"{url}: bucket {protocol}://{bucket} does not exist (or is not visible with "
               "these credentials); create it first, or fix the URL")
        raise FatalError(msg) from None
    except PermissionError as e:
        msg = (f"{url}: access denied by the store ({e}); check the credentials "
               "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE for s3://, "
               "GOOGLE_APPLICATION_CREDENTIALS for gs://) and the endpoint (AWS_ENDPOINT_URL)")
        raise FatalError(msg) from None
    except OSError as e:
        msg = f"{url}: the store cannot be reached ({type(e).__name__}: {e}); check the endpoint"
        raise FatalError(msg) from None


def local(path: str | os.PathLike) -> Path:
    """The local path mixforge works on for ``path``.

    A local path (or ``file://`` URL) is returned as a `Path`; a store URL is checked
    (`check`), pulled into its mirror folder (`pull`) and that folder returned. Raises
    `FatalError` before any work when the store cannot be used.
    """
    parts = split_url(path)
    if parts is None:
        s = os.fspath(path)
        return Path(s.split("://", 1)[1] if "://" in s else s)
    protocol, rest = parts
    url = f"{protocol}://{rest}"
    check(url)
    mirror = cache_root() / protocol / rest
    pull(mirror)
    return mirror


def require_local(path: str | os.PathLike, what: str) -> None:
    """A `FatalError` when ``path`` is a store URL or its mirror: for the commands that
    append to files as they go (a probe sweep's journal, an evaluation's curves), which
    `push` cannot keep whole on a store."""
    url = url_of(path) or (None if split_url(path) is None else os.fspath(path))
    if url:
        msg = (f"{what} needs a local run directory, and {url} is on an object store: "
               "copy the run's tokenize/ folder down (e.g. `aws s3 sync URL/tokenize "
               "runs/r1/tokenize`) and point --run-dir at the local folder")
        raise FatalError(msg)


def _signature(info: dict[str, Any]) -> tuple[int, int | None]:
    """(size, mtime in whole seconds) of an object as the store lists it."""
    when = info.get("LastModified") or info.get("mtime") or info.get("updated")
    if hasattr(when, "timestamp"):
        when = when.timestamp()
    elif isinstance(when, str):
        from datetime import datetime

        with contextlib.suppress(ValueError):
            when = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    return int(info.get("size") or 0), int(when) if isinstance(when, int | float) else None


def _same(path: Path, sig: tuple[int, int | None]) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return st.st_size == sig[0] and (sig[1] is None or int(st.st_mtime) == sig[1])


def _mark(path: Path, sig: tuple[int, int | None]) -> None:
    if sig[1] is not None:
        os.utime(path, (sig[1], sig[1]))


def pull(mirror: str | os.PathLike, skip: Iterable[str] = (".mixforge.lock",)) -> int:
    """Make the mirror folder (or file) ``mirror`` match its objects on the store; return
    how many objects were downloaded. Objects named in ``skip`` stay on the store."""
    mirror = Path(mirror)
    url = url_of(mirror)
    if url is None:
        return 0
    protocol, rest = split_url(url)  # type: ignore[misc]
    fs = filesystem(protocol)
    fs.invalidate_cache(rest)  # another process may have written since we last listed
    listing = fs.find(rest, detail=True, withdirs=False)
    if rest in listing and len(listing) == 1:  # a single object
        objects = {"": listing[rest]}
    else:
        objects = {k[len(rest):].lstrip("/"): v for k, v in listing.items()
                   if k.startswith(rest + "/")}
    got = 0
    for rel, info in sorted(objects.items()):
        if Path(rel).name in skip:
            continue
        dest = mirror / rel if rel else mirror
        sig = _signature(info)
        if _same(dest, sig):
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
        fs.get_file(info["name"], str(tmp))
        os.replace(tmp, dest)
        _mark(dest, sig)
        got += 1
    if mirror.is_dir():  # mirrored files whose object is gone (a shard removed elsewhere)
        for p in mirror.rglob("*"):
            rel = p.relative_to(mirror).as_posix()
            if p.is_file() and rel not in objects and url_of(p):
                p.unlink()
    if got:
        log.info("%s: %d object(s) pulled into %s", url, got, mirror)
    return got


def fetch(paths: Iterable[str | os.PathLike]) -> None:
    """Pull each mirrored path that this machine's mirror lacks (a task's inputs on a
    worker that does not share the driver's disk); other paths are left alone."""
    for p in paths:
        if url_of(p) and not Path(p).exists():
            pull(p)


def push(path: str | os.PathLike) -> None:
    """Upload a mirrored file whole, as one object (no-op for other paths); the mirror's
    copy then carries the object's modification time, so a later `pull` keeps it."""
    url = url_of(path)
    if url is None:
        return
    protocol, rest = split_url(url)  # type: ignore[misc]
    fs = filesystem(protocol)
    fs.put_file(os.fspath(path), rest)
    fs.invalidate_cache(rest)  # info() must ask the store, not a listing cached before
    _mark(Path(path), _signature(fs.info(rest)))


def push_tree(folder: str | os.PathLike, last: str) -> None:
    """Upload every file of a mirrored folder, the file named ``last`` at the end (an
    export's manifest: present means complete), and delete objects the folder no longer
    holds. The old ``last`` object goes first, so a half-replaced folder has none."""
    folder = Path(folder)
    url = url_of(folder)
    if url is None:
        return
    protocol, rest = split_url(url)  # type: ignore[misc]
    fs = filesystem(protocol)
    old = set(fs.find(rest, withdirs=False))
    with contextlib.suppress(FileNotFoundError):
        fs.rm_file(f"{rest}/{last}")
    files = sorted((p for p in folder.rglob("*") if p.is_file()),
                   key=lambda p: p.relative_to(folder).as_posix() == last)
    for p in files:
        push(p)
    kept = {f"{rest}/{p.relative_to(folder).as_posix()}" for p in files}
    for stale in sorted(old - kept):
        fs.rm_file(stale)


def remove(path: str | os.PathLike) -> None:
    """Delete the object of a mirrored file (no-op for other paths or a missing object)."""
    url = url_of(path)
    if url is None:
        return
    protocol, rest = split_url(url)  # type: ignore[misc]
    with contextlib.suppress(FileNotFoundError):
        filesystem(protocol).rm_file(rest)


def read_text(url: str) -> str | None:
    """An object's text, or None when it does not exist."""
    protocol, rest = split_url(url)  # type: ignore[misc]
    try:
        return filesystem(protocol).cat_file(rest).decode()
    except FileNotFoundError:
        return None


def write_text(url: str, text: str) -> None:
    """Write one object whole."""
    protocol, rest = split_url(url)  # type: ignore[misc]
    filesystem(protocol).pipe_file(rest, text.encode())
