"""Do the probes' rankings of mixes hold at a larger scale? Sweeps at several scales and
the rank agreement between them.

A mix search trusts its small probes to rank mixes the way a larger model would. Olmix
(Chen et al. 2026) measured that this holds from about 15M-parameter probes (rank
correlation with 1B models ρ > 0.89) and not at 1M (ρ = 0.73); mixforge's default probes
are far smaller, so a user should check it on their own corpus:

1. ``probe sweep --scales small:depth=1,tokens=60k --scales large:depth=2,tokens=300k``
   trains the same mixes (same sampling seed, same probe seeds) at every scale, each scale
   in its own sweep folder ``OUT/scale-NAME``.
2. ``probe transfer OUT`` (or any two or more sweep folders) matches the mixes by their
   weights, averages each mix's objective over its seeds, and reports, for each scale
   against the largest: Spearman's ρ between the two rankings, a bootstrap 95% interval
   (mixes resampled with replacement, percentile interval), and the top-k agreement (the
   share of the k best mixes at one scale that are among the k best at the other).

The verdict compares the interval with a threshold (default 0.89, Olmix's figure): the
small scale is *trustworthy* when the whole interval is at or above it, *not
trustworthy* when the whole interval is below, and *uncertain* otherwise (more mixes
narrow the interval).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from ..errors import ConfigError
from .scales import Scale, parse_scales

log = logging.getLogger(__name__)

THRESHOLD = 0.89
THRESHOLD_SOURCE = ("Olmix (Chen et al. 2026): probe-to-1B rank correlation ρ > 0.89 from "
                    "~15M-parameter probes, ρ = 0.73 at 1M")
SCALE_DIR = "scale-"
def scaled_configs(cfg, run_dir: str | Path) -> list[tuple[Scale, object]]:
    """One sweep config per scale of ``cfg.scales`` (a ``SweepConfig``), each writing to
    ``OUT/scale-NAME`` and otherwise equal: the same mixes and probe seeds at every scale."""
    scales = parse_scales(cfg.scales)
    if len(scales) < 2:
        msg = "--scales needs at least two scales to compare, e.g. small:depth=1 large:depth=2"
        raise ConfigError(msg)
    out = cfg.out_dir(run_dir)
    configs = []
    for s in scales:
        sub = replace(cfg, out=str(out / f"{SCALE_DIR}{s.name}"), scales=[],
                      probe=replace(cfg.probe, **s.probe), train=replace(cfg.train, **s.train))
        sub.validate()
        configs.append((s, sub))
    return configs


def run_scaled_sweep(cfg, run_dir: str | Path, executor=None, on_tokens=None,
                     on_probes=None) -> dict[str, object]:
    """Run the sweep of ``cfg`` once per scale of ``cfg.scales``; return each scale's
    ``SweepReport`` by name (in the order given)."""
    from .sweep import run_sweep

    reports = {}
    for scale, sub in scaled_configs(cfg, run_dir):
        log.info("scale %s: probe %s, train %s", scale.name, scale.probe, scale.train)
        reports[scale.name] = run_sweep(sub, run_dir, executor, on_tokens, on_probes)
    return reports


def sweep_folders(paths: list[Path]) -> list[Path]:
    """Sweep folders (holding results.parquet) from the paths given: a sweep folder, or a
    folder of ``scale-*`` sweeps from ``--scales``."""
    found: list[Path] = []
    for p in paths:
        if (p / "results.parquet").exists():
            found.append(p)
        else:
            subs = sorted(q for q in p.glob(f"{SCALE_DIR}*") if (q / "results.parquet").exists())
            if not subs:
                msg = (f"{p} holds no probe sweep (results.parquet) and no {SCALE_DIR}* "
                       f"sweeps: run `mixforge probe sweep --scales ...` first")
                raise ConfigError(msg)
            found += subs
    if len(found) < 2:
        msg = f"need two or more sweeps to compare, found {[str(f) for f in found]}"
        raise ConfigError(msg)
    return found


def mix_objective(results: pl.DataFrame, metric: str = "bpb:avg") -> dict[tuple, float]:
    """Each mix's ``metric`` averaged over its seeds, keyed by its weights (rounded to 6
    decimals, domains by name), so the same mix matches across sweeps."""
    if metric not in results.columns:
        have = sorted(c for c in results.columns if c.startswith("bpb:"))
        msg = f"the probe results have no column {metric!r}; choose one of {have}"
        raise ConfigError(msg)
    wcols = sorted(c for c in results.columns if c.startswith("w:"))
    sums: dict[tuple, list[float]] = {}
    for row in results.select([*wcols, metric]).iter_rows():
        key = tuple((c, round(float(x), 6)) for c, x in zip(wcols, row[:-1], strict=True))
        sums.setdefault(key, []).append(float(row[-1]))
    return {k: float(np.mean(v)) for k, v in sums.items()}


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from ..mixers.regression import spearman

    return spearman(a, b)


@dataclass
class Transfer:
    """Rank agreement of one scale with a reference scale over the same mixes."""

    scale: str
    reference: str
    n_mixes: int
    spearman: float
    ci_low: float
    ci_high: float
    top_k: int
    top_k_agreement: float
    threshold: float
    verdict: str

    def line(self) -> str:
        """The verdict as one sentence, with the threshold and its source."""
        return (f"{self.scale} vs {self.reference}: Spearman {self.spearman:.3f} (95% CI "
                f"{self.ci_low:.3f} to {self.ci_high:.3f}, {self.n_mixes} mixes), top-"
                f"{self.top_k} agreement {self.top_k_agreement:.0%} -> {self.verdict} "
                f"(threshold ρ ≥ {self.threshold}: {THRESHOLD_SOURCE})")


def rank_transfer(small: dict[tuple, float], large: dict[tuple, float], top_k: int = 0,
                  n_boot: int = 2000, seed: int = 0, threshold: float = THRESHOLD,
                  names: tuple[str, str] = ("small", "large")) -> Transfer:
    """Spearman and top-k agreement of the rankings of the mixes both dicts score (lower
    is better), with a bootstrap 95% interval over mixes.

    ``top_k`` 0 takes a quarter of the mixes (at least 1). Raises ``ConfigError`` when
    fewer than 4 mixes are shared.
    """
    keys = sorted(set(small) & set(large))
    n = len(keys)
    if n < 4:
        msg = (f"only {n} mixes were probed at both scales ({names[0]}, {names[1]}); "
               f"a rank correlation needs at least 4 (sweep the same mixes at each scale)")
        raise ConfigError(msg)
    a = np.array([small[k] for k in keys])
    b = np.array([large[k] for k in keys])
    rho = _spearman(a, b)
    rng = np.random.default_rng(seed)
    boot = np.array([_spearman(a[i], b[i]) for i in rng.integers(0, n, (n_boot, n))])
    lo, hi = (float(x) for x in np.percentile(boot, [2.5, 97.5]))
    k = top_k or max(1, n // 4)
    k = min(k, n)
    agree = len(set(np.argsort(a, kind="stable")[:k]) & set(np.argsort(b, kind="stable")[:k]))
    if lo >= threshold:
        verdict = "trustworthy: the small scale ranks mixes as the larger one does"
    elif hi < threshold:
        verdict = ("NOT trustworthy: the rankings disagree; use larger probes, or more "
                   "tokens per probe")
    else:
        verdict = ("uncertain: the interval spans the threshold; probe more mixes at "
                   "both scales")
    return Transfer(names[0], names[1], n, rho, lo, hi, k, agree / k, threshold, verdict)


def _name(folder: Path) -> str:
    return folder.name.removeprefix(SCALE_DIR)


def transfer_report(folders: list[Path], metric: str = "bpb:avg", top_k: int = 0,
                    n_boot: int = 2000, seed: int = 0, threshold: float = THRESHOLD
                    ) -> tuple[pl.DataFrame, list[Transfer]]:
    """Compare every sweep with the one of the largest probes (parameters x tokens).

    Returns a table with one row per sweep (probes, parameters, tokens per probe, mixes)
    and one ``Transfer`` per smaller sweep against the largest.
    """
    rows, scores = [], {}
    for f in folders:
        df = pl.read_parquet(f / "results.parquet")
        if df.is_empty():
            msg = f"{f / 'results.parquet'} has no probes"
            raise ConfigError(msg)
        scores[f] = mix_objective(df, metric)
        params = int(df["params"][0]) if "params" in df.columns else 0
        tokens = int(df["tokens"][0]) if "tokens" in df.columns else 0
        rows.append({"sweep": _name(f), "path": str(f), "probes": len(df),
                     "mixes": len(scores[f]), "params": params, "tokens_per_probe": tokens,
                     f"best {metric}": round(min(scores[f].values()), 4)})
    table = pl.DataFrame(rows)
    ref = max(folders, key=lambda f: (table.filter(pl.col("path") == str(f))["params"][0]
                                      * table.filter(pl.col("path") == str(f))
                                      ["tokens_per_probe"][0], str(f)))
    out = [rank_transfer(scores[f], scores[ref], top_k, n_boot, seed, threshold,
                         (_name(f), _name(ref))) for f in folders if f != ref]
    return table.drop("path"), out
