"""`mixforge run pipeline.yaml`: the whole loop from one config file.

A pipeline file has one section per stage, each the same config dataclass the stage's
command builds from its flags; a missing optional section skips that stage. Everything
is validated (unknown keys, wrong types, missing inputs) before any work starts; reruns
resume stage by stage, shard by shard, through the run directory's markers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import yaml

from . import storage
from .config import from_dict, opt, to_dict
from .curate.dedup import ExactConfig, FuzzyConfig, dedup
from .curate.filter_stage import plan_filter, run_filter
from .curate.filters import FilterConfig
from .documents import input_stage
from .errors import ConfigError
from .executor import Executor, ExecutorConfig
from .ingest import IngestConfig, ingest, plan_ingest
from .layout import EXPORT, PIPELINE, export_dir, mix_file, probe_results, token_store
from .mixers.export_config import ExportConfig
from .mixers.strategies import DEFAULT_TAU
from .stats import stage_files
from .tokenize.stage import TokenizeConfig, tokenize
from .tokenize.train import TokenizerTrainConfig, train_tokenizer
from .train_probe.sweep import SweepConfig, run_sweep

log = logging.getLogger(__name__)


@dataclass
class MixSection:
    """The mix to export: a strategy over the token store (`mixforge mix plan`)."""

    strategy: Literal["natural", "uniform", "temperature", "unimax", "manual", "regmix",
                      "doremi"] = opt(
        "unimax", "How weights are chosen; regmix fits the probe sweep's results and "
        "proposes the mix with the lowest predicted held-out bpb; doremi reweights by a "
        "proxy probe's excess loss over a reference probe.")
    regressor: Literal["auto", "mixing_law", "linear", "gbm"] = opt(
        "auto", "regmix: the loss model (auto: the one that wins cross-validation).")
    kl: float = opt(0.05, "regmix: pull toward the prior (KL weight).")
    target: str | None = opt(None, "regmix: minimize this target's bpb: a domain or a "
                             "target of the 'targets' section (default: the mean).")
    budget_tokens: int = opt(0, "Total training tokens (0: every token once).")
    epoch_cap: float = opt(4.0, "Most times any domain may be repeated.")
    tau: float = opt(DEFAULT_TAU, "Temperature (strategy temperature).")
    weights: dict[str, float] = opt({}, "Weights (strategy manual).")
    seed: int = opt(0, "Sampling seed.")


@dataclass
class PipelineConfig(ExecutorConfig):
    """A whole run: how it executes (`ExecutorConfig`), where it goes, one section per stage."""

    run_dir: str = opt("runs/pipeline", "The run directory (relative paths: to the config "
                       "file's folder).")
    ingest: IngestConfig | None = opt(None, "Sources -> document table (`mixforge ingest`).")
    dedup_exact: ExactConfig | None = opt(None, "Exact dedup (`mixforge dedup exact`).")
    dedup_fuzzy: FuzzyConfig | None = opt(None, "MinHash-LSH dedup (`mixforge dedup fuzzy`).")
    filter: FilterConfig | None = opt(None, "Quality filters and language ID (`mixforge "
                                      "filter`).")
    tokenizer: TokenizerTrainConfig | None = opt(
        None, "Train a BPE on the curated documents (`mixforge tokenizer train`).")
    tokenize: TokenizeConfig | None = opt(None, "Documents -> token store.")
    targets: dict[str, str] = opt({}, "Evaluation sets from data, NAME: PATH (JSONL, "
                                  "parquet, a text folder or hf:NAME; relative paths: to "
                                  "the config file's folder): tokenized into "
                                  "<run_dir>/targets/NAME, scored by every probe, never "
                                  "trained on.")
    probe: SweepConfig | None = opt(None, "A probe sweep over sampled mixes (`mixforge probe "
                                    "sweep`); needed by mix strategy regmix.")
    mix: MixSection | None = opt(None, "The mix to export (needs tokenize).")
    export: list[ExportConfig] = opt([], "Exports of the mix (needs mix); `out` relative to "
                                     "the run directory (default: export/<format>).")
    report: bool = opt(True, "Write <run_dir>/report.html at the end.")

    def validate(self) -> None:
        if self.ingest is None or not self.ingest.inputs:
            msg = "the pipeline needs an 'ingest' section with 'inputs'"
            raise ConfigError(msg)
        if self.mix is not None and self.tokenize is None:
            msg = "the 'mix' section needs a 'tokenize' section"
            raise ConfigError(msg)
        if self.mix is not None and self.mix.strategy == "regmix" and self.probe is None:
            msg = "mix strategy 'regmix' needs a 'probe' section (the sweep it fits)"
            raise ConfigError(msg)
        if self.targets and self.probe is None and not (self.filter and
                                                        self.filter.quality.target):
            msg = ("the 'targets' section needs a 'probe' section (the sweep that scores "
                   "them) or a filter quality target naming one")
            raise ConfigError(msg)
        if self.export and self.mix is None:
            msg = "'export' needs a 'mix' section (which mix to export)"
            raise ConfigError(msg)


@dataclass
class StageRunner:
    """How the pipeline runs one stage: its section name, its shard count, its run."""

    name: str
    count: Callable[[Any, Path], int]  # how many shards (for the progress bar)
    run: Callable[[Any, Path, Executor, Callable], Any]


def _once(fn: Callable[[Any, Path], Any]) -> Callable[[Any, Path, Executor, Callable], Any]:
    """A step that is one piece of work (no shards): run it, then tick the bar once."""

    def run(section: Any, run_dir: Path, _ex: Executor, tick: Callable | None) -> Any:
        out = fn(section, run_dir)
        if tick:
            tick(0, out)
        return out

    return run


def _tick(result: Any, tick: Callable | None) -> Any:
    if tick:
        tick(0, result)
    return result


def run_mix(section: MixSection, run_dir: Path) -> Path:
    """Write ``<run>/mix/<strategy>.yaml`` from the token store; return its path."""
    from .mixers.strategies import make_mix, store_tokens
    from .tokenize.store import TokenStore

    store = TokenStore(token_store(run_dir))
    tokens = store_tokens(store)
    budget = section.budget_tokens or sum(tokens.values())
    if section.strategy == "doremi":
        from .mixers.doremi import DoReMiConfig, doremi

        mix, _ = doremi(store, DoReMiConfig(seed=section.seed))
        return mix.save(mix_file(run_dir, "doremi"))
    if section.strategy == "regmix":
        import polars as pl

        from .mixers.propose import load_sweep_info, propose_mix

        results = pl.read_parquet(probe_results(run_dir))
        info = load_sweep_info(probe_results(run_dir).parent, results)
        budget = section.budget_tokens or info.get("sweep_budget") or budget
        mix, fit = propose_mix(results, tokens, budget, section.epoch_cap, section.target,
                               section.regressor, section.kl, section.seed, sweep=info)
        for warning in fit["warnings"]:
            log.warning("mix (regmix): %s", warning)
        return mix.save(mix_file(run_dir, "regmix"))
    mix = make_mix(section.strategy, tokens, section.budget_tokens or sum(tokens.values()),
                   epoch_cap=section.epoch_cap, seed=section.seed, tau=section.tau,
                   weights=section.weights or None)
    return mix.save(mix_file(run_dir, section.strategy))


def run_exports(sections: list[ExportConfig], run_dir: Path, mix_path: Path) -> list:
    """Export the mix in every configured format; an export of the same mix is kept."""
    from dataclasses import replace

    from .export import MANIFEST, export
    from .mixers.mix import Mix
    from .tokenize.store import TokenStore

    store, mix, out = TokenStore(token_store(run_dir)), Mix.load(mix_path), []
    for s in sections:
        dest = Path(s.out)
        dest = export_dir(run_dir, s.format) if dest == Path(EXPORT) else run_dir / dest
        done = dest / MANIFEST
        if done.exists() and json.loads(done.read_text())["plan"]["mix"] == mix.to_dict():
            out.append(json.loads(done.read_text()))  # same mix, same seed: same bytes
            continue
        report = export(store, mix, replace(s, out=dest, overwrite=True))
        out.append(report.manifest)
    return out


def _input_shards(stage: str) -> Callable[[Any, Path], int]:
    """Shards of the document stage ``stage`` reads (its progress bar's length)."""

    def count(section: Any, run_dir: Path) -> int:
        return len(stage_files(run_dir / input_stage(run_dir, stage, section.input_stage)))

    return count


_RUNNERS = [
    StageRunner("ingest", lambda c, r: len(plan_ingest(c, r)),
                lambda c, r, ex, cb: ingest(c, r, ex, cb)),
    StageRunner("dedup_exact", _input_shards("dedup_exact"),
                lambda c, r, ex, cb: dedup(c, r, ex, cb)),
    StageRunner("dedup_fuzzy", _input_shards("dedup_fuzzy"),
                lambda c, r, ex, cb: dedup(c, r, ex, cb)),
    StageRunner("filter", lambda c, r: len(plan_filter(c, r)[1]),
                lambda c, r, ex, cb: run_filter(c, r, ex, cb)),
    StageRunner("tokenizer", lambda c, r: 1, _once(lambda c, r: train_tokenizer(r, c))),
    StageRunner("tokenize", _input_shards("tokenize"),
                lambda c, r, ex, cb: tokenize(c, r, ex, cb)[0]),
    StageRunner("probe", lambda c, r: 1,
                lambda c, r, ex, cb: _tick(run_sweep(c, r, ex), cb)),
    StageRunner("mix", lambda c, r: 1, _once(run_mix)),
]
_BY_NAME = {r.name: r for r in _RUNNERS}
#: The stages `run_pipeline` runs, in `mixforge.layout.PIPELINE` order (export, a list of
#: sections, runs after them: `run_exports`).
STEPS = [_BY_NAME[s.section] for s in PIPELINE if s.section in _BY_NAME]
if {s.section for s in PIPELINE} != {*_BY_NAME, "export"}:
    _msg = "mixforge.layout.PIPELINE and pipeline._RUNNERS name other stages"
    raise RuntimeError(_msg)


def load_pipeline(path: str | Path) -> PipelineConfig:
    """Read and validate a pipeline file; relative paths resolve against its folder."""
    path = Path(path)
    if not path.exists():
        msg = f"pipeline file {path} does not exist"
        raise ConfigError(msg)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        msg = f"{path}: not valid YAML: {e}"
        raise ConfigError(msg) from e
    cfg = from_dict(PipelineConfig, data, where=path.name)
    base = path.parent

    def resolve(p: str) -> str:  # hf: datasets and store URLs (s3://...) stay as written
        keep = p.startswith("hf:") or storage.split_url(p) or Path(p).is_absolute()
        return p if keep else str(base / p)

    cfg.run_dir = resolve(cfg.run_dir)
    cfg.ingest.inputs = [resolve(i) for i in cfg.ingest.inputs]
    cfg.targets = {n: resolve(p) for n, p in cfg.targets.items()}
    targets_into_probe(cfg)
    return cfg


def targets_into_probe(cfg: PipelineConfig) -> None:
    """Add the ``targets:`` section to the sweep's targets as ``NAME=PATH`` (idempotent):
    the sweep scores them; a filter quality target that names one gets its data."""
    if cfg.filter is not None:
        cfg.filter.quality.target = [
            f"{t}={cfg.targets[t]}" if t in cfg.targets else t for t in cfg.filter.quality.target]
    if cfg.probe is None:
        return
    specs = [f"{n}={p}" for n, p in sorted(cfg.targets.items())]
    cfg.probe.targets = [*cfg.probe.targets,
                         *(s for s in specs if s not in cfg.probe.targets)]


def describe(cfg: PipelineConfig) -> str:
    """The resolved config as YAML, with the stages that will run."""
    sections = [f.name for f in fields(cfg) if f.name in {s.name for s in STEPS}]
    active = [s for s in sections if getattr(cfg, s) is not None]
    active += ["export"] if cfg.export else []
    head = f"# stages: {' -> '.join(active)}\n"
    return head + yaml.safe_dump(to_dict(cfg), sort_keys=False)


def run_pipeline(cfg: PipelineConfig, bar: Callable[[str, int], Any] | None = None) -> dict:
    """Run every configured stage in order, holding the run directory's lock; return
    {stage: its result}. Raises `RunDirBusy` when another process writes the run."""
    from .rundir import run_lock

    if cfg.probe is not None:  # before any work, not after the curate stages
        storage.require_local(cfg.run_dir, "the probe section (probe sweep)")
    run_dir = storage.local(cfg.run_dir)  # a store URL: checked before any work, mirrored
    with run_lock(run_dir):
        return _run_pipeline(cfg, run_dir, bar)


def _run_pipeline(cfg: PipelineConfig, run_dir: Path,
                  bar: Callable[[str, int], Any] | None) -> dict:
    targets_into_probe(cfg)
    executor = cfg.make()
    results: dict[str, Any] = {}
    for step in STEPS:
        section = getattr(cfg, step.name, None)
        if section is None:
            continue
        if bar:
            with bar(step.name, step.count(section, run_dir)) as tick:
                results[step.name] = step.run(section, run_dir, executor, tick)
        else:
            results[step.name] = step.run(section, run_dir, executor, None)
    if cfg.export:
        results["export"] = run_exports(cfg.export, run_dir, results["mix"])
    if cfg.report:
        from .report import build_report

        results["report"] = build_report(run_dir)
    return results
