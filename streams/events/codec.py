"""Avro codecs for kaption events (fastavro).

Without a schema registry every record is written in Avro single-object encoding
(``C3 01`` + 8-byte little-endian CRC-64-AVRO fingerprint + body) and readers resolve the
fingerprint against ``schemas/``. With a registry the Confluent wire format is used
(magic ``00`` + 4-byte big-endian schema id + body); see :mod:`streams.events.registry`.
Records written with an earlier version of a schema (``schemas/history/``: fields have since
been added with defaults) are read into the current one by Avro's schema resolution, so an
older producer, or a worker not yet upgraded in a rolling restart, is still understood.
Values are the typed classes of :mod:`streams.events.model`. Decoding failures raise
:class:`DecodeError` so callers can dead-letter the record.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

import fastavro
from fastavro.schema import fingerprint, load_schema, to_parsing_canonical_form

from streams.events.model import EVENT_TYPES, Event

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
E = TypeVar("E", bound=Event)


class DecodeError(ValueError):
    """A record that cannot be decoded: unknown schema, bad header or corrupt body."""


@dataclass(frozen=True)
class EventSchema:
    name: str  # short name, e.g. "JobRequested"
    parsed: Any  # fastavro parsed schema
    canonical: str  # parsing canonical form
    fingerprint: bytes  # 8 bytes, as written after the single-object magic


def _event_schema(path: Path) -> EventSchema:
    parsed: dict[str, Any] = load_schema(str(path), _write_hint=False)  # type: ignore[assignment]
    canonical = to_parsing_canonical_form(parsed)
    short = str(parsed["name"]).rsplit(".", 1)[-1]
    return EventSchema(
        short, parsed, canonical, bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    )


@cache
def load_history(schemas_dir: Path) -> tuple[EventSchema, ...]:
    """Earlier versions of the schemas (``history/kaption.<Name>.v<N>.avsc``), still read."""
    return tuple(_event_schema(path) for path in sorted((schemas_dir / "history").glob("*.avsc")))


@cache
def load_schemas(schemas_dir: Path) -> dict[str, EventSchema]:
    """Every ``kaption.<Name>.avsc`` in the folder, by short name (references resolved)."""
    schemas: dict[str, EventSchema] = {}
    for path in sorted(schemas_dir.glob("*.avsc")):
        schema = _event_schema(path)
        schemas[schema.name] = schema
    if not schemas:
        raise FileNotFoundError(f"no .avsc schemas in {schemas_dir}")
    if set(schemas) != set(EVENT_TYPES):
        raise RuntimeError(
            f"streams/events/model.py does not match {schemas_dir}: "
            "run `python -m streams.events.codegen`"
        )
    return schemas


class SchemaIds(Protocol):
    """Maps schemas to registry ids and back (a Confluent-compatible registry)."""

    def id_for(self, subject: str, schema: EventSchema) -> int: ...
    def canonical_for(self, schema_id: int) -> str: ...


class AvroCodec:
    """Encodes and decodes events by schema name; thread-safe and cheap to share."""

    def __init__(self, schemas_dir: Path, registry: SchemaIds | None = None) -> None:
        self.schemas = load_schemas(schemas_dir)
        # Writer schemas this codec reads: the current ones and every earlier version.
        writers = [*load_history(schemas_dir), *self.schemas.values()]
        self._by_fingerprint = {s.fingerprint: s for s in writers}
        self._by_canonical = {s.canonical: s for s in writers}
        self.registry = registry

    def encode(self, event: Event) -> bytes:
        schema = self.schemas[event.SCHEMA]
        body = io.BytesIO()
        fastavro.schemaless_writer(body, schema.parsed, event.to_record())
        if self.registry is not None:
            schema_id = self.registry.id_for(f"kaption.{schema.name}", schema)
            return CONFLUENT_MAGIC + struct.pack(">I", schema_id) + body.getvalue()
        return SINGLE_OBJECT_MAGIC + schema.fingerprint + body.getvalue()

    def decode(self, data: bytes | None) -> Event:
        """The typed event; raises DecodeError on anything unreadable."""
        if not data:
            raise DecodeError("empty message")
        writer, body = self._resolve(data)
        schema = self.schemas[writer.name]
        reader = None if writer is schema else schema.parsed  # an earlier version: resolved
        try:
            record = fastavro.schemaless_reader(io.BytesIO(body), writer.parsed, reader)
        except Exception as exc:  # fastavro raises many types for corrupt bodies
            raise DecodeError(f"corrupt {schema.name} body: {exc!r}") from exc
        if not isinstance(record, dict):
            raise DecodeError(f"{schema.name} body is not a record")
        return EVENT_TYPES[schema.name].from_record(record)

    def decode_as(self, kind: type[E], data: bytes | None) -> E:
        event = self.decode(data)
        if not isinstance(event, kind):
            raise DecodeError(f"expected {kind.SCHEMA}, got {event.SCHEMA}")
        return event

    def _resolve(self, data: bytes) -> tuple[EventSchema, bytes]:
        if data.startswith(SINGLE_OBJECT_MAGIC) and len(data) >= 10:
            schema = self._by_fingerprint.get(data[2:10])
            if schema is None:
                raise DecodeError(f"unknown schema fingerprint {data[2:10].hex()}")
            return schema, data[10:]
        if data.startswith(CONFLUENT_MAGIC) and len(data) >= 5 and self.registry is not None:
            (schema_id,) = struct.unpack(">I", data[1:5])
            try:
                canonical = self.registry.canonical_for(schema_id)
            except Exception as exc:
                raise DecodeError(f"schema id {schema_id} not resolvable: {exc}") from exc
            schema = self._by_canonical.get(canonical)
            if schema is None:
                raise DecodeError(f"schema id {schema_id} is not a kaption event")
            return schema, data[5:]
        raise DecodeError(f"unknown encoding (first bytes {data[:2].hex()})")
