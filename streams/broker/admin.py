"""Kafka administration with confluent-kafka's AdminClient: topics from topics.yaml (create
what is missing, report drift), consumer-group offsets and lag, and the cluster reads the lag
exporter (streams/operations/exporter.py) makes on each scrape. A read's timeout (seconds)
bounds all of it, the broker lookup included."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, OffsetSpec

from streams.broker import tansu
from streams.broker.kind import broker_kind
from streams.broker.topics import ApplyReport, drift, load_registry, replication
from streams.runtime.kafka import BrokerUnreachable, librdkafka_config, list_topics
from streams.settings import KaptionSettings

log = logging.getLogger(__name__)
TIMEOUT_S = 15.0
RETRY_S = 0.1  # between ListOffsets asked again after a retriable error
LEADER_SETTLING = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE}
Partition = tuple[str, int]  # (topic, partition)


def admin_client(settings: KaptionSettings) -> AdminClient:
    return AdminClient(librdkafka_config(settings))


@dataclass(frozen=True)
class ClusterMetadata:
    brokers: int
    partitions: dict[str, int]  # every topic and its partition count
    replicas: dict[str, int]  # every topic and its first partition's replica count


def cluster_metadata(admin: AdminClient, timeout_s: float = TIMEOUT_S) -> ClusterMetadata:
    """The brokers and topics of the cluster, from one metadata request."""
    try:
        # KafkaAuthenticationError when the broker refuses our login
        metadata = list_topics(admin, timeout_s)
    except KafkaException as exc:
        raise BrokerUnreachable(str(exc.args[0])) from exc
    return ClusterMetadata(
        len(metadata.brokers),
        {name: len(topic.partitions) for name, topic in metadata.topics.items()},
        {
            name: len(topic.partitions[0].replicas) if 0 in topic.partitions else 0
            for name, topic in metadata.topics.items()
        },
    )


def topic_partitions(admin: AdminClient, timeout_s: float = TIMEOUT_S) -> dict[str, int]:
    """Every topic on the cluster and its partition count."""
    return cluster_metadata(admin, timeout_s).partitions


def apply_topics(settings: KaptionSettings) -> ApplyReport:
    """Creates the missing topics of topics.yaml (under the settings' prefix) with the
    replication the cluster allows (streams.broker.topics.replication); reports, and never alters,
    existing ones that differ from their spec."""
    registry = load_registry(settings.topics_file, settings.topic_prefix)
    admin = admin_client(settings)
    cluster = cluster_metadata(admin)
    existing = cluster.partitions
    copies = replication(cluster.brokers, settings.replication_factor, settings.min_insync_replicas)
    wanted = registry.deployed()
    report = ApplyReport(replication=copies)
    missing = [
        NewTopic(name, spec.partitions, copies.factor, config=spec.configs() | copies.configs())
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
            problems = drift(
                wanted[name], existing[name], configs, cluster.replicas.get(name), copies
            )
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
        ends = log_end_offsets(settings, admin, tps)
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


def end_offsets(
    admin: AdminClient, tps: Sequence[TopicPartition], timeout_s: float = TIMEOUT_S
) -> dict[tuple[str, int], int]:
    """Each partition's log end offset as ListOffsets(latest) answers it: right on Apache Kafka,
    short on Tansu (see :func:`log_end_offsets`)."""
    return _list_offsets(admin, tps, OffsetSpec.latest(), timeout_s)


def log_end_offsets(
    settings: KaptionSettings,
    admin: AdminClient,
    tps: Sequence[TopicPartition],
    timeout_s: float = TIMEOUT_S,
) -> dict[tuple[str, int], int]:
    """Each partition's log end offset: the broker's ListOffsets answer on Apache Kafka; on
    Tansu, which answers the last batch's base offset plus one, corrected by a fetch
    (:func:`streams.broker.tansu.true_end_offsets`)."""
    ends = end_offsets(admin, tps, timeout_s)
    if broker_kind(settings) == "tansu":
        return tansu.true_end_offsets(settings, ends, timeout_s=min(5.0, timeout_s))
    return ends


def oldest_offsets(
    admin: AdminClient, tps: Sequence[TopicPartition], timeout_s: float = TIMEOUT_S
) -> dict[tuple[str, int], int]:
    """Each partition's oldest offset still in the log (ListOffsets earliest)."""
    return _list_offsets(admin, tps, OffsetSpec.earliest(), timeout_s)


def _list_offsets(
    admin: AdminClient, tps: Sequence[TopicPartition], spec: OffsetSpec, timeout_s: float
) -> dict[tuple[str, int], int]:
    """ListOffsets, asked again within ``timeout_s`` while a partition answers a retriable
    error: right after a topic is created, Apache Kafka names a leader in its metadata before
    that broker serves as one (NOT_LEADER_FOR_PARTITION; a scrape right after `topics apply`
    failed on it)."""
    if not tps:
        return {}
    deadline = time.monotonic() + timeout_s
    while True:
        futures = admin.list_offsets({tp: spec for tp in tps}, request_timeout=timeout_s)
        try:
            return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            settling = isinstance(error, KafkaError) and (
                error.retriable() or error.code() in LEADER_SETTLING
            )
            if not settling or time.monotonic() + RETRY_S >= deadline:
                raise
            time.sleep(RETRY_S)


def consumer_groups(admin: AdminClient, timeout_s: float = TIMEOUT_S) -> list[str]:
    """Every consumer group the cluster knows (ListGroups), those that only committed offsets
    included (Tansu names only groups that have committed offsets)."""
    listing = admin.list_consumer_groups(request_timeout=timeout_s).result()
    return sorted(group.group_id for group in listing.valid)


def group_members(
    admin: AdminClient, groups: Sequence[str], timeout_s: float = TIMEOUT_S
) -> dict[str, int]:
    """How many members each group has (DescribeGroups). Tansu lists none, even for a Stable
    group whose consumers are running: callers that count workers ask streams.broker.kind."""
    if not groups:
        return {}
    futures = admin.describe_consumer_groups(list(groups), request_timeout=timeout_s)
    return {group: len(future.result().members) for group, future in futures.items()}


def committed_offsets(
    admin: AdminClient, groups: Sequence[str], timeout_s: float = TIMEOUT_S
) -> dict[str, dict[tuple[str, int], int]]:
    """The offset each group has committed, per topic and partition (OffsetFetch); partitions
    where a group has committed nothing are left out. The requests run together."""
    futures = {
        group: admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=timeout_s
        )[group]
        for group in groups
    }
    return {
        group: {
            (tp.topic, tp.partition): tp.offset
            for tp in future.result().topic_partitions or []
            if tp.offset >= 0
        }
        for group, future in futures.items()
    }
