"""The API's read model: every job's request, latest status and subtitles, folded from the
topics by one background reader, and the JSON view of a job (keys: clients/api/jobs.py).

The reader joins no consumer group and reads ``jobs.requested``, ``jobs.status`` (compacted:
every job's last state) and ``subtitles.ready`` from their beginnings, then follows them; it
picks up topics and partitions that appear later. It takes at most READ_BATCH records per poll.
A job exists here once its request or a status of it was read (or this process published its
request): nothing is invented, and a status tombstone forgets the job."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from clients.status import groupless_reader
from streams.broker.topics import load_registry
from streams.events.codec import DecodeError
from streams.events.model import Event, JobRequested, JobState, JobStatus, SubtitlesReady
from streams.events.registry import event_codec
from streams.events.states import FINAL_STATES
from streams.job_options import AUTO
from streams.settings import KaptionSettings
from streams.sources import PROTOCOL_PREFIX, is_url

log = logging.getLogger(__name__)
TOPICS = ("jobs.requested", "jobs.status", "subtitles.ready")
READ_BATCH = 500  # records per poll: bounded work between two looks at the stop flag
POLL_S = 0.2
REFRESH_S = 5.0  # how often the reader looks for new topics and partitions
# A finished job's subtitles come on another topic than its final status: the job counts as
# settled once they are read too, or this long after its final state was seen.
SUBTITLES_GRACE_S = 10.0


@dataclass
class JobRecord:
    job_id: str
    request: JobRequested | None = None
    status: JobStatus | None = None
    subtitles: dict[str, SubtitlesReady] = field(default_factory=dict)
    version: int = 0  # bumped on every change
    final_seen: float | None = None  # monotonic time the final state was first read

    def source(self) -> str | None:
        if self.request is not None:
            return self.request.source
        return self.status.source if self.status is not None else None

    def language(self) -> str | None:
        """The spoken language: as detected (or forced) once known, else as asked."""
        if self.status is not None and self.status.language not in ("", AUTO):
            return self.status.language
        if self.subtitles:
            return next(iter(self.subtitles))
        return self.request.language if self.request is not None else None


def progress(status: JobStatus | None) -> float | None:
    if status is None:
        return None
    if status.state in (JobState.COMPLETED, JobState.PARTIAL):
        return 1.0
    if status.segments_total <= 0:
        return None
    settled = status.segments_done + status.segments_failed
    return round(min(1.0, settled / status.segments_total), 4)


def local_media(source: str | None, media_root: Path | None) -> bool:
    """Whether the source is a file under the media root (judged on the text; the media
    endpoint checks the file itself)."""
    if source is None or media_root is None or is_url(source) or PROTOCOL_PREFIX.match(source):
        return False
    return Path(source).is_absolute() and Path(source).is_relative_to(media_root)


def job_view(record: JobRecord, media_root: Path | None) -> dict[str, Any]:
    """The job's JSON (the contract in clients/api/jobs.py)."""
    status, request = record.status, record.request
    state = status.state if status is not None else JobState.REQUESTED
    final = state in FINAL_STATES
    language = record.language()
    subtitles = record.subtitles.get(language) if language is not None else None
    requested_at = (
        request.requested_at if request is not None else status.requested_at if status else None
    )
    name = request.name if request is not None else status.name if status is not None else ""
    return {
        "job_id": record.job_id,
        "name": name,
        "state": state.value,
        "final": final,
        "stage": None if final else state.value.lower(),
        "progress": progress(status),
        "segments_total": status.segments_total if status else None,
        "segments_done": status.segments_done if status else None,
        "segments_failed": status.segments_failed if status else None,
        "audio_seconds_total": status.audio_seconds_total if status else None,
        "audio_seconds_done": status.audio_seconds_done if status else None,
        "language": language,
        "languages": sorted(record.subtitles),
        "model": request.model or None if request is not None else None,
        "models": list(status.models) if status else [],
        "cue_count": subtitles.cue_count if subtitles is not None else None,
        "media": local_media(record.source(), media_root),
        "reason": status.reason if status else None,
        "requested_at": requested_at.isoformat() if requested_at else None,
        "updated_at": status.updated_at.isoformat() if status else None,
    }


class JobBoard:
    """The fold (thread-safe; no Kafka): events in, views out."""

    def __init__(
        self, media_root: Path | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.media_root = media_root.resolve() if media_root is not None else None
        self.clock = clock
        self.lock = threading.Lock()
        self.jobs: dict[str, JobRecord] = {}
        self.forgotten: set[str] = set()  # tombstoned: an older request must not revive them

    def apply(self, event: Event) -> None:
        if not isinstance(event, JobRequested | JobStatus | SubtitlesReady):
            return
        with self.lock:
            if isinstance(event, JobStatus):
                self.forgotten.discard(event.job_id)
            elif event.job_id in self.forgotten:
                return
            record = self.jobs.get(event.job_id)
            if record is None:
                record = self.jobs[event.job_id] = JobRecord(event.job_id)
            if isinstance(event, JobRequested):
                if record.request is not None:
                    return  # the first request of a job id wins, as in the orchestrator
                record.request = event
            elif isinstance(event, JobStatus):
                record.status = event
                if event.state in FINAL_STATES and record.final_seen is None:
                    record.final_seen = self.clock()
            else:
                record.subtitles[event.language] = event
            record.version += 1

    def forget(self, job_id: str) -> None:
        """A tombstone on jobs.status: the job is gone."""
        with self.lock:
            self.jobs.pop(job_id, None)
            self.forgotten.add(job_id)

    def view(self, job_id: str) -> dict[str, Any] | None:
        with self.lock:
            record = self.jobs.get(job_id)
            return None if record is None else job_view(record, self.media_root)

    def views(self) -> list[dict[str, Any]]:
        """Every job, newest request first (jobs whose request time is unknown last)."""
        with self.lock:
            records = list(self.jobs.values())
            views = [job_view(record, self.media_root) for record in records]
        return sorted(views, key=lambda v: (v["requested_at"] or "", v["job_id"]), reverse=True)

    def snapshot(self, job_id: str) -> tuple[int, dict[str, Any]] | None:
        """The job's version and view, taken together."""
        with self.lock:
            record = self.jobs.get(job_id)
            return None if record is None else (record.version, job_view(record, self.media_root))

    def version(self, job_id: str) -> int | None:
        with self.lock:
            record = self.jobs.get(job_id)
            return None if record is None else record.version

    def settled(self, job_id: str) -> bool:
        """Final, and its subtitles read (or FAILED, or past the grace): nothing more comes."""
        with self.lock:
            record = self.jobs.get(job_id)
            if record is None or record.status is None or record.final_seen is None:
                return False
            return (
                record.status.state == JobState.FAILED
                or bool(record.subtitles)
                or self.clock() - record.final_seen >= SUBTITLES_GRACE_S
            )

    def subtitles(self, job_id: str) -> tuple[JobRecord, dict[str, SubtitlesReady]] | None:
        with self.lock:
            record = self.jobs.get(job_id)
            return None if record is None else (record, dict(record.subtitles))

    def source(self, job_id: str) -> str | None:
        with self.lock:
            record = self.jobs.get(job_id)
            return None if record is None else record.source()


class ViewReader:
    """The background thread that keeps a JobBoard up to date from the topics."""

    def __init__(self, settings: KaptionSettings, board: JobBoard) -> None:
        self.settings = settings
        self.board = board
        self.codec = event_codec(settings)
        registry = load_registry(settings.topics_file, settings.topic_prefix)
        self.topics = {registry.name(logical): logical for logical in TOPICS}
        self.status_topic = registry.name("jobs.status")
        self.assigned: set[tuple[str, int]] = set()
        self.pending: set[tuple[str, int]] = set()  # not yet read to their end once
        self.loaded = threading.Event()  # every topic exists and was read to its end once
        self.stopping = threading.Event()
        self.error = ""  # the last problem met (for /readyz), empty while all is well
        self.thread = threading.Thread(target=self._run, name="kaption-api-view", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self.stopping.set()
        self.thread.join(timeout_s)

    def _run(self) -> None:
        consumer = groupless_reader(self.settings, "api")
        try:
            refreshed = 0.0
            while not self.stopping.is_set():
                due = time.monotonic() - refreshed >= REFRESH_S or not self.loaded.is_set()
                if due and self._refresh(consumer):
                    refreshed = time.monotonic()
                if not self.assigned:
                    self.stopping.wait(POLL_S)
                    continue
                for message in consumer.consume(num_messages=READ_BATCH, timeout=POLL_S):
                    self._take(message)
                if not self.pending and len({t for t, _ in self.assigned}) == len(self.topics):
                    self.loaded.set()
        except Exception:  # the API stays up; /readyz reports the reader gone
            log.exception("the job view's reader stopped")
            self.error = "the job view's reader stopped (see the API's log)"
        finally:
            consumer.close()

    def _refresh(self, consumer: Consumer) -> bool:
        """Assigns partitions not yet read, from their beginning; False when the broker did
        not answer."""
        try:
            metadata = consumer.list_topics(timeout=2.0)
        except KafkaException as exc:
            self.error = f"broker: {exc.args[0].str()}"
            return False
        new = []
        for topic in self.topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                continue
            for partition in found.partitions:
                if (topic, partition) not in self.assigned:
                    new.append(TopicPartition(topic, partition, OFFSET_BEGINNING))
        if new:
            consumer.incremental_assign(new)
            added = {(tp.topic, tp.partition) for tp in new}
            self.assigned |= added
            self.pending |= added
        missing = sorted(set(self.topics) - {t for t, _ in self.assigned})
        self.error = f"topics missing: {', '.join(missing)}" if missing else ""
        return True

    def _take(self, message: Any) -> None:
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                self.pending.discard((message.topic(), message.partition()))
            return  # transient errors: librdkafka retries itself
        value = message.value()
        if value is None:
            key = message.key()
            if message.topic() == self.status_topic and key is not None:
                self.board.forget(key.decode(errors="replace"))
            return
        try:
            event = self.codec.decode(value)
        except DecodeError:
            return  # not ours to judge: the producing stage dead-letters
        self.board.apply(event)
