"""Job status for `kaption status`: every job's latest state, read from the compacted
``jobs.status`` topic with a group-less consumer, and the rows a table or JSON shows.

Rows carry a ``kind`` ("job"; clients/live/status.py makes the "stream" rows of `kaption
streams` from the live cues with the same reader).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from streams.broker.admin import BrokerUnreachable
from streams.broker.topics import load_registry
from streams.events.codec import AvroCodec, DecodeError
from streams.events.model import JobStatus
from streams.events.registry import event_codec
from streams.events.states import FINAL_STATES
from streams.runtime.kafka import librdkafka_config, list_topics
from streams.settings import KaptionSettings

log = logging.getLogger(__name__)

STATUS_TOPIC = "jobs.status"
POLL_S = 0.1
# Columns of the human table, in order (every row has more keys; see status_rows).
COLUMNS = (
    "job",
    "name",
    "state",
    "stage",
    "progress",
    "audio",
    "language",
    "model",
    "age",
    "updated",
    "reason",
)


def read_statuses(settings: KaptionSettings, timeout_s: float = 10.0) -> dict[str, JobStatus]:
    """The latest status of every job on ``jobs.status``, by job id (see ``read_topic``).
    Records that do not decode as a JobStatus are skipped; a tombstone forgets its job."""
    codec = event_codec(settings)
    statuses: dict[str, JobStatus] = {}
    read_topic(
        settings,
        STATUS_TOPIC,
        lambda key, value: _apply(statuses, key, value, codec),
        "job status",
        timeout_s,
    )
    return statuses


def groupless_reader(settings: KaptionSettings, purpose: str) -> Consumer:
    """A consumer for reading topics from their beginning by assignment: a group id of its own
    that it never joins nor commits to, and PARTITION_EOF events that tell each partition's
    end (see read_topic)."""
    return Consumer(
        librdkafka_config(
            settings,
            **{
                "group.id": f"{settings.topic_prefix}{purpose}-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "fetch.wait.max.ms": 100,
            },
        )
    )


def read_topic(
    settings: KaptionSettings,
    logical: str,
    take: Callable[[bytes | None, bytes | None], None],
    what: str,
    timeout_s: float = 10.0,
) -> None:
    """Gives ``take`` the key and value of every record on topic ``logical``, each partition
    from its beginning to its end, joining no consumer group.

    Should the end of some partition not be reached within ``timeout_s``, what was read is
    kept and a warning logged. Raises BrokerUnreachable when the broker does not answer (or
    stopped answering and did not come back within ``timeout_s``). A missing topic has nothing.
    """
    deadline = time.monotonic() + timeout_s
    topic = load_registry(settings.topics_file, settings.topic_prefix).name(logical)
    consumer = groupless_reader(settings, "status")
    try:
        try:
            # KafkaAuthenticationError when the broker refuses our login
            metadata = list_topics(consumer, max(0.1, timeout_s), topic)
        except KafkaException as exc:
            raise BrokerUnreachable(str(exc.args[0])) from exc
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            log.warning("topic %s does not exist: no %s to read", topic, what)
            return
        # End of a partition: librdkafka emits PARTITION_EOF once its fetch position reaches
        # the high watermark carried by the fetch response. That is the true end on Apache
        # Kafka, and on Tansu too, whose ListOffsets answer (get_watermark_offsets with
        # cached=False) can be lower than the end (the base offset of the last batch + 1) and
        # so is not used here. An empty partition reports EOF at once.
        pending = set(found.partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(pending)])
        lost: KafkaError | None = None  # the broker connection, lost while reading
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                if lost is not None:
                    raise BrokerUnreachable(lost.str())
                log.warning(
                    "%s incomplete: partitions %s of %s not read to the end in %.0f s",
                    what,
                    sorted(pending),
                    topic,
                    timeout_s,
                )
                break
            for message in consumer.consume(num_messages=500, timeout=min(POLL_S, left)):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(message.partition())
                    elif error.fatal():
                        raise BrokerUnreachable(error.str())
                    elif error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
                        lost = error
                    continue  # transient errors: librdkafka retries itself
                lost = None
                take(message.key(), message.value())
    finally:
        consumer.close()


def _apply(
    statuses: dict[str, JobStatus], key: bytes | None, value: bytes | None, codec: AvroCodec
) -> None:
    if value is None:  # a tombstone: the job is gone
        if key is not None:
            statuses.pop(key.decode(errors="replace"), None)
        return
    try:
        event = codec.decode(value)
    except DecodeError:
        return  # not ours to judge: the orchestrator's topic, its dead letters
    if isinstance(event, JobStatus):
        statuses[event.job_id] = event


def humanise_seconds(seconds: float) -> str:
    """A short duration: "45s", "2m05s", "1h02m", "3d04h" (negative counts as zero)."""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def job_row(status: JobStatus, now: datetime) -> dict[str, object]:
    """One job's row: display strings plus the numbers behind them; JSON-serialisable."""
    age_s = (now - status.requested_at).total_seconds()
    updated_s = (now - status.updated_at).total_seconds()
    final = status.state in FINAL_STATES
    settled = status.segments_done + status.segments_failed  # transcribed or given up on
    return {
        "kind": "job",
        "job": status.job_id,
        "name": status.name,
        "source": status.source,
        "state": status.state.value,
        # A running job's stage is its state; a finished one is in no stage.
        "stage": None if final else status.state.value.lower(),
        "final": final,
        "progress": f"{settled}/{status.segments_total}",
        "segments_total": status.segments_total,
        "segments_done": status.segments_done,
        "segments_failed": status.segments_failed,
        "audio": f"{status.audio_seconds_done:.1f}/{status.audio_seconds_total:.1f} s",
        "audio_seconds_total": status.audio_seconds_total,
        "audio_seconds_done": status.audio_seconds_done,
        "language": status.language,
        "model": ", ".join(status.models),
        "models": list(status.models),
        "age": humanise_seconds(age_s),
        "age_s": round(age_s, 1),
        "updated": humanise_seconds(updated_s),
        "updated_s": round(updated_s, 1),
        "requested_at": status.requested_at.isoformat(),
        "updated_at": status.updated_at.isoformat(),
        "reason": status.reason,
    }


def status_rows(statuses: Iterable[JobStatus], now: datetime) -> list[dict[str, object]]:
    """Rows for ``statuses``, newest request first (``now`` must be timezone-aware, as the
    events' datetimes are)."""
    ordered = sorted(statuses, key=lambda s: (s.requested_at, s.job_id), reverse=True)
    return [job_row(status, now) for status in ordered]


def status_json(statuses: Iterable[JobStatus], now: datetime, indent: int | None = 2) -> str:
    """The rows as a JSON array."""
    return json.dumps(status_rows(statuses, now), indent=indent)
