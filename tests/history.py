"""Events as producers of an earlier schema (schemas/history) wrote them: what a consumer
reads from a topic written before an upgrade."""

from __future__ import annotations

import io
from typing import Any

import fastavro

from streams.events.codec import SINGLE_OBJECT_MAGIC, EventSchema, load_history
from tests.paths import REPO

SCHEMAS_DIR = REPO / "schemas"


def previous(name: str, field: str) -> EventSchema:
    """The newest earlier version of event ``name`` without ``field``."""
    without = [
        schema
        for schema in load_history(SCHEMAS_DIR)  # by version, oldest first
        if schema.name == name and all(f["name"] != field for f in schema.parsed["fields"])
    ]
    return without[-1]


def older(event: Any, name: str, field: str) -> bytes:
    """The event as a producer of the schema before ``field`` wrote it."""
    schema = previous(name, field)
    record = {k: v for k, v in event.to_record().items() if k != field}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, schema.parsed, record)
    return SINGLE_OBJECT_MAGIC + schema.fingerprint + body.getvalue()
