"""Submitting jobs and following them to the end, from any process that reaches the broker
(confluent-kafka: an idempotent producer with acks=all, and a group-less reader)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from streams.admin import BrokerUnreachable
from streams.codec import DecodeError
from streams.events import Event, JobRequested, JobState, JobStatus, SubtitlesReady
from streams.kafka import librdkafka_config
from streams.registry import event_codec
from streams.settings import KaptionSettings
from streams.states import FINAL_STATES
from streams.topics import Outgoing, load_registry

POLL_S = 0.2
TIMEOUT_S = 15.0


@dataclass(frozen=True)
class JobResult:
    status: JobStatus  # the final status
    subtitles: SubtitlesReady | None  # absent for FAILED jobs

    @property
    def state(self) -> JobState:
        return self.status.state

    def write(self, out_dir: Path) -> list[Path]:
        """Writes <name>.srt and <name>.vtt; returns the paths."""
        if self.subtitles is None:
            return []
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for fmt, text in (("srt", self.subtitles.srt), ("vtt", self.subtitles.vtt)):
            path = out_dir / f"{self.subtitles.name}.{fmt}"
            path.write_text(text, encoding="utf-8")
            paths.append(path)
        return paths


class JobTimeout(TimeoutError):
    pass


class JobClient:
    """Producer for job requests plus a group-less reader of status and subtitles.

    The reader is positioned at the end of both topics *before* anything is submitted, so no
    result is missed, and it joins no consumer group (no rebalance wait).
    """

    def __init__(self, settings: KaptionSettings) -> None:
        self.settings = settings
        self.registry = load_registry(settings.topics_file, settings.topic_prefix)
        self.codec = event_codec(settings)
        self.producer = Producer(
            librdkafka_config(settings, **{"enable.idempotence": True, "acks": "all"})
        )
        self.consumer = Consumer(
            librdkafka_config(
                settings,
                **{
                    "group.id": f"{settings.topic_prefix}client-{uuid.uuid4().hex}",
                    "enable.auto.commit": False,
                    "fetch.wait.max.ms": 100,
                },
            )
        )
        self.statuses: dict[str, JobStatus] = {}
        self.subtitles: dict[str, SubtitlesReady] = {}

    def __enter__(self) -> JobClient:
        try:
            # Connect the producer now rather than at the first submit (librdkafka still takes
            # ~0.5 s after start to get its idempotent producer id).
            self.producer.list_topics(self.registry.name("jobs.requested"), timeout=TIMEOUT_S)
            self._assign_at_end(("jobs.status", "subtitles.ready"))
        except KafkaException as exc:
            self.close()
            raise BrokerUnreachable(str(exc.args[0])) from exc
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.consumer.close()
        self.producer.flush(TIMEOUT_S)

    def _assign_at_end(self, logicals: tuple[str, ...]) -> None:
        assigned = []
        for logical in logicals:
            topic = self.registry.name(logical)
            for partition in range(self.registry.specs[logical].partitions):
                tp = TopicPartition(topic, partition)
                _, end = self.consumer.get_watermark_offsets(tp, timeout=TIMEOUT_S)
                assigned.append(TopicPartition(topic, partition, end))
        self.consumer.assign(assigned)

    def send(self, out: Outgoing) -> None:
        """Publishes one event and waits for the broker's acknowledgement."""
        errors: list[KafkaError] = []

        def delivered(error: KafkaError | None, message: Any) -> None:
            if error is not None:
                errors.append(error)

        self.producer.produce(
            self.registry.name(out.topic),
            self.codec.encode(out.event),
            self.registry.key_for(out.topic, out.event),
            on_delivery=delivered,
        )
        if self.producer.flush(TIMEOUT_S) or errors:
            reason = errors[0].str() if errors else f"no acknowledgement in {TIMEOUT_S:.0f} s"
            raise BrokerUnreachable(f"cannot publish to {out.topic}: {reason}")

    def submit(self, source: str, name: str | None = None, language: str | None = None) -> str:
        job_id = uuid.uuid4().hex
        request = JobRequested(
            job_id=job_id,
            source=source,
            name=name or Path(source).stem or job_id,
            language=language or self.settings.language,
            requested_at=datetime.now(UTC),
        )
        self.send(Outgoing("jobs.requested", request))
        return job_id

    def wait_for_status(
        self, job_id: str, timeout_s: float, on_status: Callable[[JobStatus], Any]
    ) -> JobStatus:
        """Returns the job's next status event (whatever its state)."""
        seen: list[JobStatus] = []

        def collect(status: JobStatus) -> None:
            seen.append(status)
            on_status(status)

        deadline = time.monotonic() + timeout_s
        while not seen:
            if time.monotonic() > deadline:
                raise JobTimeout(f"no status for job {job_id} within {timeout_s:.0f} s")
            self.poll(job_id, collect)
        return seen[-1]

    def wait(
        self,
        job_id: str,
        timeout_s: float,
        on_status: Callable[[JobStatus], Any] | None = None,
        alive: Callable[[], bool] = lambda: True,
    ) -> JobResult:
        """Reads until the job's final status (and its subtitles, unless it FAILED)."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.statuses.get(job_id)
            if status is not None and status.state in FINAL_STATES:
                subtitles = self.subtitles.get(job_id)
                if subtitles is not None or status.state == JobState.FAILED:
                    return JobResult(status, subtitles)
            if time.monotonic() > deadline:
                raise JobTimeout(f"job {job_id} not finished after {timeout_s:.0f} s: {status}")
            if not alive():
                raise RuntimeError("the worker process exited before the job finished")
            self.poll(job_id, on_status)

    def poll(self, job_id: str, on_status: Callable[[JobStatus], Any] | None = None) -> None:
        """Reads what arrived in the next ``POLL_S`` seconds."""
        for message in self.consumer.consume(num_messages=500, timeout=POLL_S):
            if message.error() is not None:
                continue  # partition EOF and transient errors: librdkafka retries itself
            try:
                event: Event = self.codec.decode(message.value())
            except DecodeError:
                continue  # not ours to judge: the producing stage dead-letters
            if isinstance(event, JobStatus):
                self.statuses[event.job_id] = event
                if event.job_id == job_id and on_status is not None:
                    on_status(event)
            elif isinstance(event, SubtitlesReady):
                self.subtitles[event.job_id] = event
