"""The document table every curate stage reads and writes.

`id` (stable across runs), `text`, `domain`, `source` (file and line or row) and
`metadata` (the input record's other fields, as a JSON object) come first; stages append
their own columns (scores, cluster ids) and carry every other column through untouched.
"""

from __future__ import annotations

import pyarrow as pa

from .errors import ConfigError

DOC_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("metadata", pa.large_string()),
    ]
)
REQUIRED = ("id", "text", "domain", "source")

REJECT_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("detail", pa.string()),
        pa.field("raw", pa.large_binary()),
    ]
)


def check_documents(table: pa.Table | pa.RecordBatch, where: str = "table") -> None:
    """Raise a ConfigError naming the missing or mistyped column of a document table."""
    for name in REQUIRED:
        if name not in table.schema.names:
            msg = f"{where}: missing column {name!r}; a document table needs {list(REQUIRED)}"
            raise ConfigError(msg)
    kind = table.schema.field("text").type
    if kind not in (pa.string(), pa.large_string()):
        msg = f"{where}: column 'text' has type {kind}, expected a string"
        raise ConfigError(msg)
