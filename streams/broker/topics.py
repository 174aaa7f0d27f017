"""The topic registry: topics.yaml as typed specs, event-to-topic checks, and drift."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from streams.events.model import Event

DLQ_SUFFIX = ".dlq"
_KEYS = {
    "partitions",
    "retention_ms",
    "retention_bytes",
    "segment_bytes",
    "cleanup_policy",
    "max_message_bytes",
    "key",
    "value_schema",
    "dead_letter",
}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event bound for a topic (logical name): what stage code returns for publishing."""

    topic: str
    event: Event
    # Set (e.g. seconds of audio): sent to the partition with the least weight so far instead of
    # by key hash, so consumers get even work (streams/runtime/spread.py).
    weight: float | None = None


class WrongTopicError(TypeError):
    """An event published on a topic declared for another event type: a bug, so it is loud."""


@dataclass(frozen=True)
class TopicSpec:
    name: str  # logical name, e.g. "segments"
    partitions: int
    retention_ms: int
    cleanup_policy: str
    max_message_bytes: int
    key: str  # the event field that is the Kafka key (for changelogs: what the key is)
    value_schema: str | None  # None for dead letters (original bytes) and changelogs
    dead_letter: str | None = None  # logical name of its dead-letter topic
    changelog: bool = False  # a stage's table changelog
    # Bytes kept per partition (-1: no limit): retention deletes whole closed segments, so a
    # size limit needs segments well below it.
    retention_bytes: int = -1
    segment_bytes: int | None = None  # None: the broker's log.segment.bytes

    def configs(self) -> dict[str, str]:
        """Kafka topic configs this spec pins (compared on drift checks)."""
        pinned = {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            "retention.bytes": str(self.retention_bytes),
            "max.message.bytes": str(self.max_message_bytes),
        }
        if self.segment_bytes is not None:
            pinned["segment.bytes"] = str(self.segment_bytes)
        return pinned


@dataclass(frozen=True)
class TopicRegistry:
    specs: Mapping[str, TopicSpec]
    prefix: str = "kaption."

    def name(self, logical: str) -> str:
        """Deployed topic name for a logical name (KeyError for an undeclared topic)."""
        return self.prefix + self.specs[logical].name

    def dlq_name(self, logical: str) -> str:
        dlq = self.specs[logical].dead_letter
        if dlq is None:
            raise KeyError(f"topic {logical!r} declares no dead-letter topic")
        return self.name(dlq)

    def deployed(self) -> dict[str, TopicSpec]:
        return {self.prefix + spec.name: spec for spec in self.specs.values()}

    def key_for(self, logical: str, event: Event) -> bytes:
        """The Kafka key of ``event`` on ``logical``; WrongTopicError if the topic carries
        another event type."""
        spec = self.specs[logical]
        if spec.value_schema != event.SCHEMA:
            raise WrongTopicError(
                f"{event.SCHEMA} published on {logical}, which carries {spec.value_schema}"
            )
        return str(getattr(event, spec.key)).encode()

    def shared_partitions(self, logicals: Iterable[str]) -> int:
        """The one partition count of topics read together (a stage's tables are
        co-partitioned with them); ValueError when they differ."""
        counts = {name: self.specs[name].partitions for name in logicals}
        if len(set(counts.values())) != 1:
            raise ValueError(f"these topics must share one partition count: {counts}")
        return next(iter(counts.values()))


def _spec(name: str, raw: Mapping[str, Any], defaults: Mapping[str, Any]) -> TopicSpec:
    merged = {**defaults, **raw}
    unknown = set(merged) - _KEYS
    if unknown:
        raise ValueError(f"topic {name}: unknown keys {sorted(unknown)}")
    if merged["cleanup_policy"] not in ("delete", "compact", "compact,delete"):
        raise ValueError(f"topic {name}: bad cleanup_policy {merged['cleanup_policy']!r}")
    if int(merged["partitions"]) < 1:
        raise ValueError(f"topic {name}: partitions must be >= 1")
    retention_bytes = int(merged.get("retention_bytes", -1))
    segment_bytes = merged.get("segment_bytes")
    if retention_bytes != -1 and (
        segment_bytes is None or int(segment_bytes) > retention_bytes // 2
    ):
        raise ValueError(f"topic {name}: retention_bytes needs segment_bytes of at most half of it")
    return TopicSpec(
        name=name,
        partitions=int(merged["partitions"]),
        retention_ms=int(merged["retention_ms"]),
        cleanup_policy=str(merged["cleanup_policy"]),
        max_message_bytes=int(merged["max_message_bytes"]),
        key=str(merged.get("key", "job_id")),
        value_schema=merged.get("value_schema"),
        dead_letter=name + DLQ_SUFFIX if merged.get("dead_letter") else None,
        retention_bytes=retention_bytes,
        segment_bytes=None if segment_bytes is None else int(segment_bytes),
    )


def parse_topics(document: Mapping[str, Any]) -> dict[str, TopicSpec]:
    """Specs by logical name: event topics, their dead-letter topics (which keep the original
    bytes) and the stages' changelogs."""
    defaults = document.get("defaults", {})
    dlq_defaults = {**defaults, **document.get("dead_letter_defaults", {})}
    changelog_defaults = {**defaults, **document.get("changelog_defaults", {})}
    specs: dict[str, TopicSpec] = {}
    for name, raw in (document.get("topics") or {}).items():
        spec = _spec(name, raw or {}, defaults)
        specs[name] = spec
        if spec.dead_letter:
            raw_dlq = {"max_message_bytes": spec.max_message_bytes}
            dlq = replace(_spec(spec.dead_letter, raw_dlq, dlq_defaults), key=spec.key)
            specs[dlq.name] = replace(dlq, value_schema=None)
    for name, raw in (document.get("changelogs") or {}).items():
        if name in specs or "value_schema" in (raw or {}):
            raise ValueError(f"changelog {name}: a duplicate name or a value_schema")
        specs[name] = replace(_spec(name, raw or {}, changelog_defaults), changelog=True)
    return specs


def load_registry(path: Path, prefix: str) -> TopicRegistry:
    with path.open() as fh:
        return TopicRegistry(parse_topics(yaml.safe_load(fh)), prefix)


@dataclass(frozen=True)
class Replication:
    """How many copies of each partition, and how many must have a record before a producer
    with acks=all counts it as stored (None: the broker's default, 1)."""

    factor: int
    min_insync: int | None = None

    def configs(self) -> dict[str, str]:
        return {} if self.min_insync is None else {"min.insync.replicas": str(self.min_insync)}


def replication(
    brokers: int, factor: int | None = None, min_insync: int | None = None
) -> Replication:
    """min(3, brokers) copies and 2 in sync where there are 3 or more brokers, unless given:
    one broker may fail (a leader killed, a rolling restart) and no acknowledged record is
    lost. ValueError for more copies than brokers, or more in sync than copies."""
    factor = factor or min(3, brokers)
    if min_insync is None and factor >= 3:
        min_insync = 2
    if factor > brokers:
        raise ValueError(
            f"replication factor {factor} needs {factor} brokers; the cluster has {brokers}"
        )
    if min_insync is not None and min_insync > factor:
        raise ValueError(
            f"min.insync.replicas {min_insync} exceeds the replication factor {factor}"
        )
    return Replication(factor, min_insync)


def drift(
    spec: TopicSpec,
    partitions: int,
    configs: Mapping[str, str],
    replicas: int | None = None,
    wanted: Replication | None = None,
) -> list[str]:
    """How an existing topic differs from its spec and the wanted replication (empty when it
    matches)."""
    found = []
    if partitions != spec.partitions:
        found.append(f"partitions {partitions} != {spec.partitions}")
    if wanted is not None and replicas is not None and replicas != wanted.factor:
        found.append(f"replication factor {replicas} != {wanted.factor}")
    pinned = spec.configs() | (wanted.configs() if wanted is not None else {})
    for key, wanted_value in pinned.items():
        actual = configs.get(key)
        if actual is not None and actual != wanted_value:
            found.append(f"{key} {actual} != {wanted_value}")
    return found


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drifted: dict[str, list[str]] = field(default_factory=dict)
    replication: Replication | None = None  # what topics are created with and checked against

    def lines(self) -> Iterable[str]:
        if self.replication is not None:
            insync = self.replication.min_insync or "broker default"
            yield (f"replication factor {self.replication.factor}, min.insync.replicas {insync}")
        for name in self.created:
            yield f"created   {name}"
        for name in self.unchanged:
            yield f"ok        {name}"
        for name, problems in self.drifted.items():
            yield f"DRIFT     {name}: {'; '.join(problems)}"
