"""Dead letters (streams/operations/dlq.py): naming, addressing, what `show` and `list` print,
and which records a replay sends where. The broker side is in
tests/integration/test_dead_letters.py."""

from __future__ import annotations

import pytest

from streams.broker.topics import load_registry
from streams.events.codec import AvroCodec
from streams.events.model import SpeechSegment
from streams.operations.dlq import (
    DeadLetter,
    DeadLetterError,
    dead_letter_topics,
    describe,
    list_row,
    once_per_source,
    parse_address,
    resolve,
    target_partition,
)
from streams.settings import KaptionSettings
from tests.examples import EXAMPLES

SETTINGS = KaptionSettings()
REGISTRY = load_registry(SETTINGS.topics_file, "kaption.")
CODEC = AvroCodec(SETTINGS.schemas_dir)


def letter(value: bytes | None, at: int = 0, **errors: str) -> DeadLetter:
    """A dead letter at offset ``at`` of segments.dlq with headers kaption.error.<errors>."""
    headers = {"kaption.error." + k: v.encode() for k, v in errors.items()}
    return DeadLetter("kaption.segments.dlq", 0, at, 1_764_316_800_000, b"k", value, headers)


def test_every_dead_letter_topic_maps_to_its_source() -> None:
    topics = dead_letter_topics(REGISTRY)
    assert topics["segments.dlq"] == "segments"
    assert topics["jobs.status.dlq"] == "jobs.status"
    assert all(REGISTRY.specs[source].dead_letter == dlq for dlq, source in topics.items())
    assert "shadow.transcripts.dlq" not in topics  # read by `models compare` only, no agent


@pytest.mark.parametrize(
    "name", ["segments", "segments.dlq", "kaption.segments", "kaption.segments.dlq"]
)
def test_a_dead_letter_topic_is_named_by_its_source_or_itself(name: str) -> None:
    assert resolve(REGISTRY, name) == "segments.dlq"


def test_an_unknown_topic_names_the_choices() -> None:
    with pytest.raises(DeadLetterError, match=r"choose from .*segments\.dlq"):
        resolve(REGISTRY, "shadow.transcripts")


def test_addresses() -> None:
    assert parse_address("2:17") == (2, 17)
    assert parse_address("17") == (0, 17)
    for bad in ("a:1", "1:", "-1:3", "1:-3", ""):
        with pytest.raises(DeadLetterError):
            parse_address(bad)


def test_show_decodes_an_event_and_summarises_its_audio() -> None:
    segment = EXAMPLES["SpeechSegment"]
    assert isinstance(segment, SpeechSegment)
    shown = describe(letter(CODEC.encode(segment), stage="transcribe"), CODEC)
    assert shown["headers"]["kaption.error.stage"] == "transcribe"
    body = shown["body"]
    assert body["decoded"] and body["event"] == "SpeechSegment"
    pcm = body["record"]["pcm"]
    assert pcm["bytes"] == len(segment.pcm) and len(pcm["hex"]) <= 32
    assert shown["key"] == "k" and shown["time"] == "2025-11-28 08:00:00"


def test_show_previews_what_does_not_decode() -> None:
    garbage = bytes(range(200))
    body = describe(letter(garbage), CODEC)["body"]
    assert not body["decoded"] and "unknown encoding" in body["error"]
    assert body["hex"] == garbage[:64].hex() and body["base64"] and "json" not in body
    assert describe(letter(None), CODEC)["size"] == 0
    cloudevent = b'{"specversion": "1.0", "data": {"source": "a.mp4"}}'
    assert describe(letter(cloudevent), CODEC)["body"]["json"]["data"] == {"source": "a.mp4"}


def test_a_list_row_says_where_from_and_truncates_the_message() -> None:
    row = list_row(
        letter(b"x", topic="kaption.segments", partition="3", offset="9", message="a\nb " * 50),
        replayed=True,
        width=20,
    )
    assert row["source"] == "kaption.segments[3]@9" and row["replayed"]
    assert len(row["message"]) == 20 and row["message"].endswith("…") and "\n" not in row["message"]
    assert list_row(letter(b"x"), replayed=False)["source"] == "-"


def test_a_record_two_stages_dead_lettered_is_replayed_once() -> None:
    source = {"topic": "kaption.segments.transcribed", "partition": "1", "offset": "5"}
    orchestrator = letter(b"v", 0, stage="orchestrator", **source)
    cues = letter(b"v", 1, stage="cues", **source)
    other = letter(b"v", 2, stage="cues", **{**source, "offset": "6"})
    unknown = [letter(b"v", 3), letter(b"v", 4)]  # no headers: nothing to compare, all sent
    assert once_per_source([orchestrator, cues, other, *unknown]) == [orchestrator, other, *unknown]


def test_a_replay_goes_to_the_partition_the_record_came_from() -> None:
    assert target_partition(letter(b"v", partition="3"), partitions=8) == 3
    # Unknown or out of range (the topic shrank?): by key, as the pipeline's producers hash.
    assert target_partition(letter(b"v"), partitions=8) == -1
    assert target_partition(letter(b"v", partition="9"), partitions=8) == -1
