"""`mixforge report`: one self-contained HTML file (PNG plots inlined) about a run.

It reads only what the stages wrote (``_stage.json`` totals, rejects, clusters, the token
store's ``store.json``, probe results, mixes): the report never recomputes a stage. Each
section appears when its stage ran. Plots are matplotlib PNGs embedded as data URIs so
the file can be mailed or attached to a ticket as it is.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from . import storage
from .errors import ConfigError
from .layout import (
    FUNNEL,
    MARKERS,
    MIX,
    REJECTS,
    REPORT,
    STAGE_JSON,
    STORE_JSON,
    probe_results,
    token_store,
)
from .rundir import atomic_path
from .stats import run_stats

STAGE_ORDER = list(FUNNEL)
SAMPLES_PER_REASON = 3  # shown per (stage, domain, reason)
NO_DOMAIN = "(none)"  # ingest rejects: records never read into a document


def _png(draw: Callable) -> str:
    """Run ``draw(ax)`` on a fresh figure; return the PNG as a data URI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.6), dpi=100)
    try:
        draw(ax)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _table_html(df: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>"
                   for r in df.iter_rows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def stages_of(run_dir: Path) -> list[str]:
    """The stages present in a run, in pipeline order (unknown ones last, by name)."""
    present = [p.name for p in sorted(run_dir.iterdir()) if (p / MARKERS).is_dir()]
    return sorted(present, key=lambda s: (STAGE_ORDER.index(s) if s in STAGE_ORDER
                                          else len(STAGE_ORDER), s))


def funnel(run_dir: Path) -> pl.DataFrame:
    """Documents in, kept and rejected at each document stage."""
    rows = []
    for stage in stages_of(run_dir):
        summary = json.loads((run_dir / stage / STAGE_JSON).read_text()) \
            if (run_dir / stage / STAGE_JSON).exists() else {}
        t = summary.get("totals", {})
        docs_in = t.get("docs_in")
        if docs_in is None:
            continue
        rows.append({"stage": stage, "docs_in": docs_in, "kept": t.get("kept", 0),
                     "rejected": t.get("rejected", 0)})
    return pl.DataFrame(rows, schema={"stage": pl.String, "docs_in": pl.Int64,
                                      "kept": pl.Int64, "rejected": pl.Int64})


def rejects(run_dir: Path) -> tuple[pl.DataFrame, dict[tuple[str, str, str], list[str]]]:
    """Rejected documents per (stage, domain, reason), and the first few of each.

    Returns a table (stage, domain, reason, docs), stages in pipeline order, then domain,
    then most documents first; and the first `SAMPLES_PER_REASON` rejects of each
    (stage, domain, reason) in shard order, each cut to 400 characters. Ingest rejects are
    records never read into a document (malformed JSON, a corrupt file): their domain is
    ``NO_DOMAIN``. Memory: the domain and reason columns of one rejects file, and the text
    column of one file while it still owes samples.
    """
    rows, samples = [], {}
    for stage in stages_of(run_dir):
        counts: dict[tuple[str, str], int] = {}
        for f in sorted((run_dir / stage / REJECTS).glob("*.parquet")):
            names = pq.read_schema(f).names
            df = pl.read_parquet(f, columns=[c for c in ("domain", "reason") if c in names])
            if "domain" not in names:
                df = df.with_columns(domain=pl.lit(NO_DOMAIN))
            per = (df.with_columns(pl.col("domain").cast(pl.String).fill_null(NO_DOMAIN),
                                   pl.col("reason").cast(pl.String))
                   .with_row_index("_row")
                   .group_by("domain", "reason", maintain_order=True)
                   .agg(pl.len(), pl.col("_row").head(SAMPLES_PER_REASON)))
            want: list[tuple[tuple[str, str, str], int]] = []
            for domain, reason, n, first in per.iter_rows():
                counts[(domain, reason)] = counts.get((domain, reason), 0) + n
                have = samples.setdefault((stage, domain, reason), [])
                want += [((stage, domain, reason), r)
                         for r in first[: SAMPLES_PER_REASON - len(have)]]
            if want:
                col = "text" if "text" in names else "raw"
                texts = pq.read_table(f, columns=[col])[col].take([r for _, r in want])
                for (key, _), t in zip(want, texts.to_pylist(), strict=True):
                    samples[key].append(
                        (t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t))[:400])
        rows += [{"stage": stage, "domain": d, "reason": r, "docs": n}
                 for (d, r), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1]))]
    return pl.DataFrame(rows, schema={"stage": pl.String, "domain": pl.String,
                                      "reason": pl.String, "docs": pl.Int64}), samples


def _bar(df: pl.DataFrame, x: str, ys: list[str], title: str, ylabel: str,
         log: bool = False) -> str:
    def draw(ax):
        n = len(ys)
        width = 0.8 / n
        xs = range(df.height)
        for i, y in enumerate(ys):
            ax.bar([v + i * width for v in xs], df[y].to_list(), width, label=y)
        ax.set_xticks([v + width * (n - 1) / 2 for v in xs], df[x].to_list(), rotation=20,
                      ha="right", fontsize=8)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        if n > 1:
            ax.legend(fontsize=8)

    return _png(draw)


class Report:
    """Sections of HTML (title, body) assembled into one page."""

    def __init__(self, title: str) -> None:
        self.title, self.sections = title, []

    def add(self, heading: str, body: str) -> None:
        self.sections.append((heading, body))

    def img(self, uri: str, alt: str) -> str:
        return f'<img src="{uri}" alt="{html.escape(alt)}">'

    def render(self) -> str:
        toc = "".join(f'<li><a href="#s{i}">{html.escape(h)}</a></li>'
                      for i, (h, _) in enumerate(self.sections))
        body = "".join(f'<section id="s{i}"><h2>{html.escape(h)}</h2>{b}</section>'
                       for i, (h, b) in enumerate(self.sections))
        return f"""<!doctype html><html><head><meta charset="utf-8">
<title>{html.escape(self.title)}</title><style>
body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:.5em 0;font-size:.9em}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
td:first-child,th:first-child{{text-align:left}} img{{max-width:100%}}
pre{{background:#f6f6f6;padding:6px;white-space:pre-wrap;font-size:.8em;max-height:8em;overflow:auto}}
</style></head><body><h1>{html.escape(self.title)}</h1><ul>{toc}</ul>{body}
<script>window.addEventListener('load',()=>{{const i=[...document.images];
document.body.dataset.images=i.length;
document.body.dataset.loaded=i.filter(x=>x.complete&&x.naturalWidth>0).length;}});</script>
</body></html>"""


def build_report(run_dir: str | Path, out: str | Path | None = None,
                 extra_sections: list[Callable[[Path, Report], None]] | None = None) -> Path:
    """Write ``<run>/report.html`` (or ``out``) and return its path.

    Raises `ConfigError` when ``run_dir`` holds nothing a run writes (no finished stage,
    token store or probe sweep).
    """
    run_dir = storage.local(run_dir)
    has_stage = run_dir.is_dir() and any((p / MARKERS).is_dir() for p in run_dir.iterdir())
    if not (has_stage or (token_store(run_dir) / STORE_JSON).exists()
            or probe_results(run_dir).exists()):
        msg = (f"{run_dir} is not a run directory (no finished stage, token store or probe "
               "sweep in it); give the --run-dir of a run")
        raise ConfigError(msg)
    rep = Report(f"mixforge run: {run_dir.name}")
    f = funnel(run_dir)
    if f.height:
        rep.add("Document funnel", _table_html(f) + rep.img(
            _bar(f, "stage", ["docs_in", "kept", "rejected"], "documents per stage", "docs"),
            "document funnel"))
    counts, samples = rejects(run_dir)
    if counts.height:
        lab = (counts.group_by("stage", "reason", maintain_order=True).agg(pl.col("docs").sum())
               .with_columns(label=pl.col("stage") + ": " + pl.col("reason")))
        body = _table_html(counts) + rep.img(
            _bar(lab, "label", ["docs"], "rejects per reason (all domains)", "docs", log=True),
            "rejects per reason")
        for stage, domain, reason, n in counts.iter_rows():
            texts = samples[(stage, domain, reason)]
            body += (f"<h3>{html.escape(stage)} · {html.escape(domain)}: {html.escape(reason)} "
                     f"({len(texts)} of {n:,})</h3>"
                     + "".join(f"<pre>{html.escape(t)}</pre>" for t in texts))
        rep.add("Rejects per domain", body)
    stats = run_stats(run_dir) if has_stage else {}
    stats = {s: stats[s] for s in stages_of(run_dir) if s in stats}
    if stats:
        per = pl.concat([df.filter(pl.col("domain") != "TOTAL")
                         .select("domain", pl.col("docs").alias(stage))
                         for stage, df in stats.items()], how="align")
        per = per.fill_null(0)
        rep.add("Domain sizes through the stages", _table_html(per) + rep.img(
            _bar(per, "domain", list(stats), "documents per domain at each stage", "docs"),
            "domain sizes"))
    _tokens_section(run_dir, rep)
    _probe_section(run_dir, rep)
    _mix_section(run_dir, rep)
    _evaluate_section(run_dir, rep)
    for section in extra_sections or []:
        section(run_dir, rep)
    path = Path(out) if out else run_dir / REPORT
    with atomic_path(path) as tmp:
        tmp.write_text(rep.render())
    return path


def _tokens_section(run_dir: Path, rep: Report) -> None:
    store = token_store(run_dir) / STORE_JSON
    if not store.exists():
        return
    meta = json.loads(store.read_text())
    df = pl.DataFrame([{"domain": d, "docs": v["docs"], "tokens": v["tokens"],
                        "bytes_per_token": v["bytes_per_token"]}
                       for d, v in meta["domains"].items()])
    tok = meta.get("tokenizer", {})
    engine = meta.get("engine", tok.get("engine"))
    why = meta.get("engine_reason", tok.get("engine_reason"))
    name = tok.get("spec") or tok.get("path") or tok.get("source")
    head = (f"<p>tokenizer {html.escape(str(name))}: vocabulary {meta['vocab_size']:,}, "
            f"{meta['dtype']} tokens, engine {html.escape(str(engine))} "
            f"({html.escape(str(why))})</p>")
    rep.add("Tokens per domain", head + _table_html(df) + rep.img(
        _bar(df, "domain", ["bytes_per_token"], "bytes per token by domain", "bytes/token"),
        "bytes per token"))


def _mix_section(run_dir: Path, rep: Report) -> None:
    from .mixers.mix import Mix

    mixes = sorted((run_dir / MIX).glob("*.yaml")) if (run_dir / MIX).is_dir() else []
    store = token_store(run_dir) / STORE_JSON
    if not mixes or not store.exists():
        return
    tokens = {d: v["tokens"] for d, v in json.loads(store.read_text())["domains"].items()}
    total = sum(tokens.values())
    cols = {"natural": {d: n / total for d, n in tokens.items()},
            "uniform": dict.fromkeys(tokens, 1 / len(tokens))}
    for path in mixes:
        cols[path.stem] = Mix.load(path).weights
    df = pl.DataFrame([{"domain": d, **{k: round(v.get(d, 0.0), 4) for k, v in cols.items()}}
                       for d in sorted(tokens)])
    rep.add("Mixes", _table_html(df) + rep.img(
        _bar(df, "domain", list(cols), "domain weights: chosen mixes vs natural and uniform",
             "weight"), "mix weights"))


def _probe_section(run_dir: Path, rep: Report) -> None:
    path = probe_results(run_dir)
    store = token_store(run_dir) / STORE_JSON
    if not path.exists() or not store.exists():
        return
    from .mixers.propose import fit_report

    results = pl.read_parquet(path)
    if results.is_empty() or "bpb:avg" not in results.columns:
        return
    domains = sorted(c[2:] for c in results.columns if c.startswith("w:"))
    per = pl.DataFrame([{"domain": d, "best probe": results[f"bpb:{d}"].min(),
                         "mean": results[f"bpb:{d}"].mean(),
                         "worst probe": results[f"bpb:{d}"].max()} for d in domains])
    body = (f"<p>{len(results)} probes, held-out bits per byte per domain "
            f"(lower is better)</p>" + _table_html(per.with_columns(
                pl.col("best probe", "mean", "worst probe").round(4))) + rep.img(
        _bar(per, "domain", ["best probe", "mean", "worst probe"],
             "held-out bpb per domain across the probes", "bits per byte"), "probe bpb"))
    tokens = {d: v["tokens"] for d, v in json.loads(store.read_text())["domains"].items()}
    if set(domains) != set(tokens):  # the store was rebuilt after the sweep
        body += (f"<p><b>Warning:</b> the probes were trained on domains {domains}, but the "
                 f"token store now holds {sorted(tokens)}: the sweep is stale, so no fit is "
                 "shown (rerun `mixforge probe sweep`).</p>")
        rep.add("Probes", body)
        return
    if len(results) >= 4:
        fit = fit_report(results, tokens)
        preds, best = fit.preds, fit.best or "mixing_law"
        body += "<h3>Fit on held-out probes (5-fold CV)</h3>" + _table_html(fit.table)
        body += "".join(f"<p><b>Warning:</b> {html.escape(w)}</p>" for w in fit.warnings())
        if best not in preds:
            rep.add("Probes", body)
            return

        def draw(ax):
            y = preds["actual"].reshape(-1)
            p = preds[best].reshape(-1)
            ax.scatter(y, p, s=12)
            lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
            ax.plot([lo, hi], [lo, hi], color="grey", lw=1)
            ax.set_xlabel("actual held-out bpb")
            ax.set_ylabel(f"predicted ({best}, CV, clipped to the probes' range)")
            ax.set_title("predicted vs actual, every probe x domain")

        body += rep.img(_png(draw), "predicted vs actual")
    rep.add("Probes", body)


def _evaluate_section(run_dir: Path, rep: Report) -> None:
    """`mix evaluate`: the summary per target, paired differences to natural with their
    95% intervals, and the mean evaluation curves (bpb against training tokens)."""
    folder = run_dir / "evaluate"
    if not (folder / "summary.parquet").exists():
        return
    from .mixers.evaluate import summary_table

    summary = pl.read_parquet(folder / "summary.parquet")
    if summary.is_empty():
        return
    domains = set()
    if (folder / "results.parquet").exists():
        domains = {c[2:] for c in pl.read_parquet(folder / "results.parquet").columns
                   if c.startswith("w:")}
    shown = [t for t in summary["target"].unique(maintain_order=True).to_list()
             if t not in domains]
    body = ("<p>Models per mix x seed; bits per byte (lower is better), mean [95% CI] over "
            "seeds; differences paired by seed; tokens to natural: the fraction of "
            "natural's training tokens the mix needs to reach natural's final bpb.</p>"
            + _table_html(summary_table(summary, shown)))
    diff = summary.filter(pl.col("target").is_in(shown) & (pl.col("mix") != "natural"))

    def draw_diff(ax):
        mixes = diff["mix"].unique(maintain_order=True).to_list()
        width = 0.8 / max(len(shown), 1)
        for j, t in enumerate(shown):
            sub = {r["mix"]: r for r in diff.filter(pl.col("target") == t).iter_rows(
                named=True)}
            xs = [i + j * width for i in range(len(mixes))]
            ys = [sub[m]["vs_natural"] if m in sub else float("nan") for m in mixes]
            lo = [y - sub[m]["vs_natural_lo"] if m in sub and sub[m]["vs_natural_lo"]
                  is not None else 0 for m, y in zip(mixes, ys, strict=True)]
            hi = [sub[m]["vs_natural_hi"] - y if m in sub and sub[m]["vs_natural_hi"]
                  is not None else 0 for m, y in zip(mixes, ys, strict=True)]
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=t)
        ax.axhline(0, color="grey", lw=1)
        ax.set_xticks([i + width * (len(shown) - 1) / 2 for i in range(len(mixes))], mixes)
        ax.set_ylabel("bpb minus natural (paired)")
        ax.set_title("difference to natural, 95% CI over seeds (below 0: better)")
        ax.legend(fontsize=8)

    body += rep.img(_png(draw_diff), "difference to natural")
    if (folder / "curves.parquet").exists():
        curves = pl.read_parquet(folder / "curves.parquet")
        col = "bpb:avg"
        if col in curves.columns:
            mean = curves.group_by("mix", "tokens").agg(pl.col(col).mean()).sort("tokens")

            def draw_curves(ax):
                for m in curves["mix"].unique(maintain_order=True).to_list():
                    sub = mean.filter(pl.col("mix") == m)
                    ax.plot(sub["tokens"], sub[col], marker="o", ms=3, label=m)
                ax.set_xlabel("training tokens")
                ax.set_ylabel("held-out bpb, mean over domains")
                ax.set_title("evaluation curves (mean over seeds)")
                ax.legend(fontsize=8)

            body += rep.img(_png(draw_curves), "evaluation curves")
    rep.add("Mix evaluation", body)
