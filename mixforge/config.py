"""One dataclass per command; YAML, flags and Python resolve to the same object.

Every field carries its help text (``opt(default, "help")``), so `--help`, the pipeline
config's documentation and validation all come from one place. ``from_dict`` names the
wrong key or type before any work starts; ``click_options`` turns a dataclass into flags.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import click

from .errors import ConfigError

T = TypeVar("T")
_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}


def opt(default: Any, help: str, *, flag: str | None = None, short: str | None = None) -> Any:
    """A config field with its help text (and, optionally, its CLI flag name and a short
    alias such as ``-o``)."""
    meta = {"help": help, "flag": flag, "short": short}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _is_optional(tp: Any) -> tuple[bool, Any]:
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return True, args[0]
    return False, tp


def _kind(value: Any) -> str:
    """What a YAML value is, in words (for error messages)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def check_regex(pattern: str | None, key: str) -> None:
    """Raise a `ConfigError` naming ``key`` (and its flag) if ``pattern`` is no valid regex."""
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as e:
        flag = "--" + key.rsplit(".", 1)[-1].replace("_", "-")
        msg = f"{key} ({flag}) {pattern!r} is not a valid regular expression: {e}"
        raise ConfigError(msg) from None


def _coerce(value: Any, tp: Any, key: str) -> Any:
    optional, tp = _is_optional(tp)
    if value is None:
        if optional:
            return None
        msg = f"config key {key!r} must not be empty"
        raise ConfigError(msg)
    origin = get_origin(tp)
    if origin is Literal:
        if value not in get_args(tp):
            msg = f"config key {key!r} is {value!r}; choose one of {list(get_args(tp))}"
            raise ConfigError(msg)
        return value
    if origin is list:
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            msg = f"config key {key!r} must be a list, got {type(value).__name__}"
            raise ConfigError(msg)
        (inner,) = get_args(tp) or (Any,)
        return [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            msg = f"config key {key!r} must be a mapping, got {type(value).__name__}"
            raise ConfigError(msg)
        _, vt = get_args(tp) or (Any, Any)
        return {str(k): _coerce(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            msg = (f"config section {key!r} must be a mapping of {tp.__name__} keys "
                   f"(key: value lines), got {_kind(value)} {value!r}")
            raise ConfigError(msg)
        return from_dict(tp, value, where=key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        msg = f"config key {key!r} must be true or false, got {value!r}"
        raise ConfigError(msg)
    if tp in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"config key {key!r} must be a number, got {value!r}"
            raise ConfigError(msg)
        if tp is int and float(value) != int(value):
            msg = f"config key {key!r} must be a whole number, got {value!r}"
            raise ConfigError(msg)
        return tp(value)
    if tp in (str, Path):
        if not isinstance(value, str | Path):
            msg = f"config key {key!r} must be a string, got {value!r}"
            raise ConfigError(msg)
        return tp(value)
    return value


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "config") -> T:
    """Build ``cls`` from a mapping, naming any unknown key or wrong type."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        msg = (f"{where} must be a mapping of {cls.__name__} keys (key: value lines), "
               f"got {_kind(data)} {data!r}")
        raise ConfigError(msg)
    data = dict(data)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        msg = f"unknown key {unknown[0]!r} in {where}; known keys: {sorted(fields)}"
        raise ConfigError(msg)
    values = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    obj = cls(**values)
    check = getattr(obj, "validate", None)
    if check:
        check()
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    """A JSON-safe dict of a config dataclass (paths as strings)."""

    def norm(v: Any) -> Any:
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [norm(x) for x in v]
        return v

    return norm(dataclasses.asdict(obj))


def config_hash(obj: Any, *extra: Any) -> str:
    """A short, stable hash of a config (and anything else that decides the output)."""
    payload = json.dumps([to_dict(obj) if dataclasses.is_dataclass(obj) else obj, *extra],
                         sort_keys=True, default=str)
    return hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()


def click_options(cls: type, skip: tuple[str, ...] = ()) -> typing.Callable:
    """Decorate a click command with one option per dataclass field (help from the field)."""
    hints = typing.get_type_hints(cls)

    def decorate(fn: typing.Callable) -> typing.Callable:
        for f in reversed(dataclasses.fields(cls)):
            if f.name in skip:
                continue
            _optional, tp = _is_optional(hints[f.name])
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            name = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
            short = (f.metadata.get("short"),) if f.metadata.get("short") else ()
            kwargs: dict[str, Any] = {"help": f.metadata.get("help", ""), "show_default": True}
            if tp is bool:
                decl = f"{name}/--no-{name[2:]}"
                fn = click.option(decl, f.name, default=default, **kwargs)(fn)
                continue
            if get_origin(tp) is Literal:
                kwargs["type"] = click.Choice([str(a) for a in get_args(tp)])
            elif get_origin(tp) is list:
                kwargs.update(multiple=True, default=tuple(default))
                fn = click.option(name, f.name, **kwargs)(fn)
                continue
            elif get_origin(tp) is dict or dataclasses.is_dataclass(tp):
                continue  # only from a config file
            elif tp in (int, float, str):
                kwargs["type"] = tp
            elif tp is Path:
                kwargs["type"] = click.Path(path_type=Path)
            fn = click.option(name, *short, f.name, default=default, **kwargs)(fn)
        return fn

    return decorate


def from_flags(cls: type[T], flags: dict[str, Any], where: str = "options") -> T:
    """Build ``cls`` from click's keyword arguments (tuples become lists)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    data = {k: list(v) if isinstance(v, tuple) else v for k, v in flags.items() if k in names}
    return from_dict(cls, data, where=where)


def parse_tokens(text: str | int | float) -> int:
    """``"300M"``, ``"1.5B"``, ``"1e9"`` or ``2000`` -> a token count.

    Raises `ConfigError` for anything else.

    Examples
    --------
    >>> parse_tokens("1.5B"), parse_tokens("300k"), parse_tokens("1e6")
    (1500000000, 300000, 1000000)
    """
    if isinstance(text, int | float):
        return int(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmbgt]?)\s*", str(text).lower())
    if not m:
        msg = f"token count {text!r} is not a number like 2000, 1e9, 300M or 1.5B"
        raise ConfigError(msg)
    return round(float(m.group(1)) * _SUFFIX[m.group(2)])
