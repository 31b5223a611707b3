"""The Mix: domain weights, a token budget, per-domain epoch caps, a seed, provenance.

Every strategy returns one; exports and probes take one. It round-trips through YAML and
JSON (``Mix.load`` / ``Mix.save``), so a mix can be written by hand, reviewed, versioned.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..rundir import atomic_path


@dataclass
class Mix:
    """Domain -> weight (normalized to sum 1), a token budget and how it may be met.

    Examples
    --------
    >>> Mix({"code": 3, "web": 1}, budget_tokens=1000).weights
    {'code': 0.75, 'web': 0.25}
    """

    weights: dict[str, float]
    budget_tokens: int = 0
    epoch_cap: float | dict[str, float] = 4.0
    seed: int = 0
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        w = {str(k): float(v) for k, v in self.weights.items()}
        bad = {k: v for k, v in w.items() if not math.isfinite(v) or v < 0}
        if bad or not w or sum(w.values()) <= 0:
            msg = f"mix weights must be finite, >= 0 and not all zero; got {self.weights}"
            raise ConfigError(msg)
        total = sum(w.values())
        # normalized weights are kept as they are, so save -> load round-trips exactly
        scale = 1.0 if abs(total - 1.0) < 1e-12 else total
        self.weights = {k: v / scale for k, v in sorted(w.items())}
        if self.budget_tokens < 0:
            msg = f"budget_tokens must be >= 0, got {self.budget_tokens}"
            raise ConfigError(msg)

    def cap(self, domain: str) -> float:
        """The epoch cap of ``domain`` (how many times its tokens may be repeated)."""
        if isinstance(self.epoch_cap, dict):
            return float(self.epoch_cap.get(domain, math.inf))
        return float(self.epoch_cap)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "mix") -> Mix:
        known = {"weights", "budget_tokens", "epoch_cap", "seed", "provenance"}
        unknown = sorted(set(data) - known)
        if unknown:
            msg = f"unknown key {unknown[0]!r} in {where}; known keys: {sorted(known)}"
            raise ConfigError(msg)
        if "weights" not in data:
            msg = f"{where} has no 'weights' (domain -> weight)"
            raise ConfigError(msg)
        return cls(**data)

    def save(self, path: str | Path) -> Path:
        """Write as YAML (``.yaml``/``.yml``) or JSON, atomically."""
        path = Path(path)
        text = (yaml.safe_dump(self.to_dict(), sort_keys=False)
                if path.suffix in (".yaml", ".yml")
                else json.dumps(self.to_dict(), indent=2) + "\n")
        with atomic_path(path) as tmp:
            tmp.write_text(text)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Mix:
        path = Path(path)
        if not path.exists():
            msg = f"mix file {path} does not exist"
            raise ConfigError(msg)
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            msg = f"mix file {path}: not valid YAML: {e}"
            raise ConfigError(msg) from e
        if not isinstance(data, dict):
            msg = f"{path}: a mix file is a mapping with 'weights'"
            raise ConfigError(msg)
        return cls.from_dict(data, where=str(path))
