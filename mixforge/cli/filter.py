"""`mixforge filter`: the quality filters and language ID over a run's documents."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import click_options, from_dict, from_flags, to_dict
from ..curate.filters import GROUPS, FilterConfig
from ..errors import ConfigError
from ._common import CONTEXT, RunOptions, run_options


def load_config(path: Path | None, flags: dict, disable: tuple[str, ...],
                languages: tuple[str, ...], quality_target: tuple[str, ...] = (),
                quality_keep: float | None = None) -> FilterConfig:
    """A FilterConfig from a YAML file (its `filter:` section or the whole file) and flags."""
    import yaml

    data: dict = {}
    if path is not None:
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            msg = f"cannot read filter config {path}: {e}"
            raise ConfigError(msg) from e
        if not isinstance(raw, dict):
            msg = f"{path}: expected a mapping of filter options"
            raise ConfigError(msg)
        data = raw.get("filter", raw)
    cfg = from_dict(FilterConfig, data, where=str(path) if path else "filter")
    defaults = to_dict(FilterConfig())
    # flags override the file only where the user changed them from their defaults
    changed = {k: v for k, v in flags.items() if k in defaults and
               (list(v) if isinstance(v, tuple) else v) != defaults[k]}
    if changed:
        cfg = from_flags(FilterConfig, {**to_dict(cfg), **changed}, where="options")
    for group in disable:
        getattr(cfg, group).enabled = False
    if languages:
        cfg.language.languages = list(languages)
    if quality_target:
        cfg.quality.target = list(quality_target)
    if quality_keep is not None:
        cfg.quality.keep_fraction = quality_keep
    cfg.validate()
    return cfg


@click.command("filter", context_settings=CONTEXT)
@run_options(run_dir_help="The run directory; writes RUN_DIR/filter.")
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True),
              default=None, help="YAML with filter options (per group: gopher_quality, "
              "gopher_repetition, c4, fineweb, length, language).")
@click.option("--disable", type=click.Choice(GROUPS), multiple=True,
              help="Switch a rule group off (repeatable).")
@click.option("--language", "languages", multiple=True,
              help="Keep only these languages (repeatable; default: en).")
@click.option("--quality-target", multiple=True,
              help="Target documents (a file or folder any reader takes; repeatable): train "
              "a classifier toward them and score every document (filter/scores: quality).")
@click.option("--quality-keep", type=float, default=None,
              help="With --quality-target: keep only this top fraction by that score.")
@click.option("--dry-run", is_flag=True, help="Only report what would be dropped; write nothing.")
@click_options(FilterConfig)
def command(run: RunOptions, config_path: Path | None, disable: tuple[str, ...],
            languages: tuple[str, ...], quality_target: tuple[str, ...],
            quality_keep: float | None, dry_run: bool, **flags) -> None:
    """Gopher quality + repetition, C4, FineWeb rules and language ID over RUN_DIR's documents.

    Reads the latest of dedup_fuzzy, dedup_exact, ingest (or --input-stage); writes kept
    documents to RUN_DIR/filter, scores to filter/scores/, drops with their reason and
    scores to filter/rejects/, and samples per domain and reason to
    filter/samples/_all.parquet.
    """
    import polars as pl

    from ..curate.filter_stage import dry_run as run_dry
    from ..curate.filter_stage import plan_filter, run_filter
    from ..progress import shard_bar, table

    run_dir = run.run_dir
    cfg = load_config(config_path, flags, disable, languages, quality_target, quality_keep)
    in_stage, tasks = plan_filter(cfg, run_dir)
    enabled = [g for g in GROUPS if getattr(cfg, g).enabled]
    rules = (f"policies: {cfg.policy} (unmatched domains: web)" if cfg.policies()
             else f"rule groups: {', '.join(enabled)}")
    quality = (f"; quality toward {', '.join(cfg.quality.target)}"
               + (f", keep the top {cfg.quality.keep_fraction:g}"
                  if cfg.quality.keep_fraction is not None else "")
               if cfg.quality.target else "")
    click.echo(f"filter: {len(tasks)} shards of {in_stage}; {rules}{quality}")
    ex = run.executor()
    with shard_bar(len(tasks), "filter (dry run)" if dry_run else "filter") as tick:
        if dry_run:
            totals = run_dry(cfg, run_dir, ex, tick)
        else:
            totals = run_filter(cfg, run_dir, ex, tick).totals
    reasons = sorted(((k[len("dropped_"):], v) for k, v in totals.items()
                      if k.startswith("dropped_")), key=lambda kv: -kv[1])
    n = max(totals.get("docs_in", 0), 1)
    if reasons:
        df = pl.DataFrame({"reason": [r for r, _ in reasons], "docs": [v for _, v in reasons],
                           "share": [round(v / n, 4) for _, v in reasons]})
        click.echo(table(df, "dropped per reason (first failing rule)"))
    groups = [(k[len("flagged_"):], v) for k, v in totals.items() if k.startswith("flagged_")]
    if groups:
        df = pl.DataFrame({"group": [g for g, _ in groups], "docs": [v for _, v in groups],
                           "share": [round(v / n, 4) for _, v in groups]})
        click.echo(table(df, "dropped by each rule group alone"))
    policy = cfg.policies()
    doms = sorted(k.split(":", 1)[1] for k in totals if k.startswith("domain_in:"))
    if doms:
        from ..curate.filters import policy_of

        of = {d: policy_of(d, policy) for d in doms}
        df = pl.DataFrame({
            "domain": doms, "policy": [of[d] for d in doms],
            "docs": [totals[f"domain_in:{d}"] for d in doms],
            "kept": [totals.get(f"domain_kept:{d}", 0) for d in doms]})
        df = df.with_columns(dropped=pl.col("docs") - pl.col("kept"),
                             kept_share=(pl.col("kept") / pl.col("docs")).round(4))
        click.echo(table(df, "per domain, under its policy"))
        drops = [(*k[len("domain_dropped:"):].rsplit(":", 1), v) for k, v in totals.items()
                 if k.startswith("domain_dropped:")]
        if drops:
            df = pl.DataFrame({"domain": [d for d, _, _ in drops],
                               "policy": [of[d] for d, _, _ in drops],
                               "reason": [r for _, r, _ in drops],
                               "docs": [n for _, _, n in drops]})
            df = df.with_columns(
                share=(pl.col("docs") / pl.col("domain").replace_strict(
                    {d: totals[f"domain_in:{d}"] for d in doms}, return_dtype=pl.Int64))
                .round(4)).sort("domain", pl.col("docs"), descending=[False, True])
            click.echo(table(df, "dropped per domain and rule (first failing rule)"))
    if policy and doms:
        import fnmatch

        for pattern, preset in policy:
            if not any(fnmatch.fnmatchcase(d, pattern) for d in doms):
                click.echo(f"warning: policy {pattern}={preset} matches no domain of this "
                           f"run ({', '.join(doms)}): a typo?", err=True)
    verb = "would keep" if dry_run else "kept"
    click.echo(f"filter: {verb} {totals.get('kept', 0):,} of {totals.get('docs_in', 0):,} "
               f"documents ({totals.get('rejected', 0):,} dropped)")
