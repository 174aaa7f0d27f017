"""Submitting jobs and following them to the end, from any process that reaches the broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.codec import DecodeError, Record
from streams.jobs import TERMINAL, JobState
from streams.kafka import MAX_EVENT_BYTES, client_kwargs, event_producer
from streams.registry import event_codec
from streams.settings import KaptionSettings
from streams.topics import load_registry


@dataclass(frozen=True)
class JobResult:
    status: Record  # the final JobStatus
    subtitles: Record | None  # SubtitlesReady, absent for FAILED jobs

    @property
    def state(self) -> JobState:
        return JobState(self.status["state"])

    def write(self, out_dir: Path) -> list[Path]:
        """Writes <name>.srt and <name>.vtt; returns the paths."""
        if self.subtitles is None:
            return []
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for fmt in ("srt", "vtt"):
            path = out_dir / f"{self.subtitles['name']}.{fmt}"
            path.write_text(self.subtitles[fmt], encoding="utf-8")
            paths.append(path)
        return paths


class JobTimeout(TimeoutError):
    pass


class JobClient:
    """Producer for job requests plus a group-less reader of status and subtitles.

    The reader is positioned at the end *before* anything is submitted, so no result is missed,
    and it joins no consumer group (no rebalance wait).
    """

    def __init__(self, settings: KaptionSettings) -> None:
        self.settings = settings
        self.registry = load_registry(settings.topics_file, settings.topic_prefix)
        self.codec = event_codec(settings)
        self.producer = event_producer(settings)
        self.consumer = AIOKafkaConsumer(
            **client_kwargs(settings),
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
            max_partition_fetch_bytes=MAX_EVENT_BYTES,
        )
        self._status: dict[str, Record] = {}
        self._subtitles: dict[str, Record] = {}

    async def __aenter__(self) -> JobClient:
        try:
            await self.producer.start()
            await self.consumer.start()
        except BaseException:
            await self.producer.stop()  # both are safe to stop when they never started
            await self.consumer.stop()
            raise
        partitions = [
            TopicPartition(self.registry.name(logical), p)
            for logical in ("jobs.status", "subtitles.ready")
            for p in range(self.registry.specs[logical].partitions)
        ]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.consumer.stop()
        await self.producer.stop()

    async def send(self, logical: str, key: str, schema: str, record: Record) -> None:
        value = self.codec.encode(schema, record)
        await self.producer.send_and_wait(self.registry.name(logical), value, key=key.encode())

    async def submit(
        self, source: str, name: str | None = None, language: str | None = None
    ) -> str:
        job_id = uuid.uuid4().hex
        record = {
            "job_id": job_id,
            "source": source,
            "name": name or Path(source).stem or job_id,
            "language": language or self.settings.language,
            "requested_at": int(time.time() * 1000),
        }
        await self.send("jobs.requested", job_id, "JobRequested", record)
        return job_id

    async def wait_for_status(
        self, job_id: str, timeout_s: float, on_status: Callable[[Record], Any]
    ) -> Record:
        """Returns the job's next status event (whatever its state)."""
        seen: list[Record] = []

        def collect(status: Record) -> None:
            seen.append(status)
            on_status(status)

        deadline = time.monotonic() + timeout_s
        while not seen:
            if time.monotonic() > deadline:
                raise JobTimeout(f"no status for job {job_id} within {timeout_s:.0f} s")
            await self._poll(job_id, collect)
        return seen[-1]

    async def wait(
        self,
        job_id: str,
        timeout_s: float,
        on_status: Callable[[Record], Any] | None = None,
        alive: Callable[[], bool] = lambda: True,
    ) -> JobResult:
        """Reads until the job's final status (and its subtitles, unless it FAILED)."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self._status.get(job_id)
            if status is not None and JobState(status["state"]) in TERMINAL:
                subtitles = self._subtitles.get(job_id)
                if subtitles is not None or status["state"] == JobState.FAILED:
                    return JobResult(status, subtitles)
            if time.monotonic() > deadline:
                raise JobTimeout(f"job {job_id} not finished after {timeout_s:.0f} s: {status}")
            if not alive():
                raise RuntimeError("the worker process exited before the job finished")
            await self._poll(job_id, on_status)

    async def _poll(self, job_id: str, on_status: Callable[[Record], Any] | None) -> None:
        status_topic = self.registry.name("jobs.status")
        batches = await self.consumer.getmany(timeout_ms=200)
        for tp, messages in batches.items():
            for message in messages:
                try:
                    record = self.codec.decode(message.value)[1]
                except DecodeError:
                    continue  # not ours to judge: the producer's stage dead-letters
                if tp.topic == status_topic:
                    self._status[record["job_id"]] = record
                    if record["job_id"] == job_id and on_status is not None:
                        on_status(record)
                else:
                    self._subtitles[record["job_id"]] = record
