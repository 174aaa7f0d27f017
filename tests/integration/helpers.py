"""Shared integration helpers: reading topics without a consumer group, scraping a worker."""

from __future__ import annotations

import time
import urllib.request
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from streams.runtime.kafka import librdkafka_config
from streams.settings import KaptionSettings


def read(
    settings: KaptionSettings, logical: str, count: int, timeout_s: float = 30.0
) -> list[Message]:
    """Reads ``logical`` (under the settings' prefix) from the beginning until ``count``
    records arrived or the timeout passed; commits nothing."""
    topic = settings.topic_prefix + logical
    consumer = Consumer(
        librdkafka_config(
            settings, **{"group.id": f"reader-{uuid.uuid4().hex}", "enable.auto.commit": False}
        )
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        found: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while len(found) < count and time.monotonic() < deadline:
            found += [m for m in consumer.consume(100, timeout=0.2) if m.error() is None]
        return found
    finally:
        consumer.close()


def value_of(message: Message) -> bytes:
    value = message.value()
    assert isinstance(value, bytes), value
    return value


def headers_of(message: Message) -> dict[str, str]:
    found = {}
    for header in message.headers() or []:
        key, value = header[0], header[1]
        found[str(key)] = value.decode() if isinstance(value, bytes) else str(value)
    return found


def topic_bytes(settings: KaptionSettings, logical: str, timeout_s: float = 3.0) -> list[int]:
    """Sizes (key + value) of every record on the topic now."""
    records = read(settings, logical, count=10**9, timeout_s=timeout_s)
    return [len(m.key() or b"") + len(m.value() or b"") for m in records]


def scrape(port: int, family: str) -> list[Sample]:
    """The samples of metric ``family`` (its _count, _sum, _bucket ones for a histogram) that
    the worker serving /metrics on ``port`` reports now."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return [
        sample
        for found in text_string_to_metric_families(text)
        if found.name == family
        for sample in found.samples
    ]


def cli(settings: KaptionSettings, *args: str) -> str:
    """`kaption ARGS` in this process against the settings' broker and prefix; its output,
    asserting it succeeded."""
    from click.testing import CliRunner

    from clients.cli import main

    flags = ["--bootstrap-servers", str(settings.bootstrap_servers)]
    flags += ["--topic-prefix", settings.topic_prefix]
    result = CliRunner().invoke(main, [*args, *flags], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout
