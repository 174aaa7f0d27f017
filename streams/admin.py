"""Kafka administration with confluent-kafka's AdminClient: topics from topics.yaml (create
what is missing, report drift) and consumer-group offsets and lag."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, OffsetSpec

from streams.kafka import librdkafka_config
from streams.settings import KaptionSettings
from streams.topics import ApplyReport, drift, load_registry

TIMEOUT_S = 15.0


class BrokerUnreachable(RuntimeError):
    pass


def admin_client(settings: KaptionSettings) -> AdminClient:
    return AdminClient(librdkafka_config(settings))


def topic_partitions(admin: AdminClient, timeout_s: float = TIMEOUT_S) -> dict[str, int]:
    """Every topic on the cluster and its partition count."""
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise BrokerUnreachable(str(exc.args[0])) from exc
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


def apply_topics(settings: KaptionSettings) -> ApplyReport:
    """Creates the missing topics of topics.yaml (under the settings' prefix); reports, and
    never alters, existing ones that differ from their spec."""
    registry = load_registry(settings.topics_file, settings.topic_prefix)
    admin = admin_client(settings)
    existing = topic_partitions(admin)
    wanted = registry.deployed()
    report = ApplyReport()
    missing = [
        NewTopic(name, spec.partitions, 1, config=spec.configs())
        for name, spec in wanted.items()
        if name not in existing
    ]
    if missing:
        for name, future in admin.create_topics(missing, request_timeout=TIMEOUT_S).items():
            future.result()
            report.created.append(name)
    present = sorted(set(wanted) & set(existing))
    if present:
        resources = [ConfigResource("topic", name) for name in present]
        described = admin.describe_configs(resources, request_timeout=TIMEOUT_S)
        for resource, future in described.items():
            configs = {key: entry.value for key, entry in future.result().items()}
            name = resource.name
            problems = drift(wanted[name], existing[name], configs)
            if problems:
                report.drifted[name] = problems
            else:
                report.unchanged.append(name)
    report.unchanged.sort()
    return report


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None  # None: the group has committed nothing here yet
    end: int  # the partition's log end offset

    @property
    def lag(self) -> int:
        """Records the group has yet to process (all of them when it never committed)."""
        return max(0, self.end - (self.committed or 0))


def consumer_lag(
    settings: KaptionSettings, groups: Iterable[str], topics: Sequence[str] | None = None
) -> list[PartitionLag]:
    """Committed offset, end offset and lag per group, topic and partition (``topics`` limits
    it to those topics)."""
    admin = admin_client(settings)
    partitions = topic_partitions(admin)
    found: list[PartitionLag] = []
    for group in groups:
        request = [ConsumerGroupTopicPartitions(group)]
        futures = admin.list_consumer_group_offsets(request, request_timeout=TIMEOUT_S)
        committed = {
            (tp.topic, tp.partition): tp.offset
            for future in futures.values()
            for tp in future.result().topic_partitions or []
        }
        names = topics if topics is not None else sorted({topic for topic, _ in committed})
        tps = [TopicPartition(t, p) for t in names for p in range(partitions.get(t, 0))]
        ends = end_offsets(admin, tps)
        for tp in tps:
            offset = committed.get((tp.topic, tp.partition))
            found.append(
                PartitionLag(
                    group,
                    tp.topic,
                    tp.partition,
                    offset if offset is not None and offset >= 0 else None,
                    ends[(tp.topic, tp.partition)],
                )
            )
    return found


def end_offsets(admin: AdminClient, tps: Sequence[TopicPartition]) -> dict[tuple[str, int], int]:
    if not tps:
        return {}
    futures = admin.list_offsets(
        {tp: OffsetSpec.latest() for tp in tps}, request_timeout=TIMEOUT_S
    )
    return {(tp.topic, tp.partition): future.result().offset for tp, future in futures.items()}
