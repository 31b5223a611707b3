"""A real sample for the filter tests: documents of every domain of the shared corpus."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def stratified(table: pa.Table, per_domain: int) -> pa.Table:
    """The first ``per_domain`` documents of each domain (the corpus order is pseudo-random)."""
    parts = []
    for domain in sorted(set(table["domain"].to_pylist())):
        parts.append(table.filter(pc.equal(table["domain"], domain)).slice(0, per_domain))
    return pa.concat_tables(parts)
