"""The consumer-lag exporter: offsets and lag per consumer group, topic and partition under
kafka_exporter's metric names (github.com/danielqsj/kafka_exporter), so the dashboards and
alerts written for it work unchanged, here and where kafka_exporter itself runs in production.

Every scrape of ``/metrics`` reads the cluster with confluent-kafka's AdminClient
(streams/broker/admin.py), all of it within one time budget (``timeout_s``), and exports:

- ``kafka_brokers``: brokers in the cluster
- ``kafka_topic_partitions{topic}``: partitions of the topic
- ``kafka_topic_partition_current_offset{topic,partition}``: log end offset (the next one written)
- ``kafka_topic_partition_oldest_offset{topic,partition}``: oldest offset still in the log
- ``kafka_consumergroup_current_offset{consumergroup,topic,partition}``: the committed offset
- ``kafka_consumergroup_current_offset_sum{consumergroup,topic}``: their sum over the topic
- ``kafka_consumergroup_lag{consumergroup,topic,partition}``: end offset minus committed offset
- ``kafka_consumergroup_lag_sum{consumergroup,topic}``: their sum over the topic
- ``kafka_consumergroup_members{consumergroup}``: members of the group (DescribeGroups)
- ``kaption_exporter_scrape_success``: 1 when every read of this scrape worked, else 0 (kaption's
  own: kafka_exporter has no such series)
- ``kaption_exporter_scrape_seconds``: how long this scrape's reads took

Which topics and groups: those whose names match the regular expressions ``topic_filter`` and
``group_filter`` (kafka_exporter's ``--topic.filter`` and ``--group.filter``, matched anywhere in
the name as Go's ``MatchString`` does), by default ``^<topic prefix>`` for both, so one exporter
shows one kaption deployment (its topics, changelogs and dead-letter topics; its groups are
``<prefix><stage>``).

Lag semantics. A group's series exist for the partitions where it has committed an offset, and
a topic where it has committed none has no series at all for that group (kafka_exporter skips
such topics too). ``lag`` is ``max(0, end - committed)``; ``lag_sum`` and ``current_offset_sum``
add the partitions that have series. Two deliberate differences from kafka_exporter:

- kafka_exporter gives a partition without a committed offset, in a topic where the group has
  committed others, ``current_offset -1`` and ``lag -1`` (a sentinel to alert on), and adds the
  -1 into ``current_offset_sum``. Here such a partition has no series, so sums are plain sums of
  real offsets; ``lag_sum`` is the same in both (kafka_exporter leaves the sentinel out of it).
  So a backlog on a partition where the group has never committed shows no lag (in both): a
  group's partition appears once the group commits there (a kaption stage commits after it
  processes records). To see a whole backlog as lag before a group's first commit, commit the
  group's offsets at the start of the partitions (``Consumer.commit``).
- kafka_exporter reports ``end - committed`` as is, negative when a committed offset is past the
  reported end; here lag is clamped at 0. On Apache Kafka that happens when a group commits
  between a scrape's read of end offsets and its read of committed offsets (the reads are not
  one snapshot); on Tansu also through its short end offsets (below).

Members: ``kafka_consumergroup_members`` counts DescribeGroups' members, for every matching
group ListGroups names. The embedded broker Tansu describes a running group as Stable but with
no members, so it reads 0 there; and its ListGroups names only groups that have committed
offsets, so a group that has joined but not yet committed has no series at all there.

The Tansu end-offset quirk: Tansu answers ListOffsets(latest) with the base offset of the
partition's LAST BATCH plus one instead of the log end offset, so it undercounts when that batch
holds several records (Apache Kafka's answer is exact). On Tansu only (streams/broker/kind.py),
each scrape also fetches once from every non-empty matching partition at its reported end
(:func:`streams.broker.tansu.true_end_offsets`), whose high watermark is right. It is best effort
inside the scrape's budget (a partition without an answer keeps its reported end) and needs READ
on the topics; ``fetch_high_watermarks`` forces it on or off.

A broker that cannot be reached, or a read that fails or runs out of time, never fails the
scrape: the kafka_* series are left out, ``kaption_exporter_scrape_success`` is 0, and the
failure is logged once (and the recovery once). ``/readyz`` is 200 when the last read of the
cluster (a scrape, or a metadata probe when none happened in the last ``READY_MAX_AGE_S``)
reached the broker, 503 otherwise; ``/healthz`` is always 200. The exporter has its own
``CollectorRegistry``: its series never mix with a worker's.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from streams.broker import tansu
from streams.broker.admin import (
    Partition,
    admin_client,
    cluster_metadata,
    committed_offsets,
    consumer_groups,
    end_offsets,
    group_members,
    oldest_offsets,
)
from streams.broker.kind import broker_kind
from streams.runtime.http import Endpoint, serve
from streams.settings import KaptionSettings

log = logging.getLogger(__name__)

EndProbe = Callable[[Mapping[Partition, int], float], dict[Partition, int]]

DEFAULT_PORT = 9308  # kafka_exporter's
DEFAULT_TIMEOUT_S = 5.0  # all the reads of one scrape together (Prometheus' default timeout: 10 s)
READY_MAX_AGE_S = 15.0  # /readyz probes the broker when no read is more recent than this

BROKERS = "kafka_brokers"
TOPIC_PARTITIONS = "kafka_topic_partitions"
TOPIC_CURRENT_OFFSET = "kafka_topic_partition_current_offset"
TOPIC_OLDEST_OFFSET = "kafka_topic_partition_oldest_offset"
GROUP_CURRENT_OFFSET = "kafka_consumergroup_current_offset"
GROUP_CURRENT_OFFSET_SUM = "kafka_consumergroup_current_offset_sum"
GROUP_LAG = "kafka_consumergroup_lag"
GROUP_LAG_SUM = "kafka_consumergroup_lag_sum"
GROUP_MEMBERS = "kafka_consumergroup_members"
SCRAPE_SUCCESS = "kaption_exporter_scrape_success"
SCRAPE_SECONDS = "kaption_exporter_scrape_seconds"

# name: (help, labels); names, labels and help as kafka_exporter has them.
KAFKA_EXPORTER_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    BROKERS: ("Number of Brokers in the Kafka Cluster.", ()),
    TOPIC_PARTITIONS: ("Number of partitions for this Topic", ("topic",)),
    TOPIC_CURRENT_OFFSET: ("Current Offset of a Broker at Topic/Partition", ("topic", "partition")),
    TOPIC_OLDEST_OFFSET: ("Oldest Offset of a Broker at Topic/Partition", ("topic", "partition")),
    GROUP_CURRENT_OFFSET: (
        "Current Offset of a ConsumerGroup at Topic/Partition",
        ("consumergroup", "topic", "partition"),
    ),
    GROUP_CURRENT_OFFSET_SUM: (
        "Current Offset of a ConsumerGroup at Topic for all partitions",
        ("consumergroup", "topic"),
    ),
    GROUP_LAG: (
        "Current Approximate Lag of a ConsumerGroup at Topic/Partition",
        ("consumergroup", "topic", "partition"),
    ),
    GROUP_LAG_SUM: (
        "Current Approximate Lag of a ConsumerGroup at Topic for all partitions",
        ("consumergroup", "topic"),
    ),
    GROUP_MEMBERS: ("Amount of members in a consumer group", ("consumergroup",)),
}
SCRAPE_METRICS: dict[str, str] = {
    SCRAPE_SUCCESS: "1 when every read of the cluster in this scrape worked, 0 otherwise",
    SCRAPE_SECONDS: "How long this scrape's reads of the cluster took",
}


@dataclass(frozen=True)
class ClusterOffsets:
    """What one scrape read from the cluster, already limited to the matching topics and
    groups."""

    brokers: int
    partitions: Mapping[str, int]  # topic: partition count
    oldest: Mapping[Partition, int]
    end: Mapping[Partition, int]
    members: Mapping[str, int]  # group: members
    committed: Mapping[str, Mapping[Partition, int]]  # group: committed offsets (>= 0 only)


def default_filter(prefix: str) -> str:
    """The regular expression of names that start with ``prefix``."""
    return "^" + re.escape(prefix)


def matching(names: Iterable[str], pattern: str) -> list[str]:
    """The names the regular expression matches anywhere (Go's ``MatchString``), sorted."""
    regex = re.compile(pattern)
    return sorted(name for name in names if regex.search(name))


def _gauges() -> dict[str, GaugeMetricFamily]:
    return {
        name: GaugeMetricFamily(name, help_text, labels=list(labels))
        for name, (help_text, labels) in KAFKA_EXPORTER_METRICS.items()
    }


def metric_families(offsets: ClusterOffsets) -> list[Metric]:
    """The kafka_exporter families for what a scrape read (lag semantics: module docstring)."""
    gauges = _gauges()
    gauges[BROKERS].add_metric([], offsets.brokers)
    for topic, count in sorted(offsets.partitions.items()):
        gauges[TOPIC_PARTITIONS].add_metric([topic], count)
        for partition in range(count):
            labels = [topic, str(partition)]
            if (topic, partition) in offsets.end:
                gauges[TOPIC_CURRENT_OFFSET].add_metric(labels, offsets.end[(topic, partition)])
            if (topic, partition) in offsets.oldest:
                gauges[TOPIC_OLDEST_OFFSET].add_metric(labels, offsets.oldest[(topic, partition)])
    for group, members in sorted(offsets.members.items()):
        gauges[GROUP_MEMBERS].add_metric([group], members)
    for group, committed in sorted(offsets.committed.items()):
        by_topic: dict[str, list[tuple[int, int]]] = {}
        for (topic, partition), offset in committed.items():
            if offset >= 0 and partition < offsets.partitions.get(topic, 0):
                by_topic.setdefault(topic, []).append((partition, offset))
        for topic, partitions in sorted(by_topic.items()):
            offset_sum = lag_sum = 0
            for partition, offset in sorted(partitions):
                labels = [group, topic, str(partition)]
                gauges[GROUP_CURRENT_OFFSET].add_metric(labels, offset)
                offset_sum += offset
                end = offsets.end.get((topic, partition))
                if end is not None:
                    lag = max(0, end - offset)
                    gauges[GROUP_LAG].add_metric(labels, lag)
                    lag_sum += lag
            gauges[GROUP_CURRENT_OFFSET_SUM].add_metric([group, topic], offset_sum)
            gauges[GROUP_LAG_SUM].add_metric([group, topic], lag_sum)
    return list(gauges.values())


def scrape_families(success: bool | None, seconds: float) -> list[Metric]:
    """kaption's own two series about the scrape (``success`` None: families without samples)."""
    families = [GaugeMetricFamily(name, help_text) for name, help_text in SCRAPE_METRICS.items()]
    if success is not None:
        families[0].add_metric([], 1 if success else 0)
        families[1].add_metric([], seconds)
    return list(families)


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; TimeoutError once (nearly) none are."""
        left = self.end - time.monotonic()
        if left < 0.01:
            raise TimeoutError("the scrape ran out of time")
        return left


def read_offsets(
    admin: AdminClient,
    topic_filter: str,
    group_filter: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    true_ends: EndProbe | None = None,
) -> ClusterOffsets:
    """Reads brokers, the matching topics' offsets and the matching groups' members and
    committed offsets, all within ``timeout_s``; ``true_ends`` corrects the end offsets (it gets
    them and the seconds it may take). Raises whatever the first failed read raised, TimeoutError
    when the time is up."""
    deadline = _Deadline(timeout_s)
    cluster = cluster_metadata(admin, deadline.left())
    names = matching(cluster.partitions, topic_filter)
    topics = {topic: cluster.partitions[topic] for topic in names}
    tps = [TopicPartition(topic, p) for topic, count in topics.items() for p in range(count)]
    end = end_offsets(admin, tps, deadline.left())
    oldest = oldest_offsets(admin, tps, deadline.left())
    if true_ends is not None:  # half the time left at most: the group reads still need theirs
        end = true_ends(end, deadline.left() / 2)
    groups = matching(consumer_groups(admin, deadline.left()), group_filter)
    members = group_members(admin, groups, deadline.left())
    committed = committed_offsets(admin, groups, deadline.left())
    return ClusterOffsets(cluster.brokers, topics, oldest, end, members, committed)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KafkaException) and exc.args:
        return str(exc.args[0])
    return f"{type(exc).__name__}: {exc}"


class LagCollector:
    """A prometheus_client collector: each ``collect()`` (each scrape) reads the cluster anew
    (``read_offsets``, within ``timeout_s``). Scrapes that overlap wait for each other rather
    than pile reads on the broker."""

    def __init__(
        self,
        settings: KaptionSettings,
        topic_filter: str | None = None,
        group_filter: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        fetch_high_watermarks: bool | None = None,
    ) -> None:
        self.settings = settings
        prefixed = default_filter(settings.topic_prefix)
        self.topic_filter = prefixed if topic_filter is None else topic_filter
        self.group_filter = prefixed if group_filter is None else group_filter
        re.compile(self.topic_filter)  # a bad expression fails here, not on every scrape
        re.compile(self.group_filter)
        self.timeout_s = timeout_s
        self.fetch_high_watermarks = fetch_high_watermarks
        self._admin = admin_client(settings)
        self._scraping = threading.Lock()
        self._state = threading.Lock()
        self._reached: bool | None = None  # did the last read reach the broker (None: no read)
        self._read_at = 0.0

    def _true_ends(self, ends: Mapping[Partition, int], timeout_s: float) -> dict[Partition, int]:
        """End offsets corrected by a fetch: on Tansu only, unless set. Called once the scrape
        has read the end offsets, so the broker answers the kind's question at once."""
        correct = self.fetch_high_watermarks
        if correct is None:
            correct = broker_kind(self.settings) == "tansu"
        return tansu.true_end_offsets(self.settings, ends, timeout_s) if correct else dict(ends)

    def describe(self) -> list[Metric]:
        """The families without samples: the registry checks names without reading Kafka."""
        return [*_gauges().values(), *scrape_families(None, 0.0)]

    def collect(self) -> list[Metric]:
        with self._scraping:
            start = time.monotonic()
            families: list[Metric] = []
            success = False
            try:
                offsets = read_offsets(
                    self._admin,
                    self.topic_filter,
                    self.group_filter,
                    self.timeout_s,
                    self._true_ends,
                )
            except Exception as exc:  # a scrape reports a failure, it never raises one
                self._record(False, exc)
            else:
                self._record(True)
                families, success = metric_families(offsets), True
            seconds = time.monotonic() - start
        return [*families, *scrape_families(success, seconds)]

    def ready(self) -> bool:
        """Whether the last read of the cluster reached the broker; probes it (metadata, within
        ``timeout_s``) when no read is more recent than READY_MAX_AGE_S."""
        with self._state:
            reached, age = self._reached, time.monotonic() - self._read_at
        if reached is not None and age < READY_MAX_AGE_S:
            return reached
        try:
            cluster_metadata(self._admin, self.timeout_s)
        except Exception as exc:
            self._record(False, exc)
            return False
        self._record(True)
        return True

    def _record(self, reached: bool, error: BaseException | None = None) -> None:
        with self._state:
            before, self._reached, self._read_at = self._reached, reached, time.monotonic()
        where = self.settings.bootstrap_servers
        if not reached and before is not False:
            reason = _reason(error) if error is not None else "unknown"
            log.warning("lag exporter: cannot read Kafka at %s: %s (logged once)", where, reason)
        elif reached and before is False:
            log.warning("lag exporter: Kafka at %s answers again", where)


def exporter_registry(collector: LagCollector) -> CollectorRegistry:
    """A registry of its own with only the exporter's collector: never the default registry,
    so the exporter's series and a worker's never mix."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def serve_exporter(
    settings: KaptionSettings,
    port: int,
    host: str = "0.0.0.0",
    *,
    topic_filter: str | None = None,
    group_filter: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    fetch_high_watermarks: bool | None = None,
) -> Endpoint:
    """Serves the lag exporter from a daemon thread: ``/metrics`` (kafka_exporter's names,
    read from the cluster ``settings.bootstrap_servers`` names on each scrape), ``/healthz`` and
    ``/readyz`` (503 while the broker cannot be reached). ``port`` 0 picks a free one
    (``Endpoint.port``); kafka_exporter's port is ``DEFAULT_PORT`` (9308).

    ``topic_filter``/``group_filter``: regular expressions (kafka_exporter's ``--topic.filter``
    and ``--group.filter``), by default the names that start with ``settings.topic_prefix``.
    ``timeout_s`` bounds all the reads of one scrape and a readiness probe.
    ``fetch_high_watermarks`` corrects Tansu's short end offsets
    (``streams.broker.tansu.true_end_offsets``; None: on Tansu only); it needs READ on the
    topics. Stop it with ``Endpoint.stop()``.
    """
    collector = LagCollector(settings, topic_filter, group_filter, timeout_s, fetch_high_watermarks)

    def checks() -> dict[str, bool]:
        return {"kafka": collector.ready()}

    return serve(port, checks, host, registry=exporter_registry(collector))
