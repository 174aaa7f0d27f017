"""Dead letters an operator can work with: list, inspect and replay the records the stage
runner (streams/runtime/stage.py) sent to ``<topic>.dlq``.

Every read is group-less (assign, never join) from a partition's oldest record up to its true
end (``log_end_offsets``: corrected on Tansu, whose ListOffsets undercounts). Replay
re-publishes a dead letter's original key and value to its source topic, on the partition it
came from (the stages' tables are co-partitioned by key, and segments are spread by weight, not
key hash), with a
``kaption.replayed-from`` header. A full replay remembers how far it got by committing offsets
for a replay consumer group (never joined), so running it twice replays nothing twice;
explicit offsets replay exactly those records and move nothing.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from streams.broker.admin import (
    BrokerUnreachable,
    admin_client,
    committed_offsets,
    log_end_offsets,
    oldest_offsets,
    topic_partitions,
)
from streams.broker.topics import DLQ_SUFFIX, TopicRegistry, load_registry
from streams.events.codec import AvroCodec, DecodeError
from streams.runtime.kafka import librdkafka_config
from streams.settings import KaptionSettings

log = logging.getLogger(__name__)

ERROR_HEADER = "kaption.error."
REPLAYED_FROM = "kaption.replayed-from"  # "<dlq topic>:<partition>:<offset>" of the dead letter
REPLAY_GROUP = "dlq-replay"  # under the topic prefix: what full replays have done
READ_TIMEOUT_S = 30.0
PREVIEW_BYTES = 64
BYTES_PREVIEW = 16  # of a bytes field (audio) in a decoded body


class DeadLetterError(ValueError):
    """A dead-letter topic or record that does not exist: a usage error."""


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic: the original key and value, and why it is there."""

    topic: str  # deployed dead-letter topic
    partition: int
    offset: int
    timestamp_ms: int  # when it was dead-lettered
    key: bytes | None
    value: bytes | None
    headers: Mapping[str, bytes] = field(default_factory=dict)

    def header(self, name: str, default: str = "") -> str:
        raw = self.headers.get(ERROR_HEADER + name)
        return raw.decode(errors="replace") if raw is not None else default

    @property
    def address(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def source_partition(self) -> int | None:
        try:
            return int(self.header("partition"))
        except ValueError:
            return None

    @property
    def source(self) -> tuple[str, str, str]:
        """Where it was read from: topic, partition and offset, as the headers say."""
        return self.header("topic"), self.header("partition"), self.header("offset")

    @property
    def time(self) -> str:
        if self.timestamp_ms <= 0:
            return "-"
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Replayed:
    letter: DeadLetter
    topic: str  # the source topic it went back to
    partition: int
    offset: int  # its offset there (-1 on a dry run)


def dead_letter_topics(registry: TopicRegistry) -> dict[str, str]:
    """Every dead-letter topic (logical) and the source topic (logical) it holds records of."""
    return {
        spec.dead_letter: logical for logical, spec in registry.specs.items() if spec.dead_letter
    }


def resolve(registry: TopicRegistry, name: str) -> str:
    """The logical dead-letter topic an operator means: its source (``segments``), itself
    (``segments.dlq``) or either deployed (``kaption.segments.dlq``)."""
    topics = dead_letter_topics(registry)
    for candidate in (name, name.removeprefix(registry.prefix)):
        if candidate in topics:
            return candidate
        if candidate + DLQ_SUFFIX in topics:
            return candidate + DLQ_SUFFIX
    raise DeadLetterError(f"no dead-letter topic {name!r}; choose from {', '.join(sorted(topics))}")


def parse_address(text: str) -> tuple[int, int]:
    """``PARTITION:OFFSET`` (or a bare offset on partition 0: dead-letter topics have one)."""
    partition, _, offset = text.rpartition(":")
    try:
        parsed = (int(partition or 0), int(offset))
    except ValueError:
        raise DeadLetterError(f"not PARTITION:OFFSET: {text!r}") from None
    if parsed[0] < 0 or parsed[1] < 0:
        raise DeadLetterError(f"not PARTITION:OFFSET: {text!r}")
    return parsed


def _letter(message: Message) -> DeadLetter:
    headers = {
        str(header[0]): header[1] if isinstance(header[1], bytes) else str(header[1] or "").encode()
        for header in message.headers() or []
    }
    kind, timestamp = message.timestamp()
    return DeadLetter(
        topic=str(message.topic()),
        partition=int(message.partition() or 0),
        offset=int(message.offset() or 0),
        timestamp_ms=int(timestamp) if kind else 0,
        key=message.key(),
        value=message.value(),
        headers=headers,
    )


def _reader(settings: KaptionSettings, group: str | None = None) -> Consumer:
    """A consumer that is only ever assigned partitions: it joins no group. ``group`` names the
    group its commits go to (replay); otherwise a throwaway one that never commits."""
    return Consumer(
        librdkafka_config(
            settings,
            **{
                "group.id": group or f"{settings.topic_prefix}dlq-reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 100,
            },
        )
    )


def _read_ranges(
    consumer: Consumer, ranges: Mapping[tuple[str, int], tuple[int, int]], timeout_s: float
) -> list[DeadLetter]:
    """Records in [start, end) of each (topic, partition); what arrived within ``timeout_s``
    (a warning names the partitions not read to their end)."""
    pending = {tp: bounds for tp, bounds in ranges.items() if bounds[0] < bounds[1]}
    if not pending:
        return []
    consumer.assign([TopicPartition(t, p, start) for (t, p), (start, _) in pending.items()])
    found: list[DeadLetter] = []
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for message in consumer.consume(num_messages=500, timeout=0.2):
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise BrokerUnreachable(error.str())
                continue  # transient: librdkafka retries
            tp = (str(message.topic()), int(message.partition() or 0))
            bounds = pending.get(tp)
            if bounds is None or int(message.offset() or 0) >= bounds[1]:
                continue
            found.append(_letter(message))
            if int(message.offset() or 0) >= bounds[1] - 1:
                del pending[tp]
    if pending:
        log.warning(
            "dead letters not read to the end within %.0f s: %s", timeout_s, sorted(pending)
        )
    return sorted(found, key=lambda d: (d.topic, d.partition, d.offset))


def _ranges(
    settings: KaptionSettings, topics: Iterable[str], starts: Mapping[tuple[str, int], int]
) -> dict[tuple[str, int], tuple[int, int]]:
    """[first, end) per partition of the deployed ``topics`` that exist; ``starts`` raises the
    first offset (a replay group's commits)."""
    admin = admin_client(settings)
    partitions = topic_partitions(admin)
    tps = [TopicPartition(t, p) for t in topics for p in range(partitions.get(t, 0))]
    ends = log_end_offsets(settings, admin, tps)
    oldest = oldest_offsets(admin, tps)
    return {key: (max(oldest[key], starts.get(key, 0)), end) for key, end in ends.items()}


def read_dead_letters(
    settings: KaptionSettings,
    logicals: Sequence[str] | None = None,
    timeout_s: float = READ_TIMEOUT_S,
) -> list[DeadLetter]:
    """Every record of the given dead-letter topics (logical; default all) as they are now."""
    registry = load_registry(settings.topics_file, settings.topic_prefix)
    names = [registry.name(t) for t in (logicals or sorted(dead_letter_topics(registry)))]
    ranges = _ranges(settings, names, {})
    consumer = _reader(settings)
    try:
        return _read_ranges(consumer, ranges, timeout_s)
    finally:
        consumer.close()


def read_one(
    settings: KaptionSettings, logical: str, partition: int, offset: int, timeout_s: float = 10.0
) -> DeadLetter:
    registry = load_registry(settings.topics_file, settings.topic_prefix)
    topic = registry.name(logical)
    ranges = _ranges(settings, [topic], {})
    first, end = ranges.get((topic, partition), (0, 0))
    if not first <= offset < end:
        raise DeadLetterError(
            f"no record {partition}:{offset} on {topic} (offsets {first}..{end - 1})"
        )
    consumer = _reader(settings)
    try:
        found = _read_ranges(consumer, {(topic, partition): (offset, offset + 1)}, timeout_s)
    finally:
        consumer.close()
    if not found:
        raise DeadLetterError(
            f"record {partition}:{offset} of {topic} not read within {timeout_s:.0f} s"
        )
    return found[0]


def _jsonable(value: Any) -> Any:
    """A decoded event's record as JSON: bytes (audio) as their size and first bytes."""
    if isinstance(value, bytes):
        return {"bytes": len(value), "hex": value[:BYTES_PREVIEW].hex()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def describe(letter: DeadLetter, codec: AvroCodec) -> dict[str, Any]:
    """Everything about one dead letter, for ``kaption dlq show``: headers, key, and the body
    decoded as its event when it decodes, else its size and a preview (and the body itself
    when it is JSON)."""
    value = letter.value or b""
    body: dict[str, Any]
    try:
        event = codec.decode(value)
        body = {"decoded": True, "event": event.SCHEMA, "record": _jsonable(event.to_record())}
    except DecodeError as exc:
        body = {
            "decoded": False,
            "error": str(exc),
            "hex": value[:PREVIEW_BYTES].hex(),
            "base64": base64.b64encode(value[:PREVIEW_BYTES]).decode(),
        }
        with contextlib.suppress(ValueError):  # JSON (jobs.requested.json) is shown whole
            body["json"] = json.loads(value)
    return {
        "topic": letter.topic,
        "partition": letter.partition,
        "offset": letter.offset,
        "time": letter.time,
        "key": (letter.key or b"").decode(errors="replace") if letter.key is not None else None,
        "headers": {k: v.decode(errors="replace") for k, v in letter.headers.items()},
        "size": len(value),
        "body": body,
    }


def list_row(letter: DeadLetter, replayed: bool, width: int = 80) -> dict[str, Any]:
    topic, partition, offset = letter.source
    message = " ".join(letter.header("message").split())
    if len(message) > width:
        message = message[: width - 1] + "…"
    return {
        "dlq": letter.topic,
        "at": letter.address,
        "time": letter.time,
        "source": f"{topic}[{partition}]@{offset}" if topic else "-",
        "stage": letter.header("stage", "-"),
        "error": letter.header("class", "-"),
        "attempt": letter.header("attempt", "-"),
        "replayed": replayed,
        "message": message,
    }


def replay_group(settings: KaptionSettings) -> str:
    return settings.topic_prefix + REPLAY_GROUP


def replayed_up_to(settings: KaptionSettings, group: str) -> dict[tuple[str, int], int]:
    """The next offset a full replay by ``group`` would start at, per dead-letter partition."""
    return committed_offsets(admin_client(settings), [group]).get(group, {})


def replay(
    settings: KaptionSettings,
    logical: str,
    addresses: Sequence[tuple[int, int]] = (),
    group: str | None = None,
    dry_run: bool = False,
    timeout_s: float = READ_TIMEOUT_S,
) -> list[Replayed]:
    """Re-publishes dead letters of ``logical`` (a dead-letter topic) to their source topic.

    With ``addresses``: exactly those records, nothing committed. Without: every record the
    replay ``group`` has not replayed yet, then the group's offsets move past them, only once
    each has been acknowledged by the broker (a failed send commits nothing: run it again).
    """
    registry = load_registry(settings.topics_file, settings.topic_prefix)
    source = dead_letter_topics(registry)[logical]
    source_topic, dlq_topic = registry.name(source), registry.name(logical)
    group = group or replay_group(settings)
    if addresses:
        letters = [read_one(settings, logical, p, o) for p, o in addresses]
    else:
        starts = replayed_up_to(settings, group)
        ranges = _ranges(settings, [dlq_topic], starts)
        consumer = _reader(settings)
        try:
            letters = _read_ranges(consumer, ranges, timeout_s)
        finally:
            consumer.close()
    partitions = registry.specs[source].partitions
    unique = once_per_source(letters)
    if dry_run:
        return [Replayed(d, source_topic, target_partition(d, partitions), -1) for d in unique]
    done = _produce(settings, source_topic, dlq_topic, unique, partitions)
    if not addresses and letters:
        _commit(settings, group, letters)
    return done


def once_per_source(letters: Sequence[DeadLetter]) -> list[DeadLetter]:
    """One dead letter per source record: a topic two stages read (segments.transcribed) gets
    the same record dead-lettered by each, and replaying it once reaches both again."""
    seen: set[tuple[tuple[str, str, str], bytes | None]] = set()
    unique = []
    for letter in letters:
        source = (letter.source, letter.value)
        if letter.source[0] and source in seen:
            continue
        seen.add(source)
        unique.append(letter)
    return unique


def target_partition(letter: DeadLetter, partitions: int) -> int:
    """The partition it was read from; by key (as the pipeline's producers hash) otherwise."""
    original = letter.source_partition
    return original if original is not None and 0 <= original < partitions else -1


def _produce(
    settings: KaptionSettings,
    topic: str,
    dlq_topic: str,
    letters: Sequence[DeadLetter],
    partitions: int,
) -> list[Replayed]:
    producer = Producer(
        librdkafka_config(
            settings,
            **{
                "enable.idempotence": True,
                "acks": "all",
                "partitioner": "murmur2_random",  # Java's and aiokafka's key hash
                "message.max.bytes": 70_000_000,
            },
        )
    )
    done: list[Replayed] = []
    errors: list[str] = []
    for letter in letters:
        replayed_from: bytes = f"{dlq_topic}:{letter.partition}:{letter.offset}".encode()
        headers: list[tuple[str, str | bytes | None]] = [(REPLAYED_FROM, replayed_from)]

        def delivered(
            error: KafkaError | None, message: Message, letter: DeadLetter = letter
        ) -> None:
            if error is not None:
                errors.append(f"{letter.address}: {error.str()}")
            else:
                done.append(
                    Replayed(
                        letter, topic, int(message.partition() or 0), int(message.offset() or 0)
                    )
                )

        # -1 (RD_KAFKA_PARTITION_UA): the partitioner picks, by key.
        producer.produce(
            topic,
            letter.value,
            letter.key,
            partition=target_partition(letter, partitions),
            headers=headers,
            on_delivery=delivered,
        )
    left = producer.flush(READ_TIMEOUT_S)
    if errors or left:
        raise BrokerUnreachable(
            f"replayed {len(done)} of {len(letters)} to {topic}; not delivered: "
            + "; ".join(errors or [f"{left} still in flight"])
        )
    return sorted(done, key=lambda r: (r.letter.partition, r.letter.offset))


def _commit(settings: KaptionSettings, group: str, letters: Sequence[DeadLetter]) -> None:
    """The replay group's offsets past what was replayed (a group-less, simple-consumer
    commit: no member ever joins the group)."""
    after: dict[tuple[str, int], int] = {}
    for letter in letters:
        key = (letter.topic, letter.partition)
        after[key] = max(after.get(key, 0), letter.offset + 1)
    consumer = _reader(settings, group)
    try:
        consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in after.items()], asynchronous=False
        )
    except KafkaException as exc:
        raise BrokerUnreachable(
            f"replayed, but could not record it for group {group}: {exc}"
        ) from exc
    finally:
        consumer.close()


def to_json(rows: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps(list(rows), indent=2, ensure_ascii=False)
