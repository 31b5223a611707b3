"""Probe scales of a sweep (`probe sweep --scales`): ``NAME:KEY=VALUE,...`` specs parsed
into the probe-shape and training settings each scale changes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..config import parse_tokens
from ..errors import ConfigError

_PROBE_KEYS = {"depth", "aspect", "head_dim", "mlp_ratio", "seq_len"}
_TRAIN_KEYS = {"tokens", "batch_size", "lr"}


@dataclass(frozen=True)
class Scale:
    """One probe scale of a sweep: a name and the probe/training settings it changes."""

    name: str
    probe: dict[str, int]
    train: dict[str, float]


def _number(text: str, key: str, spec: str) -> float:
    """``lr`` as a float (``3e-3``); every other key a count (`config.parse_tokens`: 60k)."""
    try:
        return float(text) if key == "lr" else parse_tokens(text)
    except (ValueError, ConfigError):
        msg = f"scale {spec!r}: {key}={text!r} is not a number like 2, 3e-3, 60k or 1.5M"
        raise ConfigError(msg) from None


def parse_scales(specs: list[str]) -> list[Scale]:
    """``["small:depth=1,tokens=60k", "large:depth=2,tokens=300k"]`` -> scales.

    Keys: depth, aspect, head_dim, mlp_ratio, seq_len (the probe's shape), tokens,
    batch_size, lr (its training); anything not named keeps the sweep's own setting.
    """
    out, names = [], set()
    for spec in specs:
        name, sep, body = spec.partition(":")
        name = name.strip()
        if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or not body.strip():
            msg = (f"scale {spec!r}: write NAME:KEY=VALUE,KEY=VALUE (e.g. "
                   f"small:depth=1,tokens=60k), NAME of letters, digits, _ . -")
            raise ConfigError(msg)
        if name in names:
            msg = f"scale name {name!r} is given twice"
            raise ConfigError(msg)
        names.add(name)
        probe: dict[str, int] = {}
        train: dict[str, float] = {}
        for part in body.split(","):
            key, eq, val = part.partition("=")
            key = key.strip().replace("-", "_")
            if not eq or key not in _PROBE_KEYS | _TRAIN_KEYS:
                msg = (f"scale {spec!r}: {part!r} is not KEY=VALUE with KEY one of "
                       f"{sorted(_PROBE_KEYS | _TRAIN_KEYS)} (one scale per --scales: "
                       "repeat the flag for the next scale)")
                raise ConfigError(msg)
            x = _number(val, key, spec)
            if key in _PROBE_KEYS:
                probe[key] = int(x)
            else:
                train[key] = x if key == "lr" else int(x)
        out.append(Scale(name, probe, train))
    return out
