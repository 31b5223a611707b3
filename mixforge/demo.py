"""`mixforge demo`: the whole loop on the real local corpus, with no network.

It builds the local corpus once, then runs the pipeline of ``demo_config`` (the same
pipeline `examples/demo.yaml` describes) and prints a summary table; reruns resume.

The target-set flow: one corpus domain (``python_docs``, ``DEMO_TARGET_DOMAIN``) is not
trained on; its file is the demo's evaluation set (``targets: {python_docs_eval: ...}``),
tokenized into ``run/targets/python_docs_eval``. Every probe scores it, and beside the
mix for the mean over domains the demo proposes the mix for that target
(``run/mix/regmix-python_docs_eval.yaml``): "my eval set is these documents; which mix
of my domains is best for it?"
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from .corpus import FILTER_POLICY, build_corpus
from .curate.dedup import ExactConfig, FuzzyConfig
from .curate.filters import FilterConfig, LanguageConfig
from .ingest import IngestConfig
from .layout import FUNNEL
from .mixers.export_config import ExportConfig
from .pipeline import MixSection, PipelineConfig, run_pipeline
from .progress import shard_bar, table
from .stats import run_stats
from .tokenize.stage import TokenizeConfig
from .tokenize.train import TokenizerTrainConfig
from .train_probe.model import ProbeConfig
from .train_probe.sweep import SweepConfig
from .train_probe.train import TrainConfig as ProbeTrainConfig

DEMO_TARGET_DOMAIN = "python_docs"
DEMO_TARGET = f"{DEMO_TARGET_DOMAIN}_eval"


def demo_config(corpus_dir: Path, run_dir: Path, max_mb: float,
                workers: int | None = None) -> PipelineConfig:
    """The demo pipeline: every stage, sized for a few minutes on 2 cores."""
    files = sorted(corpus_dir.glob("*.jsonl.zst"))
    held = [f for f in files if f.name.split(".")[0] == DEMO_TARGET_DOMAIN]
    train_inputs = [str(f) for f in files if f not in held] if held else [str(corpus_dir)]
    return PipelineConfig(
        run_dir=str(run_dir), workers=workers,
        ingest=IngestConfig(inputs=train_inputs, shard_mb=0.5,  # a shard per domain
                            on_error="reject"),
        targets={DEMO_TARGET: str(held[0])} if held else {},
        dedup_exact=ExactConfig(),
        dedup_fuzzy=FuzzyConfig(),
        # The web-prose rules everywhere and an English-only filter drop 97% of this corpus
        # (measured: 498 of 16,958 kept: fortunes are short, code is not "alphabetic"
        # enough); the corpus's policy gives each domain the rules that suit it, and every
        # document's language is scored without filtering on it.
        filter=FilterConfig(policy=FILTER_POLICY, language=LanguageConfig(languages=[])),
        tokenizer=TokenizerTrainConfig(vocab_size=8192),
        tokenize=TokenizeConfig(),
        # tiny probes (1 block, ~80k parameters): 12 mixes x 60k tokens, batched as one model
        probe=SweepConfig(n_probes=12, k=12, probe=ProbeConfig(depth=1, seq_len=64),
                          train=ProbeTrainConfig(tokens=60_000, batch_size=8, evals=2),
                          targets=[f"{DEMO_TARGET}={held[0]}"] if held else []),
        mix=MixSection(strategy="regmix", epoch_cap=2.0),
        export=[ExportConfig(format="nanogpt", over_cap="shrink"),
                ExportConfig(format="megatron", over_cap="shrink")],
    )


def summary(run_dir: Path, results: dict) -> pl.DataFrame:
    """One row per stage: what went in and what came out."""
    rows = []
    for name in FUNNEL:
        if name in results:
            res = results[name]
            t = res.stage.totals if hasattr(res, "stage") else res.totals
            stage = res.stage if hasattr(res, "stage") else res
            rows.append({"stage": name, "in": t.get("docs_in", 0),
                         "out": t.get("tokens", 0) if name == "tokenize" else t.get("kept", 0),
                         "unit": "docs" if name != "tokenize" else "docs -> tokens",
                         "shards run/skipped": f"{len(stage.ran)}/"
                                               f"{len(stage.skipped)}"})
    for e in results.get("export", []):
        train = e["splits"]["train"]
        rows.append({"stage": f"export {e['format']}", "in": train["docs"],
                     "out": train["tokens"], "unit": "docs -> tokens",
                     "shards run/skipped": ", ".join(train["files"])})
    return pl.DataFrame(rows)


def run_demo(out: str | Path, max_mb: float = 20.0, workers: int | None = None,
             echo: Callable[[str], None] = print) -> Path:
    """Build the corpus (once), then run every stage into ``out/run``; return the run dir."""
    out = Path(out)
    corpus_dir, run_dir = out / "corpus", out / "run"
    if not (corpus_dir / "manifest.json").exists():
        echo(f"building the local corpus ({max_mb:g} MB) in {corpus_dir} ...")
        build_corpus(corpus_dir, max_mb)
    cfg = demo_config(corpus_dir, run_dir, max_mb, workers)
    results = run_pipeline(cfg, bar=lambda name, n: shard_bar(n, name))
    for name, df in run_stats(run_dir).items():
        echo(table(df, f"[{name}] documents per domain"))
    echo(table(summary(run_dir, results), "summary"))
    if "probe" in results:
        from .train_probe.sweep import summary_table

        echo(summary_table(results["probe"].results, rows=5))
        from .train_probe.heldout import thin_figures

        if not results["probe"].results.is_empty():
            for line in thin_figures(results["probe"].results.row(0, named=True)):
                echo(f"note: {line}")
    echo(f"mix: {results.get('mix')}")
    if "probe" in results and cfg.targets:
        echo(target_mix(run_dir, results["probe"].results, cfg))
    echo(f"report: {results.get('report')}")
    return run_dir


def target_mix(run_dir: Path, probes: pl.DataFrame, cfg: PipelineConfig) -> str:
    """Propose the mix for the demo's data target beside the mix for the mean; save it
    to ``run/mix/regmix-<target>.yaml``; return a table of both."""
    from .mixers.propose import propose_mix
    from .mixers.strategies import store_tokens
    from .tokenize.store import TokenStore

    tokens = store_tokens(TokenStore(run_dir / "tokenize"))
    budget = cfg.mix.budget_tokens or sum(tokens.values())
    avg, _ = propose_mix(probes, tokens, budget, cfg.mix.epoch_cap)
    lines = []
    for name in sorted(cfg.targets):
        mix, fit = propose_mix(probes, tokens, budget, cfg.mix.epoch_cap, target=name)
        path = mix.save(run_dir / "mix" / f"regmix-{name}.yaml")
        df = pl.DataFrame([{"domain": d, "for the mean": round(avg.weights[d], 3),
                            f"for {name}": round(w, 3)} for d, w in mix.weights.items()])
        p = fit["predicted"]
        lines.append(table(df, f"target {name} (data, never trained on): proposed mix"))
        lines.append(f"predicted {name} bpb: proposed {p['proposed']:.4f}, natural "
                     f"{p['natural']:.4f}, uniform {p['uniform']:.4f}; mix: {path}")
    return "\n".join(lines)
