"""topics.yaml as typed specs, and drift detection."""

from __future__ import annotations

import pytest

from agents.cues.agent import INPUTS as CUE_INPUTS
from agents.orchestrator.agent import INPUTS
from streams.broker.topics import (
    Outgoing,
    TopicSpec,
    WrongTopicError,
    drift,
    load_registry,
    parse_topics,
)
from streams.events.codec import AvroCodec
from streams.events.model import EVENT_TYPES
from streams.resources import SCHEMAS_DIR, TOPICS_FILE
from tests.examples import EXAMPLES

REGISTRY = load_registry(TOPICS_FILE, "kaption.")


def test_topics_yaml_declares_every_event_and_dead_letters() -> None:
    registry = REGISTRY
    schemas = set(AvroCodec(SCHEMAS_DIR).schemas)
    declared = {s.value_schema for s in registry.specs.values() if s.value_schema}
    # Every event except the embedded record types travels on a topic.
    assert declared == schemas
    for spec in registry.specs.values():
        if spec.value_schema:
            assert spec.dead_letter is None or registry.specs[spec.dead_letter].value_schema is None
    assert registry.name("segments") == "kaption.segments"
    assert registry.dlq_name("segments") == "kaption.segments.dlq"
    assert registry.specs["jobs.status"].cleanup_policy == "compact"


def test_each_stages_inputs_and_changelogs_are_co_partitioned() -> None:
    orchestrator = [*INPUTS, "orchestrator.jobs", "orchestrator.windows"]
    cues = [*CUE_INPUTS, "cues.transcripts", "cues.complete", "cues.speakers"]
    assert REGISTRY.shared_partitions(orchestrator) == REGISTRY.shared_partitions(cues) == 4
    with pytest.raises(ValueError, match="share one partition count"):
        REGISTRY.shared_partitions(["segments", "jobs.requested"])


def test_every_event_the_orchestrator_reads_is_small() -> None:
    for name in INPUTS:
        assert REGISTRY.specs[name].max_message_bytes <= 64 * 1024, name


def test_changelogs_are_declared_and_compacted() -> None:
    changelogs = {n for n, spec in REGISTRY.specs.items() if spec.changelog}
    assert changelogs == {
        "orchestrator.jobs",
        "orchestrator.windows",
        "vad.languages",
        "cues.transcripts",
        "live.phrases",
        "live.phrase-audio",
        "live.voices",
        "cues.live",
        "cues.complete",
        "translate.live",
        "cues.speakers",
    }
    for name in changelogs:
        spec = REGISTRY.specs[name]
        assert spec.cleanup_policy == "compact" and spec.value_schema is None, name


def test_every_topic_carries_one_event_type_keyed_by_one_of_its_fields() -> None:
    for spec in REGISTRY.specs.values():
        if spec.value_schema is not None:
            fields = EVENT_TYPES[spec.value_schema].__dataclass_fields__  # type: ignore[attr-defined]
            assert spec.key in fields, spec.name


def test_keys_come_from_the_declared_field_and_a_wrong_event_is_refused() -> None:
    segment = EXAMPLES["SpeechSegment"]
    assert REGISTRY.key_for("segments", segment) == b"j:0000-0000"
    assert REGISTRY.key_for("jobs.requested", EXAMPLES["JobRequested"]) == b"j"
    with pytest.raises(WrongTopicError, match=r"SpeechSegment published on jobs\.requested"):
        REGISTRY.key_for("jobs.requested", segment)
    assert Outgoing("segments", segment).event is segment


def test_audio_topics_allow_the_largest_event() -> None:
    registry = REGISTRY
    # 30 s of 16 kHz int16 mono plus headroom for the record around it.
    assert registry.specs["segments"].max_message_bytes >= 30 * 16_000 * 2 + 4096
    assert (
        registry.specs["segments.dlq"].max_message_bytes
        == registry.specs["segments"].max_message_bytes
    )


def test_defaults_and_overrides() -> None:
    specs = parse_topics(
        {
            "defaults": {
                "partitions": 3,
                "retention_ms": 10,
                "cleanup_policy": "delete",
                "max_message_bytes": 100,
            },
            "dead_letter_defaults": {"partitions": 1, "retention_ms": 99},
            "topics": {"a": {"value_schema": "A", "dead_letter": True}, "b": {"partitions": 5}},
        }
    )
    assert specs["a"] == TopicSpec("a", 3, 10, "delete", 100, "job_id", "A", "a.dlq")
    assert specs["a.dlq"] == TopicSpec("a.dlq", 1, 99, "delete", 100, "job_id", None, None)
    assert specs["b"].partitions == 5 and specs["b"].dead_letter is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"partitions": 0}, "partitions must be"),
        ({"cleanup_policy": "forever"}, "bad cleanup_policy"),
        ({"replicas": 3}, "unknown keys"),
    ],
)
def test_bad_specs_are_rejected(raw: dict[str, object], message: str) -> None:
    document = {
        "defaults": {
            "partitions": 1,
            "retention_ms": 1,
            "cleanup_policy": "delete",
            "max_message_bytes": 1,
        },
        "topics": {"t": raw},
    }
    with pytest.raises(ValueError, match=message):
        parse_topics(document)


def test_drift_reports_partitions_and_configs() -> None:
    spec = TopicSpec("t", 4, 1000, "delete", 2048, "job_id", "X")
    assert drift(spec, 4, {"cleanup.policy": "delete", "retention.ms": "1000"}) == []
    assert drift(spec, 2, {"cleanup.policy": "compact", "max.message.bytes": "2048"}) == [
        "partitions 2 != 4",
        "cleanup.policy compact != delete",
    ]


def test_audio_topics_are_bounded_by_size_and_time_and_state_is_compacted() -> None:
    specs = load_registry(TOPICS_FILE, "kaption.").specs
    for name in ("audio.ready", "segments", "live.audio", "live.segments"):
        spec = specs[name]
        assert 0 < spec.retention_ms <= 86_400_000, name
        assert spec.retention_bytes > 0 and spec.segment_bytes is not None, name
        assert spec.segment_bytes <= spec.retention_bytes // 2, name
        assert spec.configs()["retention.bytes"] == str(spec.retention_bytes)
    assert all(s.cleanup_policy == "compact" for s in specs.values() if s.changelog)
    assert specs["jobs.status"].cleanup_policy == "compact"
    assert specs["subtitles.ready"].retention_ms > specs["audio.ready"].retention_ms
    assert all(
        s.retention_ms > 0 and s.retention_bytes > 0 for n, s in specs.items() if n.endswith(".dlq")
    )


def test_a_size_limit_needs_segments_that_can_roll() -> None:
    defaults = {"partitions": 1, "retention_ms": 1000, "cleanup_policy": "delete"}
    document = {
        "defaults": defaults | {"max_message_bytes": 100},
        "topics": {"a": {"value_schema": "X", "retention_bytes": 1000}},
    }
    with pytest.raises(ValueError, match="segment_bytes"):
        parse_topics(document)
    document["topics"] = {"a": {"value_schema": "X", "retention_bytes": 1000, "segment_bytes": 500}}
    assert parse_topics(document)["a"].configs()["segment.bytes"] == "500"
