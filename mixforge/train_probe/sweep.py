"""Probe sweeps: N probes over N mixes, batched K at a time, resumable by probe.

A sweep folder (``<run>/probes/`` by default) holds::

    sweep.json       the resolved config of the last run
    heldout.json     the held-out documents per domain (chosen once, reused on resume)
    results.jsonl    one row per finished probe, appended as each batch finishes
    curves.jsonl     per probe: held-out metrics at each eval point, training losses
    results.parquet  the table of the current plan's probes (rewritten at the end)

Targets: ``--target NAME=DOMAIN,...`` scores a weighted set of domains; ``--target
NAME=PATH`` an evaluation set from data, tokenized once into ``<run>/targets/NAME``
(tokenize/targets.py) and scored by every probe (``bpb:NAME``), never trained on.

Each probe has a key: a hash of the model and training config, the held-out rule, the
target sets, the token store's ``store.json``, its mix weights and its seed. A rerun
skips every probe whose id and key already sit in ``results.jsonl``; an interrupted batch
left no rows and runs again. A torn last line (a kill mid-write) is skipped with a warning,
and that probe runs again.

Mixes come from files (``Mix`` YAML/JSON, or folders of them) or from a seeded Dirichlet
as in RegMix (alpha = concentration x n_domains x prior share, the prior being the
natural token shares or uniform): probe i's mix depends only on (seed, i), so growing
``n_probes`` keeps the earlier probes and their results.

Parallelism: probes are grouped K at a time into one batched model (train.py); with more
than one worker, groups run in a process pool with ``cores / workers`` torch threads each.
On a small CPU one worker and larger K is usually the better use of the cores (see
docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from .. import storage
from ..config import config_hash, opt, to_dict
from ..errors import ConfigError
from ..executor import Executor, LocalExecutor
from ..layout import PROBE_RESULTS, PROBES, token_store
from ..mixers.mix import Mix
from ..mixers.sampling import dirichlet_around, sample_mixes
from ..rundir import atomic_path, write_json
from ..tokenize.store import STORE_JSON, TokenStore
from .data import HeldOut, HeldOutOptions, target_windows
from .heldout import check_targets
from .model import ProbeConfig
from .train import TrainConfig, train_probes

log = logging.getLogger(__name__)
STAGE = PROBES
RESULTS, CURVES, HELDOUT = "results.jsonl", "curves.jsonl", "heldout.json"


_MIXES_HELP = ("Mix files (YAML/JSON) or folders of them, one probe set per mix; without "
               "them, mixes are sampled (see --strategy).")
_TARGETS_HELP = ("Named targets: NAME=DOMAIN[:W],DOMAIN[:W] (a weighted set of domains, "
                 "e.g. code=python_code,python_docs) or NAME=PATH (an evaluation set from "
                 "data: JSONL, parquet, a text folder or hf:NAME, tokenized into "
                 "RUN/targets/NAME and never trained on); avg is always there.")


@dataclass
class SweepConfig(HeldOutOptions):
    """Options of `mixforge probe sweep` (and the `probe` section of a pipeline config)."""

    store: str | None = opt(None, "The token store folder (default: <run>/tokenize).")
    out: str | None = opt(None, "The sweep folder (default: <run>/probes).")
    mixes: list[str] = opt([], _MIXES_HELP, flag="--mix")
    strategy: Literal["dirichlet", "regmix"] = opt(
        "regmix", "How to sample mixes when no mix file is given: regmix (prior tokens^0.5, "
        "Dirichlet over a range of strengths, capped at the final budget, small weights "
        "zeroed, deduplicated) or a plain seeded dirichlet around --prior.")
    final_budget: int = opt(0, "The final run's training budget in tokens: regmix "
                            "sampling keeps every mix within epoch_cap at it, and `mix "
                            "propose` proposes for it (0: every token of the store once).",
                            flag="--budget")
    epoch_cap: float = opt(4.0, "regmix: most epochs of any domain at the final budget.")
    n_probes: int = opt(16, "How many mixes to sample (without --mix).")
    prior: Literal["natural", "uniform"] = opt(
        "natural", "Dirichlet centre: the store's token shares, or equal shares.")
    concentration: float = opt(1.0, "Dirichlet concentration per domain (smaller: "
                               "sparser, more extreme mixes).")
    seeds_per_mix: int = opt(1, "Probes per mix, with different seeds.")
    seed: int = opt(0, "Seed of the sweep: sampled mixes, probe seeds, held-out split.")
    k: int = opt(8, "Probes trained together as one batched model.")
    targets: list[str] = opt([], _TARGETS_HELP, flag="--target")
    scales: list[str] = opt([], "Sweep the same mixes at each of these probe scales, one "
                            "--scales NAME:KEY=VALUE,... per scale (repeat the flag; keys: "
                            "depth, aspect, head_dim, mlp_ratio, seq_len, tokens, "
                            "batch_size, lr), each into OUT/scale-NAME; then `probe "
                            "transfer OUT` checks the rankings agree.")
    probe: ProbeConfig = field(default_factory=ProbeConfig,
                               metadata={"help": "The probe model's shape."})
    train: TrainConfig = field(default_factory=TrainConfig,
                               metadata={"help": "How each probe is trained."})

    def validate(self) -> None:
        if self.n_probes < 1 or self.seeds_per_mix < 1 or self.k < 1:
            msg = "n_probes, seeds_per_mix and k must be >= 1"
            raise ConfigError(msg)
        if self.concentration <= 0:
            msg = f"concentration must be > 0, got {self.concentration}"
            raise ConfigError(msg)
        parse_targets(self.targets)
        if self.scales:
            from .scales import parse_scales

            parse_scales(self.scales)

    def store_dir(self, run_dir: str | Path) -> Path:
        return Path(self.store) if self.store else token_store(run_dir)

    def out_dir(self, run_dir: str | Path) -> Path:
        return Path(self.out) if self.out else Path(run_dir) / STAGE


def _split_spec(spec: str) -> tuple[str, str]:
    name, sep, body = spec.partition("=")
    if not sep or not name.strip() or not body.strip():
        msg = f"target {spec!r}: write NAME=DOMAIN[:WEIGHT],DOMAIN[:WEIGHT] or NAME=PATH"
        raise ConfigError(msg)
    return name.strip(), body.strip()


def data_targets(specs: list[str]) -> dict[str, str]:
    """The ``NAME=PATH`` targets among ``specs`` (see `tokenize.targets.is_data_spec`)."""
    from ..tokenize.targets import is_data_spec

    out = {}
    for spec in specs:
        name, body = _split_spec(spec)
        if is_data_spec(body):
            if name in out:
                msg = f"target {name!r} is given twice"
                raise ConfigError(msg)
            out[name] = body
    return out


def parse_targets(specs: list[str]) -> dict[str, dict[str, float]]:
    """``["code=python_code,python_docs:2"]`` -> ``{"code": {"python_code": 1, ...: 2}}``
    (the domain sets; ``NAME=PATH`` data targets are left to `data_targets`)."""
    from ..tokenize.targets import is_data_spec

    out: dict[str, dict[str, float]] = {}
    for spec in specs:
        name, body = _split_spec(spec)
        if is_data_spec(body):
            continue
        weights = {}
        for part in body.split(","):
            dom, _, w = part.partition(":")
            try:
                weights[dom.strip()] = float(w) if w else 1.0
            except ValueError:
                msg = f"target {spec!r}: weight {w!r} of {dom!r} is not a number"
                raise ConfigError(msg) from None
        out[name.strip()] = weights
    return out


@dataclass(frozen=True)
class ProbePlan:
    """One probe of a sweep: its id, mix, seed and key."""

    id: str
    mix: Mix
    seed: int
    source: str
    key: str


def dirichlet_mixes(store: TokenStore, n: int, seed: int, prior: str = "natural",
                    concentration: float = 1.0, start: int = 0) -> list[Mix]:
    """Mixes ``start .. start+n-1`` of a seeded Dirichlet over the store's domains."""
    domains = store.domains
    if prior == "natural":
        shares = np.array([store.info(d)["tokens"] for d in domains], dtype=np.float64)
        shares = shares / shares.sum()
    else:
        shares = np.full(len(domains), 1.0 / len(domains))
    out = []
    for i in range(start, start + n):
        w = dirichlet_around(shares, concentration, np.random.default_rng([seed, i, 0xD1]))
        out.append(Mix(dict(zip(domains, w.tolist(), strict=True)), seed=seed,
                       provenance={"strategy": "dirichlet", "prior": prior,
                                   "concentration": concentration, "index": i}))
    return out


def _mix_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(q for q in p.iterdir() if q.suffix in (".yaml", ".yml", ".json"))
        elif p.exists():
            files.append(p)
        else:
            msg = f"mix file {p} does not exist"
            raise ConfigError(msg)
    if not files:
        msg = f"no mix files (.yaml/.yml/.json) found in {paths}"
        raise ConfigError(msg)
    return files


def _store_hash(store: TokenStore) -> str:
    return hashlib.blake2b((store.path / STORE_JSON).read_bytes(), digest_size=8).hexdigest()


def plan_sweep(cfg: SweepConfig, store: TokenStore) -> list[ProbePlan]:
    """Every probe of the sweep, in order (validates mixes against the store)."""
    cfg.validate()
    targets = parse_targets(cfg.targets)
    check_targets(targets, store.domains)
    data = data_targets(cfg.targets)
    clash = sorted(set(data) & (set(store.domains) | set(targets) | {"avg"}))
    if clash:
        msg = (f"data target {clash[0]!r} has the name of a domain, of a target set or of "
               "'avg'; rename it")
        raise ConfigError(msg)
    from ..tokenize.targets import source_key

    if cfg.mixes:
        files = _mix_files(cfg.mixes)
        mixes = [Mix.load(f) for f in files]
        sources = [str(f) for f in files]
    elif cfg.strategy == "regmix":
        tokens = {d: store.info(d)["tokens"] for d in store.domains}
        budget = cfg.final_budget or sum(tokens.values())
        weights = sample_mixes(tokens, cfg.n_probes, budget, cfg.epoch_cap, cfg.seed)
        mixes = [Mix(w, seed=cfg.seed, provenance={"strategy": "regmix-sample", "index": i})
                 for i, w in enumerate(weights)]
        sources = [f"regmix:{cfg.seed}:{i}" for i in range(len(mixes))]
    else:
        mixes = dirichlet_mixes(store, cfg.n_probes, cfg.seed, cfg.prior, cfg.concentration)
        sources = [f"dirichlet:{cfg.seed}:{i}" for i in range(len(mixes))]
    for mix, src in zip(mixes, sources, strict=True):
        unknown = sorted(set(mix.weights) - set(store.domains))
        if unknown:
            msg = (f"mix {src} names domain {unknown[0]!r}, not in the token store "
                   f"{store.path}; it has {store.domains}")
            raise ConfigError(msg)
    train = {k: v for k, v in to_dict(cfg.train).items()
             if k not in ("device", "compile", "threads")
             and not (k == "precision" and v == "auto")}  # "auto": the keys of old sweeps
    base = config_hash(to_dict(cfg.probe), train, cfg.heldout_frac, cfg.heldout_tokens,
                       cfg.heldout_docs, cfg.seed, targets, _store_hash(store),
                       *([{n: source_key(src, store) for n, src in sorted(data.items())}]
                         if data else []))
    plans = []
    for i, (mix, src) in enumerate(zip(mixes, sources, strict=True)):
        for r in range(cfg.seeds_per_mix):
            seed = int(np.random.default_rng([cfg.seed, i, r, 0x5EED]).integers(2**31))
            pid = f"p{i:04d}" + (f"-s{r}" if cfg.seeds_per_mix > 1 else "")
            plans.append(ProbePlan(pid, mix, seed, src,
                                   config_hash(base, mix.weights, seed)))
    return plans


def read_results(path: Path) -> list[dict]:
    """The rows of a results.jsonl; a torn line (an interrupted write) is skipped."""
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            log.warning("%s: line %d is not complete JSON (an interrupted write?); its "
                        "probe will run again", path, n)
    return rows


def _repair(path: Path) -> None:
    """Drop torn lines (an interrupted append) from a JSON-lines file, atomically."""
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    good = [line for line in lines if _is_json(line)]
    if len(good) < len(lines) or (lines and not path.read_text().endswith("\n")):
        log.warning("%s: dropped %d incomplete line(s) (an interrupted write); their "
                    "probes run again", path, len(lines) - len(good))
        with atomic_path(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in good))


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _append(path: Path, rows: list[dict]) -> None:
    torn = path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n")
    with path.open("a") as f:
        if torn:  # end an interrupted line so it stays one bad line, skipped on read
            f.write("\n")
        f.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        f.flush()
        os.fsync(f.fileno())


def load_heldout(cfg: SweepConfig, store: TokenStore, out: Path) -> HeldOut:
    """The sweep's held-out split: read from ``heldout.json`` if it was made by the same
    rule on the same store, else chosen now and saved."""
    path = out / HELDOUT
    want = {"seed": cfg.seed, "frac": cfg.heldout_frac, "max_tokens": cfg.heldout_tokens,
            "min_docs": cfg.heldout_docs, "store": _store_hash(store)}
    if path.exists():
        data = json.loads(path.read_text())
        if {k: data.get(k) for k in want} == want:
            return HeldOut.from_dict(data)
        log.warning("%s was made by another rule or store; choosing the held-out set again",
                    path)
    held = cfg.split_heldout(store, cfg.seed)
    write_json(path, {**held.to_dict(), **want})
    return held


@dataclass(frozen=True)
class _Group:
    store: str
    heldout: HeldOut
    plans: tuple[ProbePlan, ...]
    probe: ProbeConfig
    train: TrainConfig
    targets: dict[str, dict[str, float]]
    data_targets: tuple[tuple[str, str], ...] = ()  # (name, evaluation-only store folder)


def _run_group(group: _Group, on_step: Callable[[int], None] | None = None
               ) -> tuple[list[dict], list[dict]]:
    """Train one batch of probes; return their result rows and curve rows."""
    store = TokenStore(group.store)
    probe = replace(group.probe, vocab_size=max(group.probe.vocab_size, store.vocab_size))
    extra = target_windows({n: TokenStore(p) for n, p in group.data_targets},
                           probe.seq_len, group.train.eval_tokens) if group.data_targets \
        else None
    start = time.perf_counter()
    runs = train_probes(store, group.heldout, [p.mix for p in group.plans],
                        [p.seed for p in group.plans], probe, group.train, group.targets,
                        on_step=on_step, extra_windows=extra)
    wall = time.perf_counter() - start
    device = str(group.train.resolve_device())
    rows, curves = [], []
    k = len(group.plans)
    for plan, run in zip(group.plans, runs, strict=True):
        rows.append({
            "probe": plan.id, "key": plan.key, "seed": plan.seed, "mix_source": plan.source,
            **{f"w:{d}": plan.mix.weights.get(d, 0.0) for d in store.domains},
            **run.metrics,
            "tokens": run.tokens, "params": probe.n_params, "depth": probe.depth,
            "seq_len": probe.seq_len, "max_epochs": max(run.epochs.values()),
            "wall_s": round(wall / k, 3), "group_size": k, "group_wall_s": round(wall, 3),
            "group_tokens_per_s": round(run.tokens * k / wall, 1), "device": device,
            "bpb_bytes": store.token_bytes_method,
        })
        curves.append({"probe": plan.id, "key": plan.key, "evals": run.curve,
                       "train_loss": run.train_loss,
                       "tokens_per_domain": run.tokens_per_domain})
    return rows, curves


def _run_group_job(group: _Group) -> tuple[list[dict], list[dict]]:
    return _run_group(group)


def pool_threads(threads: int, workers: int, n_groups: int,
                 cores: int | None = None) -> int:
    """torch threads per probe batch: ``threads`` if the user set it (> 0); else the
    cores shared among the batches that run at once, or 0 (torch's default: every core)
    when only one runs at a time.

    Batches run in a pool only when there are several workers *and* several batches; a
    single batch runs in this process, and giving it ``cores / workers`` threads left
    cores idle (70.6 s with ``--workers 2`` vs 47.8 s with ``--workers 1``, same results).
    """
    if threads > 0:
        return threads
    parallel = min(workers, n_groups)
    if parallel <= 1:
        return 0
    return max(1, (cores or os.cpu_count() or 1) // parallel)


@dataclass
class SweepReport:
    """What a sweep did: the results table of the plan, which probes ran and were skipped."""

    out: Path
    results: pl.DataFrame
    ran: list[str]
    skipped: list[str]


def run_sweep(cfg: SweepConfig, run_dir: str | Path, executor: Executor | None = None,
              on_tokens: Callable[[int], None] | None = None,
              on_probes: Callable[[int], None] | None = None) -> SweepReport:
    """Run the probes of ``cfg`` that are not finished yet; return the results table.

    ``on_tokens(n)`` is called as tokens are trained (per step with one worker, per batch
    of probes with a pool); ``on_probes(n)`` as probes finish.

    Examples
    --------
    >>> rep = run_sweep(SweepConfig(n_probes=8, k=8), "runs/r1")  # doctest: +SKIP
    >>> rep.results.select("probe", "bpb:avg")  # doctest: +SKIP
    """
    if cfg.scales:
        msg = ("scales: a sweep at several probe scales runs through `mixforge probe sweep "
               "--scales` or train_probe.transfer.run_scaled_sweep, one sweep per scale")
        raise ConfigError(msg)
    storage.require_local(run_dir, "probe sweep")
    executor = executor or LocalExecutor(1)
    store = TokenStore(cfg.store_dir(run_dir))
    plans = plan_sweep(cfg, store)
    out = cfg.out_dir(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "sweep.json", {"config": to_dict(cfg), "probes": len(plans),
                                    "store": str(store.path),
                                    "store_tokenizer": store.meta.get("tokenizer", {})
                                    .get("fingerprint")})
    heldout = load_heldout(cfg, store, out)
    _repair(out / RESULTS)
    _repair(out / CURVES)
    earlier = read_results(out / RESULTS)
    done = {(r.get("probe"), r.get("key")) for r in earlier}
    planned = {(p.id, p.key) for p in plans}
    other = {(r.get("probe"), r.get("key")) for r in earlier} - planned
    if other:
        log.warning("%s holds %d probe results of other sweep settings; results.parquet "
                    "will hold only this sweep's %d probes (the others stay in %s; use --out "
                    "to keep sweeps apart)", out, len(other), len(plans), RESULTS)
    todo = [p for p in plans if (p.id, p.key) not in done]
    skipped = [p.id for p in plans if (p.id, p.key) in done]
    if skipped:
        log.info("%d of %d probes already finished, skipping them", len(skipped), len(plans))
    targets = parse_targets(cfg.targets)
    from ..tokenize.targets import build_targets

    built = build_targets(data_targets(cfg.targets), store, run_dir)
    data = tuple((n, str(t.path)) for n, t in built.items())
    n_groups = -(-len(todo) // cfg.k)
    train = replace(cfg.train, threads=pool_threads(cfg.train.threads, executor.workers,
                                                    n_groups))
    groups = [_Group(str(store.path), heldout, tuple(todo[i:i + cfg.k]), cfg.probe, train,
                     targets, data) for i in range(0, len(todo), cfg.k)]

    def record(rows: list[dict], curves: list[dict]) -> None:
        _append(out / CURVES, curves)
        _append(out / RESULTS, rows)  # results last: a probe is done once its row is in
        if on_probes:
            on_probes(len(rows))

    if executor.workers == 1 or len(groups) <= 1:
        for g in groups:
            record(*_run_group(g, on_tokens))
    else:
        def on_result(_i: int, res: tuple[list[dict], list[dict]]) -> None:
            record(*res)
            if on_tokens:
                on_tokens(sum(r["tokens"] for r in res[0]))

        executor.map(_run_group_job, groups, on_result)
    results = results_table(out, plans)
    return SweepReport(out, results, [p.id for p in todo], skipped)


def results_table(out: Path, plans: list[ProbePlan]) -> pl.DataFrame:
    """The latest row of each planned probe (with its current key), in plan order; also
    written to ``results.parquet``."""
    latest = {(r["probe"], r["key"]): r for r in read_results(out / RESULTS)}
    rows = [latest[(p.id, p.key)] for p in plans if (p.id, p.key) in latest]
    df = pl.DataFrame(rows) if rows else pl.DataFrame({"probe": []}, schema={"probe": pl.Utf8})
    with atomic_path(out / PROBE_RESULTS) as tmp:
        df.write_parquet(tmp)
    return df


def summary_table(df: pl.DataFrame, rows: int = 20) -> str:
    """The best probes by average held-out bits per byte, as a text table."""
    from ..progress import table

    if df.is_empty():
        return "(no results)"
    wcols = [c for c in df.columns if c.startswith("w:")]
    bpb = [c for c in df.columns if c.startswith("bpb:") and c != "bpb:avg"]
    targets = [c for c in bpb if f"w:{c[4:]}" not in wcols]
    top = df.with_columns(pl.col("seed").cast(pl.Utf8), pl.Series("mix (top 3)", [
            " ".join(f"{c[2:]}={w:.2f}" for c, w in sorted(
                ((c, r[c]) for c in wcols), key=lambda cw: -cw[1])[:3])
            for r in df.iter_rows(named=True)]))
    cols = ["probe", "seed", "mix (top 3)", "bpb:avg", *targets, "tokens", "wall_s"]
    out = top.sort("bpb:avg").head(rows).select(cols).with_columns(
        pl.col("^bpb:.*$").round(4))
    return table(out, f"best {min(rows, len(df))} of {len(df)} probes by bpb:avg")
