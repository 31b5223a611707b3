"""Does a mix win? Train one model per (mix, seed) at a chosen scale and compare mixes
per target, with intervals over seeds (`mixforge mix evaluate`).

Every model reads the same held-out documents (and data targets), so figures are
comparable; seed ``r`` of every mix uses the same model seed (same initial weights), so
mixes are compared *paired by seed*: the difference of mix ``m`` to natural (and to
uniform) is taken seed by seed, then averaged.

Reported per mix and target (``bpb:<target>``: every domain, ``avg``, target sets and
data targets):

- ``mean`` bpb over seeds with a 95% confidence interval: ``mean ± t(0.975, n-1) ·
  sd / sqrt(n)`` (Student t over seeds; n = seeds);
- ``vs natural`` / ``vs uniform``: the mean paired difference (negative: the mix is
  better) with its 95% t-interval over seeds; an interval that excludes 0 is a
  difference the seeds support;
- ``tokens to natural``: how many training tokens the mix needs to reach natural's
  final bpb on that target (same seed), read off the evaluation curve logged during
  training (``evals`` points, linear between them), as a fraction of natural's tokens:
  0.7 = "learns as much from 70% of the tokens". Missing when the mix never gets there.

Outputs in the evaluation folder (``<run>/evaluate`` by default): ``results.jsonl``
(one row per model, appended as each batch finishes: a rerun skips finished models),
``curves.jsonl``, ``heldout.json``, ``mixes/`` (the mixes evaluated), and
``results.parquet``, ``curves.parquet``, ``summary.parquet`` (rewritten at the end).
Mixes are labelled by name (a strategy name or the mix file's stem), never by sort
order, so rows cannot swap.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from .. import storage
from ..config import config_hash, opt, to_dict
from ..errors import ConfigError
from ..rundir import atomic_path, write_json
from ..tokenize.store import TokenStore
from ..train_probe.data import HeldOutOptions, target_windows
from ..train_probe.heldout import check_targets
from ..train_probe.model import ProbeConfig
from ..train_probe.sweep import _append, data_targets, parse_targets, read_results
from ..train_probe.train import TrainConfig, train_probes
from .mix import Mix
from .strategies import make_mix, store_tokens

log = logging.getLogger(__name__)
STRATEGY_NAMES = ("natural", "uniform", "unimax", "temperature")
BASELINES = ("natural", "uniform")


@dataclass
class EvaluateConfig(HeldOutOptions):
    """Options of `mixforge mix evaluate`."""

    mixes: list[str] = opt(["natural", "uniform", "unimax"], "Mixes to compare: strategy "
                           "names (natural, uniform, unimax, temperature), mix files "
                           "(YAML/JSON), or LABEL=FILE. natural and uniform are always "
                           "added (the baselines).", flag="--mix")
    seeds: int = opt(3, "Models per mix, with different seeds (paired across mixes).")
    seed: int = opt(0, "Seed of the evaluation: model seeds and the held-out split.")
    budget: int = opt(0, "Token budget the strategies' epoch caps refer to (0: every "
                      "token of the store once).")
    epoch_cap: float = opt(4.0, "Strategies: most epochs of any domain at that budget.")
    k: int = opt(8, "Models trained together as one batched model.")
    targets: list[str] = opt([], "Targets: NAME=DOMAIN[:W],... or NAME=PATH (data, scored "
                             "and never trained on); avg and every domain are always "
                             "reported.", flag="--target")
    store: str | None = opt(None, "The token store folder (default: <run>/tokenize).")
    out: str | None = opt(None, "The evaluation folder (default: <run>/evaluate).")
    probe: ProbeConfig = field(default_factory=ProbeConfig,
                               metadata={"help": "The model's shape."})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={
        "help": "How each model is trained (more evals: a finer tokens-to-natural)."})

    def validate(self) -> None:
        if self.seeds < 1 or self.k < 1:
            msg = "seeds and k must be >= 1"
            raise ConfigError(msg)
        parse_targets(self.targets)


def resolve_mixes(specs: list[str], store: TokenStore, budget: int, epoch_cap: float,
                  seed: int = 0) -> dict[str, Mix]:
    """Label -> Mix for strategy names, mix files and ``LABEL=FILE``; natural and uniform
    first (added when missing). Raises ConfigError on an unknown name, a missing file, a
    domain the store lacks, or a label given twice."""
    tokens = store_tokens(store)
    budget = budget or sum(tokens.values())
    out: dict[str, Mix] = {}
    for spec in [*BASELINES, *[s for s in specs if s not in BASELINES]]:
        label, sep, path = spec.partition("=")
        if not sep:
            label, path = "", spec
        if path in STRATEGY_NAMES:
            mix = make_mix(path, tokens, budget, epoch_cap=epoch_cap, seed=seed)
            label = label or path
        else:
            p = Path(path)
            if not p.is_file():
                msg = (f"mix {spec!r} is neither a strategy ({', '.join(STRATEGY_NAMES)}) "
                       f"nor a mix file (no file {p})")
                raise ConfigError(msg)
            mix = Mix.load(p)
            label = label or p.stem
        unknown = sorted(set(mix.weights) - set(tokens))
        if unknown:
            msg = (f"mix {spec!r} names domain {unknown[0]!r}, not in the token store "
                   f"{store.path}; it has {sorted(tokens)}")
            raise ConfigError(msg)
        if label in out:
            msg = f"two mixes are labelled {label!r}; name one LABEL=FILE"
            raise ConfigError(msg)
        out[label] = mix
    return out


def model_seeds(seed: int, n: int) -> list[int]:
    """The model seed of replicate r = 0..n-1 (shared by every mix: paired)."""
    return [int(np.random.default_rng([seed, r, 0xE7A1]).integers(2**31)) for r in range(n)]


def t_interval(x: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high): the 95% Student-t interval of the mean (NaN bounds for n < 2)."""
    x = np.asarray(x, dtype=float)
    m = float(x.mean())
    if len(x) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


def tokens_to_reach(curve: list[dict], metric: str, level: float) -> float | None:
    """Training tokens at which ``curve`` (eval points with ``tokens`` and ``metric``)
    first reaches ``level`` or below, linear between eval points; None if never."""
    prev_t, prev_v = 0.0, None
    for point in curve:
        t, v = float(point["tokens"]), float(point[metric])
        if v <= level:
            if prev_v is None or prev_v == v:
                return t
            return prev_t + (t - prev_t) * (prev_v - level) / (prev_v - v)
        prev_t, prev_v = t, v
    return None


@dataclass
class Evaluation:
    """What `evaluate_mixes` produced: per-model rows, per-(mix, target) summary."""

    out: Path
    results: pl.DataFrame
    summary: pl.DataFrame
    targets: list[str]
    ran: int  # models trained (a mix equal to another is trained once)
    skipped: int  # models already in results.jsonl


def summarize(results: pl.DataFrame, curves: dict[tuple[str, int], list[dict]],
              labels: list[str], targets: list[str]) -> pl.DataFrame:
    """One row per (mix, target): mean bpb and 95% CI over seeds, paired differences to
    natural and uniform with 95% CIs, and tokens to natural's final bpb."""
    rows = []
    by = {(r["mix"], r["seed"]): r for r in results.iter_rows(named=True)}
    seeds = sorted({r["seed"] for r in results.iter_rows(named=True)})
    for target in targets:
        col = f"bpb:{target}"
        for label in labels:
            have = [s for s in seeds if (label, s) in by]
            x = np.array([by[(label, s)][col] for s in have])
            if not len(x):
                continue
            mean, lo, hi = t_interval(x)
            row = {"mix": label, "target": target, "seeds": len(x), "bpb": mean,
                   "bpb_lo": lo, "bpb_hi": hi}
            for base in BASELINES:
                pair = [s for s in have if (base, s) in by]
                d = np.array([by[(label, s)][col] - by[(base, s)][col] for s in pair])
                dm, dlo, dhi = t_interval(d) if len(d) else (float("nan"),) * 3
                row |= {f"vs_{base}": dm, f"vs_{base}_lo": dlo, f"vs_{base}_hi": dhi}
            reach = []
            for s in have:
                if ("natural", s) not in by or (label, s) not in curves:
                    continue
                nat_curve = curves[("natural", s)]
                t = tokens_to_reach(curves[(label, s)], col, by[("natural", s)][col])
                reach.append(np.nan if t is None else t / float(nat_curve[-1]["tokens"]))
            reach_arr = np.array(reach, dtype=float)
            row["tokens_to_natural"] = (float(np.mean(reach_arr)) if len(reach_arr)
                                        and np.isfinite(reach_arr).all() else None)
            row["reached_natural"] = int(np.isfinite(reach_arr).sum())
            rows.append(row)
    return pl.DataFrame(rows)


def evaluate_mixes(cfg: EvaluateConfig, run_dir: str | Path,
                   on_step: Callable[[int], None] | None = None) -> Evaluation:
    """Train ``cfg.seeds`` models per mix (batched ``cfg.k`` at a time, resumable) and
    summarize (see the module docstring).

    Examples
    --------
    >>> ev = evaluate_mixes(EvaluateConfig(mixes=["unimax", "r/mix/regmix.yaml"]),
    ...                     "r")  # doctest: +SKIP
    >>> ev.summary.filter(pl.col("target") == "avg")  # doctest: +SKIP
    """
    cfg.validate()
    storage.require_local(run_dir, "mix evaluate")
    run_dir = Path(run_dir)
    store = TokenStore(Path(cfg.store) if cfg.store else run_dir / "tokenize")
    out = Path(cfg.out) if cfg.out else run_dir / "evaluate"
    out.mkdir(parents=True, exist_ok=True)
    mixes = resolve_mixes(cfg.mixes, store, cfg.budget, cfg.epoch_cap, cfg.seed)
    for label, mix in mixes.items():
        mix.save(out / "mixes" / f"{label}.yaml")
    sets = parse_targets(cfg.targets)
    check_targets(sets, store.domains)
    from ..tokenize.targets import build_targets

    built = build_targets(data_targets(cfg.targets), store, run_dir)
    heldout = cfg.split_heldout(store, cfg.seed)
    write_json(out / "heldout.json", heldout.to_dict())
    write_json(out / "evaluate.json", {"config": to_dict(cfg), "mixes": list(mixes),
                                       "store": str(store.path)})
    probe = replace(cfg.probe, vocab_size=max(cfg.probe.vocab_size, store.vocab_size))
    train = {k: v for k, v in to_dict(cfg.train).items()
             if k not in ("device", "compile", "threads")}
    base = config_hash(to_dict(probe), train, to_dict(heldout), sets,
                       {n: t.meta.get("source_key") for n, t in built.items()},
                       store.meta.get("domains"))
    seeds = model_seeds(cfg.seed, cfg.seeds)
    plan = [(label, r, seeds[r], config_hash(base, mixes[label].weights, seeds[r]))
            for r in range(cfg.seeds) for label in mixes]
    done = {(r["mix"], r["key"]) for r in read_results(out / "results.jsonl")}
    todo = [p for p in plan if (p[0], p[3]) not in done]
    # mixes with equal weights (UniMax is uniform when no domain hits its cap) give the
    # same model for a seed: train each key once, record it under every label
    unique = list(dict.fromkeys(p[3] for p in todo))
    first = {p[3]: p for p in reversed(todo)}
    extra = target_windows(built, probe.seq_len, cfg.train.eval_tokens) if built else None
    for i in range(0, len(unique), cfg.k):
        group = [first[key] for key in unique[i:i + cfg.k]]
        runs = train_probes(store, heldout, [mixes[g[0]] for g in group],
                            [g[2] for g in group], probe, cfg.train, sets, on_step=on_step,
                            extra_windows=extra)
        by_key = {g[3]: run for g, run in zip(group, runs, strict=True)}
        rows, curves = [], []
        for label, r, seed, key in (p for p in todo if p[3] in by_key):
            run = by_key[key]
            rows.append({"mix": label, "replicate": r, "seed": seed, "key": key,
                         **{f"w:{d}": mixes[label].weights.get(d, 0.0)
                            for d in store.domains},
                         **run.metrics, "tokens": run.tokens, "params": probe.n_params,
                         "bpb_bytes": store.token_bytes_method})
            curves.append({"mix": label, "seed": seed, "key": key, "evals": run.curve})
        _append(out / "curves.jsonl", curves)
        _append(out / "results.jsonl", rows)
    if len(unique) < len(todo):
        log.info("%d of %d models share their mix and seed with another label; trained "
                 "once", len(todo) - len(unique), len(todo))
    latest = {(r["mix"], r["key"]): r for r in read_results(out / "results.jsonl")}
    res = pl.DataFrame([latest[(p[0], p[3])] for p in plan])
    curve_rows = {(c["mix"], c["key"]): c for c in read_results(out / "curves.jsonl")}
    curves = {(p[0], p[2]): curve_rows[(p[0], p[3])]["evals"] for p in plan
              if (p[0], p[3]) in curve_rows}
    targets = ["avg", *sorted(sets), *sorted(built), *store.domains]
    summary = summarize(res, curves, list(mixes), targets)
    with atomic_path(out / "results.parquet") as tmp:
        res.write_parquet(tmp)
    with atomic_path(out / "summary.parquet") as tmp:
        summary.write_parquet(tmp)
    flat = [{"mix": m, "seed": s, **{k: v for k, v in pt.items()
                                     if k in ("step", "tokens") or k.startswith("bpb:")}}
            for (m, s), c in curves.items() for pt in c]
    with atomic_path(out / "curves.parquet") as tmp:
        pl.DataFrame(flat).write_parquet(tmp)
    return Evaluation(out, res, summary, targets, len(unique), len(plan) - len(todo))


def summary_table(summary: pl.DataFrame, targets: list[str] | None = None) -> pl.DataFrame:
    """The summary as display rows: ``bpb [lo, hi]``, differences with intervals."""
    def ci(m, lo, hi, sign=False):
        if m is None or (isinstance(m, float) and math.isnan(m)):
            return "-"
        f = "+.4f" if sign else ".4f"
        if lo is None or math.isnan(lo):
            return format(m, f)
        return f"{format(m, f)} [{format(lo, f)}, {format(hi, f)}]"

    rows = []
    for r in summary.iter_rows(named=True):
        if targets and r["target"] not in targets:
            continue
        ttn = r["tokens_to_natural"]
        rows.append({"target": r["target"], "mix": r["mix"],
                     "bpb [95% CI]": ci(r["bpb"], r["bpb_lo"], r["bpb_hi"]),
                     "vs natural": ci(r["vs_natural"], r["vs_natural_lo"],
                                      r["vs_natural_hi"], True),
                     "vs uniform": ci(r["vs_uniform"], r["vs_uniform_lo"],
                                      r["vs_uniform_hi"], True),
                     "tokens to natural": f"{ttn:.2f}" if ttn is not None else
                     f"not reached ({r['seeds'] - r['reached_natural']}/{r['seeds']})"})
    return pl.DataFrame(rows)
