"""Avro codecs: every schema round-trips; unreadable records raise DecodeError, not crashes."""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from fastavro.schema import to_parsing_canonical_form

from streams.events.codec import AvroCodec, DecodeError
from streams.events.model import DecodeRequested, JobRequested
from streams.events.registry import RegistryClient
from streams.resources import SCHEMAS_DIR
from tests.examples import EXAMPLES

SCHEMAS = SCHEMAS_DIR


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return AvroCodec(SCHEMAS)


def test_every_schema_has_an_example() -> None:
    assert set(AvroCodec(SCHEMAS).schemas) == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_single_object_round_trip(codec: AvroCodec, name: str) -> None:
    data = codec.encode(EXAMPLES[name])
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == codec.schemas[name].fingerprint
    assert codec.decode(data) == EXAMPLES[name]


def test_fingerprint_is_crc64_avro_little_endian(codec: AvroCodec) -> None:
    # Avro spec: the fingerprint of the primitive schema "int" is 0x7275d51a3f395c8f.
    from fastavro.schema import fingerprint

    assert bytes.fromhex(fingerprint('"int"', "CRC-64-AVRO")) == struct.pack(
        "<Q", 0x7275D51A3F395C8F
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty message"),
        (None, "empty message"),
        (b'{"json": true}', "unknown encoding"),
        (b"\xc3\x01" + b"\x00" * 8 + b"\x02", "unknown schema fingerprint"),
    ],
)
def test_unreadable_records_are_reported(
    codec: AvroCodec, data: bytes | None, message: str
) -> None:
    with pytest.raises(DecodeError, match=message):
        codec.decode(data)


def test_truncated_body_is_reported(codec: AvroCodec) -> None:
    data = codec.encode(EXAMPLES["SegmentTranscribed"])
    with pytest.raises(DecodeError, match="corrupt SegmentTranscribed"):
        codec.decode(data[:-20])


def test_decode_as_checks_the_event_type(codec: AvroCodec) -> None:
    data = codec.encode(EXAMPLES["DecodeRequested"])
    assert codec.decode_as(DecodeRequested, data) == EXAMPLES["DecodeRequested"]
    with pytest.raises(DecodeError, match="expected JobRequested"):
        codec.decode_as(JobRequested, data)


class _Registry(BaseHTTPRequestHandler):
    """The two Confluent schema-registry endpoints kaption calls, over real HTTP."""

    schemas: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["schema"] not in self.schemas:
            self.schemas.append(body["schema"])
        self._reply({"id": self.schemas.index(body["schema"]) + 1})

    def do_GET(self) -> None:
        schema_id = int(self.path.rsplit("/", 1)[-1])
        self._reply({"schema": self.schemas[schema_id - 1]})

    def _reply(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def registry_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_confluent_wire_format_with_a_registry(registry_url: str) -> None:
    writer = AvroCodec(SCHEMAS, RegistryClient(registry_url))
    data = writer.encode(EXAMPLES["StageFailed"])
    assert data[0] == 0 and struct.unpack(">I", data[1:5])[0] >= 1
    # A fresh reader resolves the id through the registry, not from its own cache.
    reader = AvroCodec(SCHEMAS, RegistryClient(registry_url))
    assert reader.decode(data) == EXAMPLES["StageFailed"]
    canonical = reader.registry.canonical_for(struct.unpack(">I", data[1:5])[0])  # type: ignore[union-attr]
    assert canonical == to_parsing_canonical_form(writer.schemas["StageFailed"].parsed)
    with pytest.raises(DecodeError, match="not resolvable"):
        reader.decode(b"\x00" + struct.pack(">I", 999) + b"\x00")
