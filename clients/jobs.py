"""Submitting jobs and following them to the end, from any process that reaches the broker
(confluent-kafka: an idempotent producer with acks=all, and a group-less reader)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from streams.broker.admin import BrokerUnreachable
from streams.broker.topics import Outgoing, load_registry
from streams.events.codec import DecodeError
from streams.events.model import Event, JobRequested, JobState, JobStatus, SubtitlesReady
from streams.events.registry import event_codec
from streams.events.states import FINAL_STATES
from streams.job_options import NO_SPEAKERS, SpeakerOptions
from streams.runtime.kafka import librdkafka_config, raise_if_refused, refusal
from streams.settings import KaptionSettings

log = logging.getLogger(__name__)
POLL_S = 0.2
TIMEOUT_S = 15.0
PROBE_S = 2.0  # one metadata request while connecting
RECONNECT_MAX_MS = 1000
STATS_EVERY_MS = 1000  # librdkafka reports its broker connections' states this often
FIRST_NOTICE_S = 2.0  # an outage is reported once it lasts this long,
NOTICE_EVERY_S = 10.0  # and again this often while it goes on


@dataclass(frozen=True)
class JobResult:
    status: JobStatus  # the final status
    subtitles: SubtitlesReady | None  # absent for FAILED jobs
    translations: tuple[SubtitlesReady, ...] = ()  # one per target language that completed

    @property
    def state(self) -> JobState:
        return self.status.state

    def write(self, out_dir: Path) -> list[Path]:
        """Writes <name>.srt and <name>.vtt, and <name>.<language>.srt/.vtt per translation;
        returns the paths."""
        if self.subtitles is None:
            return []
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for ready in (self.subtitles, *self.translations):
            for fmt, text in (("srt", ready.srt), ("vtt", ready.vtt)):
                path = out_dir / f"{ready.name}.{fmt}"
                path.write_text(text, encoding="utf-8")
                paths.append(path)
        return paths


class JobTimeout(TimeoutError):
    pass


def any_broker_up(stats_json: str) -> tuple[int, bool]:
    """When librdkafka's statistics were taken (its monotonic clock, µs, shared by the
    process's clients) and whether they show a live connection to any broker."""
    stats = json.loads(stats_json)
    brokers = stats.get("brokers", {})
    return int(stats.get("ts", 0)), any(b.get("state") == "UP" for b in brokers.values())


class BrokerWatch:
    """Tracks whether the client reaches its broker and says so: one line when it becomes
    unreachable, again every NOTICE_EVERY_S while it stays so, one when it is back; past
    ``give_up_s`` of unreachability :meth:`check` raises BrokerUnreachable."""

    def __init__(
        self,
        servers: str,
        give_up_s: float,
        notify: Callable[[str], Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.servers = servers
        self.give_up_s = give_up_s
        self.notify = notify
        self.clock = clock
        self.down_since: float | None = None
        self.noticed_at: float | None = None
        self.last_error = ""
        self.stats_taken = 0  # of the newest statistics seen

    def down(self, error: str = "") -> None:
        if error:
            self.last_error = error
        if self.down_since is None:
            self.down_since = self.clock()

    def up(self) -> None:
        if self.down_since is not None and self.noticed_at is not None:
            self.notify(f"broker {self.servers} reachable again after {self.down_for():.0f} s")
        self.down_since = self.noticed_at = None

    def down_for(self) -> float:
        return 0.0 if self.down_since is None else self.clock() - self.down_since

    def on_stats(self, stats_json: str) -> None:
        """librdkafka's stats_cb. A client's statistics wait in its queue until it is polled:
        the producer's, served at its next flush, can be older than what the consumer said."""
        taken, up = any_broker_up(stats_json)
        if taken < self.stats_taken:
            return
        self.stats_taken = taken
        if up:
            self.up()
        else:
            self.down()

    def on_error(self, error: KafkaError) -> None:
        """librdkafka's error_cb: its errors are ours to report, not to print. Losing every
        broker connection marks the broker down at once; librdkafka reconnects by itself."""
        log.debug("librdkafka: %s", error.str())
        refused = refusal(error)  # wrong credentials or TLS: waiting for the broker cannot help
        if refused is not None:
            raise refused
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self.down(error.str())

    def check(self) -> None:
        """Says how long the broker has been unreachable (rate-limited); gives up past the
        limit."""
        if self.down_since is None:
            return
        down_for, now = self.down_for(), self.clock()
        if down_for > self.give_up_s:
            detail = f" ({self.last_error})" if self.last_error else ""
            raise BrokerUnreachable(
                f"broker {self.servers} unreachable for {down_for:.0f} s{detail}; gave up after "
                f"KAPTION_CLIENT_UNREACHABLE_TIMEOUT_S={self.give_up_s:g}"
            )
        if self.noticed_at is None and down_for < FIRST_NOTICE_S:
            return  # a blip (a reconnect, a leader move) is not news
        if self.noticed_at is None or now - self.noticed_at >= NOTICE_EVERY_S:
            self.notify(f"broker {self.servers} unreachable for {down_for:.0f} s, retrying")
            self.noticed_at = now


class JobClient:
    """Producer for job requests plus a group-less reader of status and subtitles.

    The reader is positioned at the end of both topics *before* anything is submitted, so no
    result is missed, and it joins no consumer group (no rebalance wait).
    """

    READS: tuple[str, ...] = ("jobs.status", "subtitles.ready")  # what the reader follows

    def __init__(
        self, settings: KaptionSettings, notify: Callable[[str], Any] | None = None
    ) -> None:
        """``notify`` gets one line at a time about the broker or the job (unreachable, no
        worker); by default they are logged as warnings."""
        self.settings = settings
        self.notify = notify or log.warning
        self.registry = load_registry(settings.topics_file, settings.topic_prefix)
        self.codec = event_codec(settings)
        self.watch = BrokerWatch(
            settings.bootstrap_servers, settings.client_unreachable_timeout_s, self.notify
        )
        watched = {
            "error_cb": self.watch.on_error,
            "stats_cb": self.watch.on_stats,
            "statistics.interval.ms": STATS_EVERY_MS,
            # librdkafka backs off up to 10 s between reconnects; a user waits for the job.
            "reconnect.backoff.max.ms": RECONNECT_MAX_MS,
        }
        # A job request is retried by librdkafka for as long as the client waits for a broker.
        message_timeout_ms = int(settings.client_unreachable_timeout_s * 1000) + 5000
        self.producer = Producer(
            librdkafka_config(
                settings,
                **watched,
                **{
                    "enable.idempotence": True,
                    "acks": "all",
                    "message.timeout.ms": message_timeout_ms,
                    # The agents' key hash (aiokafka, like Java): a job's request lands on the
                    # partition of its later events, so one orchestrator worker owns the job.
                    "partitioner": "murmur2_random",
                },
            )
        )
        self.consumer = Consumer(
            librdkafka_config(
                settings,
                **watched,
                **{
                    "group.id": f"{settings.topic_prefix}client-{uuid.uuid4().hex}",
                    "enable.auto.commit": False,
                    "fetch.wait.max.ms": 100,
                },
            )
        )
        self.statuses: dict[str, JobStatus] = {}
        self.subtitles: dict[str, SubtitlesReady] = {}
        self.translations: dict[str, dict[str, SubtitlesReady]] = {}  # job -> language -> files

    def __enter__(self) -> Self:
        try:
            self._connect()
        except BaseException:
            self.close()
            raise
        return self

    def _connect(self) -> None:
        """Waits for the broker (saying so while it is unreachable), then connects the producer
        now rather than at the first submit (librdkafka takes ~0.5 s after start to get its
        idempotent producer id) and positions the reader at the end of its topics."""
        while True:
            try:
                self.producer.list_topics(self.registry.name("jobs.requested"), timeout=PROBE_S)
                self._assign_at_end(self.READS)
            except KafkaException as exc:
                raise_if_refused(self.producer)  # a refused login, not an outage: stop now
                self.watch.down(str(exc.args[0].str()))
                self.watch.check()
                time.sleep(POLL_S)  # a refused connection fails at once
                continue
            self.watch.up()
            return

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.consumer.close()
        # Anything unsent is a job request nobody waits for any more; don't hang on it.
        self.producer.flush(0 if self.watch.down_since is not None else TIMEOUT_S)

    def _assign_at_end(self, logicals: tuple[str, ...]) -> None:
        assigned = []
        for logical in logicals:
            topic = self.registry.name(logical)
            for partition in range(self.registry.specs[logical].partitions):
                tp = TopicPartition(topic, partition)
                _, end = self.consumer.get_watermark_offsets(tp, timeout=PROBE_S)
                assigned.append(TopicPartition(topic, partition, end))
        self.consumer.assign(assigned)

    def send(self, out: Outgoing) -> None:
        """Publishes one event and waits for the broker's acknowledgement (librdkafka retries
        through an outage; the watch says so and gives up past its limit)."""
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
        while self.producer.flush(PROBE_S) and not errors:
            self.watch.check()
        if errors:
            raise BrokerUnreachable(f"cannot publish to {out.topic}: {errors[0].str()}")

    def submit(
        self,
        source: str,
        name: str | None = None,
        language: str | None = None,
        model: str = "",
        language_detection: str = "job",
        languages: Sequence[str] = (),
        speakers: SpeakerOptions = NO_SPEAKERS,
    ) -> str:
        """Publishes a job; ``language`` "auto" asks for detection (``language_detection``:
        once per job or per segment), ``model`` a declared model (empty: the stage's own)."""
        job_id = uuid.uuid4().hex
        request = JobRequested(
            job_id=job_id,
            source=source,
            name=name or Path(source).stem or job_id,
            language=language or self.settings.language,
            requested_at=datetime.now(UTC),
            model=model,
            language_detection=language_detection,
            languages=tuple(languages),
            speakers=speakers.on,
            num_speakers=speakers.num,
            min_speakers=speakers.min,
            max_speakers=speakers.max,
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
            self.watch.check()
        return seen[-1]

    def wait(
        self,
        job_id: str,
        timeout_s: float,
        on_status: Callable[[JobStatus], Any] | None = None,
        alive: Callable[[], bool] = lambda: True,
        no_worker_after_s: float | None = None,
    ) -> JobResult:
        """Reads until the job's final status (and its subtitles, unless it FAILED).

        Says when the broker is unreachable (BrokerUnreachable past the client's limit), and
        once when the job has no status ``no_worker_after_s`` (default: the settings') after
        the wait began while the broker answers: no worker has picked it up."""
        started = time.monotonic()
        deadline = started + timeout_s
        quiet_limit = no_worker_after_s or self.settings.client_no_worker_warning_s
        warned = False
        while True:
            status = self.statuses.get(job_id)
            if status is not None and status.state in FINAL_STATES:
                subtitles = self.subtitles.get(job_id)
                got = self.translations.get(job_id, {})
                wanted = [t.language for t in status.translations if t.state == "COMPLETED"]
                if status.state == JobState.FAILED or (
                    subtitles is not None and all(lang in got for lang in wanted)
                ):
                    translations = tuple(got[lang] for lang in wanted if lang in got)
                    return JobResult(status, subtitles, translations)
            if time.monotonic() > deadline:
                where = (
                    f"still {status.state.value}, {status.segments_done}/{status.segments_total}"
                    " segments"
                    if status is not None
                    else "no worker has picked it up"
                )
                raise JobTimeout(f"job {job_id} not finished after {timeout_s:.0f} s: {where}")
            if not alive():
                raise RuntimeError("the worker process exited before the job finished")
            self.poll(job_id, on_status)
            self.watch.check()
            waited = time.monotonic() - started
            reachable = self.watch.down_since is None
            if status is None and reachable and not warned and waited > quiet_limit:
                self.notify(
                    f"no worker has picked up job {job_id} after {waited:.0f} s"
                    " — is a worker running? (still waiting)"
                )
                warned = True

    def events(self, timeout_s: float = POLL_S) -> Iterator[Event]:
        """The events of the topics it reads that arrive within ``timeout_s``."""
        for message in self.consumer.consume(num_messages=500, timeout=timeout_s):
            if message.error() is not None:
                continue  # partition EOF and transient errors: librdkafka retries itself
            try:
                event: Event = self.codec.decode(message.value())
            except DecodeError:
                continue  # not ours to judge: the producing stage dead-letters
            yield event

    def poll(self, job_id: str, on_status: Callable[[JobStatus], Any] | None = None) -> None:
        """Reads what arrived in the next ``POLL_S`` seconds."""
        for event in self.events():
            if isinstance(event, JobStatus):
                self.statuses[event.job_id] = event
                if event.job_id == job_id and on_status is not None:
                    on_status(event)
            elif isinstance(event, SubtitlesReady):
                if event.translated:
                    self.translations.setdefault(event.job_id, {})[event.language] = event
                else:
                    self.subtitles[event.job_id] = event
