"""Shared test helpers: reading topics without a consumer group, scoring transcripts."""

from __future__ import annotations

import asyncio
import re
import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from streams.kafka import client_kwargs
from streams.settings import KaptionSettings


async def read_topic(
    settings: KaptionSettings, topic: str, partitions: int, count: int, timeout_s: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Reads until ``count`` records arrived (or the timeout), from the beginning of ``topic``."""
    consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + timeout_s
        while len(found) < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(records)
        return found
    finally:
        await consumer.stop()


def read(
    settings: KaptionSettings, topic: str, partitions: int, count: int
) -> list[ConsumerRecord[bytes, bytes]]:
    return asyncio.run(read_topic(settings, topic, partitions, count))


def normalise(text: str) -> str:
    """Lowercase words without punctuation, for word error rates."""
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).strip()
