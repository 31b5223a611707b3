"""The run directory's layout: every path inside a run, and the stages in pipeline order.

One place names every folder and file a run holds, so stages, the pipeline, stats, the
report and the command line agree (and a rename is one edit)::

    <run>/
      .mixforge.lock                               the writer's lock (pid, host, command)
      ingest/ dedup_exact/ dedup_fuzzy/ filter/   document stages: <shard>.parquet,
          _markers/<shard>.json, _stage.json,      rejects/<shard>.parquet (with reason),
          samples/<shard>.parquet + _all.parquet     (filter: drops sampled)
      tokenizer/tokenizer.json                     `mixforge tokenizer train`
      tokenize/store.json + <domain>/...           the token store
      probes/results.parquet                       the probe sweep
      mix/<strategy>.yaml                          mixes
      export/<format>/                             exports
      report.html

This module imports nothing from mixforge: everything may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MARKERS = "_markers"  # <stage>/_markers/<shard>.json: one completion marker per shard
LOCK = ".mixforge.lock"  # <run>/.mixforge.lock: the one process writing the run (rundir.run_lock)
STAGE_JSON = "_stage.json"  # <stage>/_stage.json: the stage's totals and config
REJECTS = "rejects"  # <stage>/rejects/<shard>.parquet: dropped documents with a reason
SAMPLES = "samples"  # <stage>/samples/<shard>.parquet: the first drops per domain and reason
# <stage>/samples/_all.parquet: those over all shards (inside samples/, so that a reader
# globbing <stage>/*.parquet gets the stage's documents and nothing else)
DROPPED_SAMPLES = f"{SAMPLES}/_all.parquet"
TOKENIZER = "tokenizer"
TOKENIZER_JSON = "tokenizer.json"
TOKEN_STORE = "tokenize"
STORE_JSON = "store.json"
PROBES = "probes"
PROBE_RESULTS = "results.parquet"
MIX = "mix"
EXPORT = "export"
REPORT = "report.html"


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline: its config section, run-dir folder and command."""

    section: str  # the pipeline file's section (and the results key of `run_pipeline`)
    folder: str  # its folder in the run directory
    command: str  # the `mixforge` command that runs it alone
    summary: str  # one line for `mixforge --help`


#: The stages in the order `mixforge run` runs them (and `mixforge --help` lists them).
PIPELINE: tuple[Stage, ...] = (
    Stage("ingest", "ingest", "ingest", "sources -> document table"),
    Stage("dedup_exact", "dedup_exact", "dedup exact", "drop exact duplicates"),
    Stage("dedup_fuzzy", "dedup_fuzzy", "dedup fuzzy", "drop near-duplicates (MinHash-LSH)"),
    Stage("filter", "filter", "filter", "heuristic quality filters + language ID"),
    Stage("tokenizer", TOKENIZER, "tokenizer train", "train a byte-level BPE on the documents"),
    Stage("tokenize", TOKEN_STORE, "tokenize", "documents -> token store"),
    Stage("probe", PROBES, "probe sweep", "train small probes on sampled mixes"),
    Stage("mix", MIX, "mix plan | propose", "a mix by a strategy or from the probes"),
    Stage("export", EXPORT, "export", "a mix -> a training format"),
)

#: Stages whose output is a document table, latest first: what a later stage reads when
#: the user does not name one (`latest_document_stage`).
DOCUMENT_STAGES: tuple[str, ...] = ("filter", "dedup_fuzzy", "dedup_exact", "ingest")
#: The stages that count documents in and out, in pipeline order (the report's funnel).
FUNNEL: tuple[str, ...] = (*reversed(DOCUMENT_STAGES), TOKEN_STORE)


def marker_path(stage_dir: str | Path, shard: str) -> Path:
    """``<stage>/_markers/<shard>.json``."""
    return Path(stage_dir) / MARKERS / f"{shard}.json"


def has_run(run_dir: str | Path, stage: str) -> bool:
    """Whether ``stage`` has finished at least one shard in ``run_dir``."""
    return (Path(run_dir) / stage / MARKERS).is_dir()


def tokenizer_json(run_dir: str | Path) -> Path:
    """``<run>/tokenizer/tokenizer.json``: the tokenizer `mixforge tokenizer train` writes."""
    return Path(run_dir) / TOKENIZER / TOKENIZER_JSON


def token_store(run_dir: str | Path) -> Path:
    """``<run>/tokenize``: the run's token store."""
    return Path(run_dir) / TOKEN_STORE


def probe_results(run_dir: str | Path) -> Path:
    """``<run>/probes/results.parquet``: one row per probe of the sweep."""
    return Path(run_dir) / PROBES / PROBE_RESULTS


def mix_file(run_dir: str | Path, name: str) -> Path:
    """``<run>/mix/<name>.yaml``."""
    return Path(run_dir) / MIX / f"{name}.yaml"


def export_dir(run_dir: str | Path, fmt: str) -> Path:
    """``<run>/export/<format>``: where the pipeline exports a mix by default."""
    return Path(run_dir) / EXPORT / fmt
