"""The lag exporter against a real broker, scraped over HTTP like Prometheus does, with no worker
running: a known backlog shows as lag, the end offsets are right even where the broker's
ListOffsets is not (Tansu), and an unreachable broker is a failed scrape and a 503 /readyz."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from streams.broker.admin import admin_client, end_offsets, topic_partitions
from streams.broker.tansu import true_end_offsets
from streams.operations.exporter import SCRAPE_SUCCESS, serve_exporter
from streams.runtime.http import Endpoint
from streams.runtime.kafka import librdkafka_config
from streams.settings import KaptionSettings
from tests.integration.conftest import create_topics, fresh_settings

pytestmark = pytest.mark.integration

BACKLOG = 5


def get(url: str) -> tuple[int, str]:
    try:
        with urlopen(url, timeout=30) as response:
            return int(response.status), response.read().decode()
    except HTTPError as error:
        return error.code, error.read().decode()


def scrape(endpoint: Endpoint) -> dict[str, list[Sample]]:
    status, body = get(f"http://127.0.0.1:{endpoint.port}/metrics")
    assert status == 200, body
    return {family.name: family.samples for family in text_string_to_metric_families(body)}


def total(samples: list[Sample], **labels: str) -> float:
    return sum(s.value for s in samples if labels.items() <= s.labels.items())


@pytest.fixture
def settings(bootstrap: str, tmp_path: Path) -> KaptionSettings:
    settings = fresh_settings(bootstrap, tmp_path)
    create_topics(settings)
    return settings


@pytest.fixture
def exporter(settings: KaptionSettings) -> Iterator[Endpoint]:
    endpoint = serve_exporter(settings, 0, host="127.0.0.1")
    yield endpoint
    endpoint.stop()


def commit_at_start(settings: KaptionSettings, group: str, topic: str, partitions: int) -> None:
    consumer = Consumer(librdkafka_config(settings, **{"group.id": group}))
    try:
        offsets = [TopicPartition(topic, p, 0) for p in range(partitions)]
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def test_a_known_backlog_shows_as_the_groups_lag(
    settings: KaptionSettings, exporter: Endpoint
) -> None:
    prefix = settings.topic_prefix
    topic, group = f"{prefix}segments", f"{prefix}transcribe"
    producer = Producer(librdkafka_config(settings))
    for n in range(BACKLOG):  # each record its own batch
        producer.produce(topic, key=f"job-{n}".encode(), value=b"segment")
        assert producer.flush(10) == 0
    partitions = topic_partitions(admin_client(settings))[topic]
    commit_at_start(settings, group, topic, partitions)

    found = scrape(exporter)

    assert total(found[SCRAPE_SUCCESS]) == 1
    assert total(found["kafka_brokers"]) >= 1
    assert total(found["kafka_topic_partitions"], topic=topic) == partitions
    assert total(found["kafka_topic_partition_current_offset"], topic=topic) == BACKLOG
    assert total(found["kafka_topic_partition_oldest_offset"], topic=topic) == 0
    mine = {"consumergroup": group, "topic": topic}
    assert total(found["kafka_consumergroup_lag"], **mine) == BACKLOG
    assert total(found["kafka_consumergroup_lag_sum"], **mine) == BACKLOG
    current = [
        s for s in found["kafka_consumergroup_current_offset"] if s.labels.items() >= mine.items()
    ]
    assert len(current) == partitions and all(s.value == 0 for s in current)
    assert total(found["kafka_consumergroup_current_offset_sum"], **mine) == 0
    # This group has no members anywhere (it only committed).
    assert [
        s.value
        for s in found["kafka_consumergroup_members"]
        if s.labels == {"consumergroup": group}
    ] == [0]
    # Only this deployment's topics and groups.
    for name, samples in found.items():
        for sample in samples:
            for label in ("topic", "consumergroup"):
                assert sample.labels.get(label, prefix).startswith(prefix), (name, sample)

    assert get(f"http://127.0.0.1:{exporter.port}/healthz")[0] == 200
    assert get(f"http://127.0.0.1:{exporter.port}/readyz")[0] == 200


def test_end_offsets_count_every_record_of_a_batch(
    settings: KaptionSettings, exporter: Endpoint
) -> None:
    topic = f"{settings.topic_prefix}segments"
    producer = Producer(librdkafka_config(settings, **{"linger.ms": 200}))
    for n in range(3):  # one batch of three records
        producer.produce(topic, value=f"segment {n}".encode(), partition=0)
    assert producer.flush(10) == 0
    reported = end_offsets(admin_client(settings), [TopicPartition(topic, 0)])[(topic, 0)]
    assert reported == 3  # Apache Kafka: the log end (Tansu answered 1, the batch's base + 1)
    # Tansu's correction reads the true end from a fetch, whatever ListOffsets said.
    assert true_end_offsets(settings, {(topic, 0): 1}, 5.0) == {(topic, 0): 3}
    found = scrape(exporter)
    assert total(found["kafka_topic_partition_current_offset"], topic=topic, partition="0") == 3


def test_an_unreachable_broker_is_a_failed_scrape_and_not_ready(tmp_path: Path) -> None:
    settings = KaptionSettings(
        bootstrap_servers="127.0.0.1:1", topic_prefix="nowhere.", data_dir=tmp_path
    )
    endpoint = serve_exporter(settings, 0, host="127.0.0.1", timeout_s=1.0)
    try:
        start = time.monotonic()
        status, body = get(f"http://127.0.0.1:{endpoint.port}/readyz")
        assert status == 503, body
        found = scrape(endpoint)
        assert time.monotonic() - start < 10
        assert total(found[SCRAPE_SUCCESS]) == 0
        assert not [name for name in found if name.startswith("kafka_")]
        assert get(f"http://127.0.0.1:{endpoint.port}/healthz")[0] == 200
    finally:
        endpoint.stop()
