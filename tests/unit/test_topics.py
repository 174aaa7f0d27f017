"""topics.yaml as typed specs, and drift detection."""

from __future__ import annotations

import pytest

from agents.orchestrator import INPUTS
from streams.codec import AvroCodec
from streams.settings import REPO_ROOT
from streams.topics import TopicSpec, drift, load_registry, parse_topics


def test_topics_yaml_declares_every_event_and_dead_letters() -> None:
    registry = load_registry(REPO_ROOT / "topics.yaml", "kaption.")
    schemas = set(AvroCodec(REPO_ROOT / "schemas").schemas)
    declared = {s.value_schema for s in registry.specs.values() if s.value_schema}
    # Every event except the embedded record types travels on a topic.
    assert declared == schemas
    for spec in registry.specs.values():
        if spec.value_schema:
            assert spec.dead_letter is None or registry.specs[spec.dead_letter].value_schema is None
    assert registry.name("segments") == "kaption.segments"
    assert registry.dlq_name("segments") == "kaption.segments.dlq"
    assert registry.specs["jobs.status"].cleanup_policy == "compact"


def test_orchestrator_inputs_are_co_partitioned() -> None:
    registry = load_registry(REPO_ROOT / "topics.yaml", "kaption.")
    assert len({registry.specs[name].partitions for name in INPUTS}) == 1


def test_audio_topics_allow_the_largest_event() -> None:
    registry = load_registry(REPO_ROOT / "topics.yaml", "kaption.")
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
