"""The document table every curate stage reads and writes.

`id` (unique within a run by construction, stable across reruns), `text`, `domain`,
`source` (file and line or row) and `metadata` (the input record's other fields, as a
JSON object) come first (ingest adds `user_id` with --id-field); stages append their own
columns (scores, cluster ids) and carry every other column through untouched.
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
USER_ID = pa.field("user_id", pa.string())  # the input's own id (--id-field), as metadata


def doc_schema(user_id: bool = False) -> pa.Schema:
    """The ingest output schema: DOC_SCHEMA, plus ``user_id`` when an id field is read."""
    return DOC_SCHEMA.append(USER_ID) if user_id else DOC_SCHEMA

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
