"""docs/events.md describes the job request's bytes for producers in other languages: what it
says must be what kaption writes and reads (the canonical form, its fingerprint, the example)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from streams.events.codec import AvroCodec
from streams.events.model import JobRequested
from streams.settings import KaptionSettings
from tests.paths import REPO

DOC = (REPO / "docs" / "events.md").read_text()
CODEC = AvroCodec(KaptionSettings().schemas_dir)
EXAMPLE = JobRequested(
    job_id="j1",
    source="/media/a.mp4",
    name="a",
    language="en",
    requested_at=datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
)


def documented_bytes() -> bytes:
    """The example's hex columns (before each line's comment), joined."""
    block = DOC.split("is these 47 bytes:\n\n```\n", 1)[1].split("```", 1)[0]
    columns = [re.split(r"\s{2,}", line.strip())[0] for line in block.splitlines()]
    return bytes.fromhex("".join(columns))


def test_the_documented_example_is_what_kaption_writes_and_reads() -> None:
    encoded = CODEC.encode(EXAMPLE)
    assert documented_bytes() == encoded and len(encoded) == 47
    assert CODEC.decode(documented_bytes()) == EXAMPLE


def test_a_producer_of_the_first_version_is_still_read() -> None:
    """Version 1 (no model, no language_detection): its fingerprint and body, as the previous
    docs/events.md gave them, read into today's event with the new fields' defaults."""
    v1 = bytes.fromhex("c30140fd976ba9d0969e046a31182f6d656469612f612e6d7034026104656e80c8e78ec868")
    assert CODEC.decode(v1) == EXAMPLE
    assert (EXAMPLE.model, EXAMPLE.language_detection) == ("", "job")
    assert "40 FD 97 6B A9 D0 96 9E" in DOC and "kaption.JobRequested.v1.avsc" in DOC


def test_a_producer_of_the_second_version_is_still_read() -> None:
    """Version 2 (no speaker options): the 43 bytes the previous docs/events.md gave."""
    v2 = bytes.fromhex(
        "c30180497a0422e4f08d046a31182f6d656469612f612e6d7034026104656e80c8e78ec86800066a6f6200"
    )
    assert CODEC.decode(v2) == EXAMPLE and not EXAMPLE.speakers
    assert "80 49 7A 04 22 E4 F0 8D" in DOC and "kaption.JobRequested.v2.avsc" in DOC


def test_the_documented_canonical_form_and_fingerprint_are_kaptions() -> None:
    schema = CODEC.schemas["JobRequested"]
    assert schema.canonical in DOC
    assert " ".join(f"{b:02X}" for b in schema.fingerprint) in DOC
