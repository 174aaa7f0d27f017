"""A Confluent-compatible schema registry client (the two REST calls kaption needs).

Ids are cached per process: a registry id never changes meaning, so one lookup suffices.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any

from fastavro.schema import to_parsing_canonical_form

from streams.events.codec import AvroCodec, EventSchema
from streams.settings import KaptionSettings


class RegistryClient:
    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._ids: dict[str, int] = {}
        self._canonical: dict[int, str] = {}
        self._lock = threading.Lock()

    def id_for(self, subject: str, schema: EventSchema) -> int:
        with self._lock:
            if subject not in self._ids:
                body = {"schema": schema.canonical, "schemaType": "AVRO"}
                reply = self._call("POST", f"/subjects/{subject}/versions", body)
                self._ids[subject] = int(reply["id"])
                self._canonical[self._ids[subject]] = schema.canonical
            return self._ids[subject]

    def canonical_for(self, schema_id: int) -> str:
        with self._lock:
            if schema_id not in self._canonical:
                reply = self._call("GET", f"/schemas/ids/{schema_id}", None)
                self._canonical[schema_id] = to_parsing_canonical_form(json.loads(reply["schema"]))
            return self._canonical[schema_id]

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            reply: dict[str, Any] = json.loads(response.read())
            return reply


def event_codec(settings: KaptionSettings) -> AvroCodec:
    """The codec every process uses: Confluent wire format when a registry is configured."""
    registry = (
        RegistryClient(settings.schema_registry_url) if settings.schema_registry_url else None
    )
    return AvroCodec(settings.schemas_dir, registry)
