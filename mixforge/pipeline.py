"""`mixforge run pipeline.yaml`: the whole loop from one config file.

A pipeline file has one section per stage, each the same config dataclass the stage's
command builds from its flags; a missing optional section skips that stage. Everything
is validated (unknown keys, wrong types, missing inputs) before any work starts; reruns
resume stage by stage, shard by shard, through the run directory's markers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import yaml

from .config import from_dict, opt, to_dict
from .errors import ConfigError
from .executor import Executor, get_executor
from .ingest import IngestConfig, ingest, plan_ingest

log = logging.getLogger(__name__)


@dataclass
class PipelineConfig:
    """A whole run: where it goes, how it executes, and one section per stage."""

    run_dir: str = opt("runs/pipeline", "The run directory (relative paths: to the config "
                       "file's folder).")
    executor: Literal["local", "ray"] = opt("local", "Where shards run: local or ray.")
    workers: int | None = opt(None, "Worker processes / Ray CPUs (default: all cores).")
    ray_address: str | None = opt(None, "An existing Ray cluster (default: start one).")
    ingest: IngestConfig | None = opt(None, "Sources -> document table (`mixforge ingest`).")
    report: bool = opt(True, "Write <run_dir>/report.html at the end.")

    def validate(self) -> None:
        if self.ingest is None or not self.ingest.inputs:
            msg = "the pipeline needs an 'ingest' section with 'inputs'"
            raise ConfigError(msg)


@dataclass
class Step:
    """One stage of the pipeline: its section name and how to plan and run it."""

    name: str
    count: Callable[[Any, Path], int]  # how many shards (for the progress bar)
    run: Callable[[Any, Path, Executor, Callable], Any]


STEPS = [
    Step("ingest", lambda c, r: len(plan_ingest(c, r)),
         lambda c, r, ex, cb: ingest(c, r, ex, cb)),
]


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
    if not Path(cfg.run_dir).is_absolute():
        cfg.run_dir = str(base / cfg.run_dir)
    cfg.ingest.inputs = [i if i.startswith("hf:") or Path(i).is_absolute() else str(base / i)
                         for i in cfg.ingest.inputs]
    return cfg


def describe(cfg: PipelineConfig) -> str:
    """The resolved config as YAML, with the stages that will run."""
    sections = [f.name for f in fields(cfg) if f.name in {s.name for s in STEPS}]
    active = [s for s in sections if getattr(cfg, s) is not None]
    head = f"# stages: {' -> '.join(active)}\n"
    return head + yaml.safe_dump(to_dict(cfg), sort_keys=False)


def run_pipeline(cfg: PipelineConfig, bar: Callable[[str, int], Any] | None = None) -> dict:
    """Run every configured stage in order; return {stage: its result}."""
    run_dir = Path(cfg.run_dir)
    executor = get_executor(cfg.executor, cfg.workers, cfg.ray_address)
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
    if cfg.report:
        from .report import build_report

        results["report"] = build_report(run_dir)
    return results
