"""What every command shares: click settings, the run options, the stats printout."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import click

from ..config import click_options, from_flags
from ..executor import Executor, ExecutorConfig

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_EXECUTOR_FIELDS = ("executor", "workers", "ray_address")


@dataclass
class RunOptions:
    """The run directory and where its shards run (``--run-dir`` + `ExecutorConfig`)."""

    run_dir: Path
    executor_config: ExecutorConfig

    def executor(self, default_workers: int | None = None) -> Executor:
        """The executor the options name; ``--ray-address`` goes through to it."""
        return self.executor_config.make(default_workers)


def run_options(fn=None, *, run_dir_help: str = "The run directory (a path, or a store "
                "URL such as s3://bucket/run); each stage writes a sub-folder."):
    """Add ``--run-dir/-r`` and the `ExecutorConfig` flags; the command gets ``run`` and
    runs holding the run directory's lock (`mixforge.rundir.run_lock`: one writer)."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            from ..rundir import run_lock
            from ..storage import local

            exec_cfg = from_flags(ExecutorConfig,
                                  {k: kwargs.pop(k) for k in _EXECUTOR_FIELDS})
            run_dir = local(kwargs.pop("run_dir"))  # a store URL: its local mirror
            with run_lock(run_dir):
                return fn(*args, run=RunOptions(run_dir, exec_cfg), **kwargs)

        wrapped = click_options(ExecutorConfig)(wrapper)
        return click.option("--run-dir", "-r", type=click.Path(path_type=Path),
                            required=True, help=run_dir_help)(wrapped)

    return decorate(fn) if fn is not None else decorate


def print_stats(run_dir: Path, stage: str | None = None) -> None:
    """Echo the per-domain document stats of ``stage`` (default: every stage)."""
    from ..progress import table
    from ..stats import run_stats

    for name, df in run_stats(run_dir, stage).items():
        click.echo(table(df, f"[{name}]"))


def store_options(fn):
    """``--store/-s`` or ``--run-dir/-r``: which token store a command reads."""
    fn = click.option("--run-dir", "-r", type=click.Path(path_type=Path), default=None,
                      help="A run directory; its token store is RUN_DIR/tokenize.")(fn)
    return click.option("--store", "-s", type=click.Path(path_type=Path), default=None,
                        help="The token store folder (holds store.json).")(fn)


def store_path(store: Path | None, run_dir: Path | None) -> Path:
    """The token store `store_options` name; a `ConfigError` when neither is given."""
    from ..errors import ConfigError
    from ..layout import token_store
    from ..storage import local

    if store is None and run_dir is None:
        msg = "name the token store: --store PATH, or --run-dir RUN (uses RUN/tokenize)"
        raise ConfigError(msg)
    return local(store) if store is not None else token_store(local(run_dir))


def probes_option(fn):
    """``--probes/-p``: a probe sweep's folder (or its results.parquet)."""
    return click.option("--probes", "-p", type=click.Path(path_type=Path), default=None,
                        help="The probe sweep's folder (or its results.parquet), e.g. a "
                        "sweep written with --out (default: RUN_DIR/probes).")(fn)


def probes_folder(run_dir: Path | None, probes: Path | None) -> Path:
    """The sweep folder `probes_option` names, else RUN_DIR/probes."""
    from ..errors import ConfigError
    from ..layout import probe_results as results_path

    if probes is not None:
        return probes.parent if probes.suffix == ".parquet" else probes
    if run_dir is None:
        msg = "name the probe sweep: --probes PATH (a sweep folder), or --run-dir RUN"
        raise ConfigError(msg)
    return results_path(run_dir).parent


def probe_results(folder: Path):
    """The results table of the sweep in ``folder`` (a `ConfigError` if it has none)."""
    import polars as pl

    from ..errors import ConfigError
    from ..layout import PROBE_RESULTS

    path = folder / PROBE_RESULTS
    if not path.exists():
        msg = (f"{path} does not exist: run `mixforge probe sweep` first (with --out "
               f"{folder} if it is not RUN_DIR/probes), or point --probes at its folder")
        raise ConfigError(msg)
    return pl.read_parquet(path)
