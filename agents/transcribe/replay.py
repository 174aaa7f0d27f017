"""`kaption models replay NAME`: retained segments through model NAME into shadow.transcripts,
so `kaption models compare` covers jobs transcribed before the shadow existed.

Reads ``segments`` without a consumer group (the transcription group's offsets stay as they
are) from the offsets at ``since`` (or the oldest kept) up to the end offsets when it started,
then stops by itself; transcribes them in batches with the shadow's functions and priority.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from agents.transcribe.agent import configured_batch_size, transcribe_segments, transcribed
from agents.transcribe.shadow_agent import niced, shadow_model
from streams.broker.topics import load_registry
from streams.events.codec import DecodeError
from streams.events.model import SpeechSegment
from streams.events.registry import event_codec
from streams.models.catalog import load_catalog
from streams.models.control import SHADOW_TOPIC
from streams.runtime.kafka import librdkafka_config
from streams.settings import KaptionSettings

SOURCE = "segments"


def start_offsets(
    consumer: Consumer, topic: str, partitions: Sequence[int], since: datetime | None
) -> dict[int, int]:
    """Where each partition's replay starts: the first offset at or after ``since`` (-1: none
    that late), or the oldest kept."""
    if since is None:
        return {p: OFFSET_BEGINNING for p in partitions}
    ms = int(since.timestamp() * 1000)
    found = consumer.offsets_for_times([TopicPartition(topic, p, ms) for p in partitions], 10)
    return {tp.partition: tp.offset for tp in found}


def replay(
    settings: KaptionSettings,
    name: str,
    since: datetime | None,
    jobs: Sequence[str],
    say: Callable[[str], Any],
) -> int:
    """The number of segments transcribed and published."""
    registry = load_registry(settings.topics_file, settings.topic_prefix)
    codec = event_codec(settings)
    spec = load_catalog(settings).get(name)
    model = shadow_model(settings, spec)
    topic = registry.name(SOURCE)
    partitions = list(range(registry.specs[SOURCE].partitions))
    consumer = Consumer(
        librdkafka_config(
            settings,
            **{
                "group.id": f"{settings.topic_prefix}replay-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            },
        )
    )
    producer = Producer(librdkafka_config(settings, **{"acks": "all"}))
    published = 0

    def flush(batch: list[SpeechSegment]) -> None:
        nonlocal published
        if not batch:
            return
        done = niced(
            settings.shadow_nice,
            lambda: transcribe_segments(settings, batch, lambda _: (spec, model), False),
        )
        for segment, result in zip(batch, done, strict=True):
            event = transcribed(segment, result, 1)
            producer.produce(
                registry.name(SHADOW_TOPIC),
                codec.encode(event),
                registry.key_for(SHADOW_TOPIC, event),
            )
        if producer.flush(30):
            raise RuntimeError(f"could not publish to {SHADOW_TOPIC}")
        published += len(batch)
        say(f"  {published} segments")
        batch.clear()

    try:
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
        starts = start_offsets(consumer, topic, partitions, since)
        pending = {p for p in partitions if starts[p] != -1 and ends[p] > 0}
        done_at = {p: ends[p] - 1 for p in partitions}  # the last offset to replay
        consumer.assign([TopicPartition(topic, p, starts[p]) for p in sorted(pending)])
        batch: list[SpeechSegment] = []
        size = configured_batch_size(settings)
        while pending:
            for message in consumer.consume(num_messages=size, timeout=1.0):
                partition = message.partition()
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(partition)
                    continue
                offset = message.offset() or 0
                if partition not in pending or offset > done_at[partition]:
                    pending.discard(partition)  # what came after the start is not replayed
                    continue
                if offset == done_at[partition]:
                    pending.discard(partition)
                try:
                    segment = codec.decode_as(SpeechSegment, message.value())
                except DecodeError:
                    continue
                if not jobs or segment.job_id in jobs:
                    batch.append(segment)
                if len(batch) >= size:
                    flush(batch)
        flush(batch)
    finally:
        consumer.close()
    return published
