"""Model switches on ``models.control``: the events, the stages that take them, and a reader
that follows the topic from its beginning without a consumer group (every worker of a stage
must see every switch; a group would give each switch to one of them)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from streams.broker.topics import load_registry
from streams.events.codec import AvroCodec, DecodeError
from streams.events.model import ModelServing, ModelState, ModelSwitch
from streams.runtime.kafka import librdkafka_config
from streams.settings import KaptionSettings

CONTROL_TOPIC = "models.control"
STATUS_TOPIC = "models.status"
SHADOW_TOPIC = "shadow.transcripts"
SHADOW_LIVE_TOPIC = "shadow.live.transcripts"
# The stages whose model `kaption models use` switches (each follows its own key).
SWITCHABLE = ("transcribe", "transcribe-live")


def now() -> datetime:
    return datetime.now(UTC)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def switch(stage: str, model: str) -> ModelSwitch:
    if stage not in SWITCHABLE:
        raise ValueError(f"stage {stage!r} has no switchable model: choose {', '.join(SWITCHABLE)}")
    return ModelSwitch(stage=stage, model=model, request_id=uuid.uuid4().hex, requested_at=now())


def latest(switches: Iterable[ModelSwitch], stage: str) -> ModelSwitch | None:
    """The stage's last switch in topic order (what compaction keeps), if any."""
    found = None
    for event in switches:
        if event.stage == stage:
            found = event
    return found


def serving_event(
    worker: str,
    stage: str,
    model: str,
    state: ModelState,
    requested: str = "",
    request_id: str = "",
    reason: str = "",
    load_seconds: float = 0.0,
) -> ModelServing:
    return ModelServing(
        instance=f"{worker}/{stage}",
        worker=worker,
        stage=stage,
        model=model,
        state=state,
        requested=requested,
        request_id=request_id,
        reason=reason,
        load_seconds=load_seconds,
        at=now(),
    )


def refreshed(event: ModelServing) -> ModelServing:
    """The same state, reported again now (a periodic report: `models list` tells a live
    worker from one that died without deleting its entry)."""
    return replace(event, request_id="", at=now())


class ControlReader:
    """Reads ``models.control`` from its beginning by assignment, joining no group; ``end``
    tells when every partition has been read to the end once (the choices made so far)."""

    def __init__(self, settings: KaptionSettings, codec: AvroCodec) -> None:
        self.codec = codec
        registry = load_registry(settings.topics_file, settings.topic_prefix)
        self.topic = registry.name(CONTROL_TOPIC)
        self.consumer = Consumer(
            librdkafka_config(
                settings,
                **{
                    "group.id": f"{settings.topic_prefix}models-{uuid.uuid4().hex}",
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    "fetch.wait.max.ms": 200,
                },
            )
        )
        partitions = range(registry.specs[CONTROL_TOPIC].partitions)
        self.pending = set(partitions)
        self.consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])

    @property
    def at_end(self) -> bool:
        return not self.pending

    def poll(self, timeout_s: float) -> list[ModelSwitch]:
        switches = []
        for message in self.consumer.consume(num_messages=100, timeout=timeout_s):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self.pending.discard(message.partition())
                continue  # transient errors: librdkafka retries itself
            value = message.value()
            if value is None:
                continue  # a tombstone: no choice, the stage keeps what it serves
            try:
                event = self.codec.decode(value)
            except DecodeError:
                continue
            if isinstance(event, ModelSwitch):
                switches.append(event)
        return switches

    def read_to_end(self, timeout_s: float) -> list[ModelSwitch]:
        """Every switch up to the end of each partition, or what came within ``timeout_s``
        (an unreachable broker: the worker starts on its default model and follows later)."""
        deadline = time.monotonic() + timeout_s
        switches: list[ModelSwitch] = []
        while not self.at_end and time.monotonic() < deadline:
            switches += self.poll(min(0.5, max(0.01, deadline - time.monotonic())))
        return switches

    def close(self) -> None:
        self.consumer.close()
