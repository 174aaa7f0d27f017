"""The stage runner: what every stage's agents share in a process, and the one loop that turns
Kafka messages into typed events, calls the stage's code and publishes what it returns."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import faust
from aiokafka import AIOKafkaProducer
from faust.types import EventT, TableT

from streams.broker.kind import broker_kind
from streams.broker.topics import Outgoing, TopicRegistry, load_registry
from streams.events.codec import AvroCodec, DecodeError
from streams.events.model import Event, StageFailed
from streams.events.registry import event_codec
from streams.runtime.kafka import event_producer, transient
from streams.runtime.metrics import BAD_INPUT, DEAD_LETTER, METRICS, OK, OUTCOMES
from streams.runtime.retry import RetryPolicy, retried
from streams.runtime.spread import Spread
from streams.settings import KaptionSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
E = TypeVar("E", bound=Event)
Handler = Callable[[E], Awaitable[Sequence[Outgoing]]]
FailureHandler = Callable[[str, BaseException], Sequence[Outgoing]]
MAX_REASON_CHARS = 2000


# Retries of a publish during a broker outage: backoff, and how often the outage is logged.
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 5.0
OUTAGE_LOG_EVERY_S = 30.0
# EX_TEMPFAIL: the worker gave up on an unreachable broker; a supervisor should restart it.
EXIT_PUBLISH_DEADLINE = 75


class EventTooLargeError(ValueError):
    """An event bigger than its topic allows (topics.yaml): the broker would refuse it."""


class PublishDeadlineError(RuntimeError):
    """A publish kept failing on transient errors past ``publish_deadline_s``."""


def exit_process(message: str) -> None:
    """Ends the worker at once, non-zero, without committing anything. A graceful stop would
    commit offsets (and wait on the unreachable broker); a crashed Faust agent is restarted
    past its event. Exiting leaves the event uncommitted, so the next worker reads it again."""
    log.critical(message)
    logging.shutdown()
    os._exit(EXIT_PUBLISH_DEADLINE)


@dataclass
class Platform:
    """One per process, shared by its stages: settings, topics, codec, the one event producer
    and the executor for blocking work."""

    settings: KaptionSettings
    registry: TopicRegistry
    codec: AvroCodec
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(2))
    producer: AIOKafkaProducer | None = None
    # Readiness checks by name (/readyz): stages add theirs (groups joined, model loaded).
    checks: dict[str, Callable[[], bool]] = field(default_factory=dict)
    spread: Spread = field(default_factory=Spread)
    # One thread per named lane (run_in_lane): live work never queues behind file work.
    lanes: dict[str, ThreadPoolExecutor] = field(default_factory=dict)
    # Called with a CRITICAL message when a publish passes its deadline (tests replace it).
    on_publish_deadline: Callable[[str], None] = exit_process

    def readiness(self) -> Mapping[str, bool]:
        return {name: check() for name, check in self.checks.items()}

    @classmethod
    def from_settings(cls, settings: KaptionSettings) -> Platform:
        registry = load_registry(settings.topics_file, settings.topic_prefix)
        return cls(settings, registry, event_codec(settings))

    async def start(self) -> None:
        # Our own producer, not Faust's: with Faust's, a second send from one event stayed in
        # aiokafka's accumulator forever on Tansu. Each send waits for the broker's ack, so an
        # input offset is committed only after its outputs are stored (at-least-once).
        idempotent = broker_kind(self.settings) == "kafka"
        producer = event_producer(self.settings, idempotent)
        await producer.start()
        self.producer = producer

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)
        for lane in self.lanes.values():
            lane.shutdown(wait=False, cancel_futures=True)

    async def publish(self, out: Outgoing) -> None:
        """Encodes and sends one event; WrongTopicError or EventTooLargeError before sending
        anything that its topic does not allow."""
        key = self.registry.key_for(out.topic, out.event)
        value = self.codec.encode(out.event)
        limit = self.registry.specs[out.topic].max_message_bytes
        if len(value) > limit:
            raise EventTooLargeError(
                f"{out.event.SCHEMA} of {len(value)} bytes exceeds {out.topic}'s {limit}"
            )
        partition = None
        if out.weight is not None:  # spread by weight (streams/runtime/spread.py), not by key hash
            partitions = self.registry.specs[out.topic].partitions
            partition = self.spread.partition(out.topic, partitions, out.weight)
        await self.send(self.registry.name(out.topic), key, value, partition=partition)

    async def publish_all(self, outgoing: Sequence[Outgoing]) -> None:
        for out in outgoing:
            await self.publish(out)

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        """Sends one record and waits for its acknowledgement, retrying transient errors (a
        broker outage, a leader move) until ``publish_deadline_s``; past it the process ends
        (``on_publish_deadline``) rather than skip the event. Retries may duplicate a record
        whose acknowledgement was lost: every consumer is idempotent."""
        if self.producer is None:
            raise RuntimeError("the platform's producer is not started")
        deadline_s = self.settings.publish_deadline_s
        started = time.monotonic()
        logged_at: float | None = None
        backoff = RETRY_FIRST_S
        while True:
            left = deadline_s - (time.monotonic() - started)
            try:
                # aiokafka gives up on a send only after its request timeout (40 s): bounded by
                # what is left, so the deadline holds even when it is shorter.
                sending = self.producer.send_and_wait(
                    topic, value, key=key, headers=headers, partition=partition
                )
                await asyncio.wait_for(sending, max(left, 0.1))
            except Exception as exc:
                if not transient(exc):
                    raise
                waited = time.monotonic() - started
                problem = f"publishing to {topic}: {str(exc) or type(exc).__name__}"
                if waited >= deadline_s:
                    message = (
                        f"{problem}; broker unreachable for {waited:.0f} s, past "
                        f"KAPTION_PUBLISH_DEADLINE_S={deadline_s:g}: exiting without skipping it"
                    )
                    self.on_publish_deadline(message)
                    raise PublishDeadlineError(message) from exc
                if logged_at is None or time.monotonic() - logged_at >= OUTAGE_LOG_EVERY_S:
                    log.warning("%s; retrying for up to %.0f s more", problem, deadline_s - waited)
                    logged_at = time.monotonic()
                await asyncio.sleep(min(backoff, max(0.0, deadline_s - waited)))
                backoff = min(backoff * 2, RETRY_MAX_S)
                continue
            if logged_at is not None:
                log.info(
                    "published to %s after %.1f s of retries", topic, time.monotonic() - started
                )
            return

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Blocking work (decode, VAD, inference) off the event loop so heartbeats go on."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def run_in_lane(self, lane: str, fn: Callable[..., T], *args: Any) -> T:
        """Blocking work on the lane's own thread: a live caption does not wait for a file
        job's transcription batch to leave the shared executor."""
        if lane not in self.lanes:
            self.lanes[lane] = ThreadPoolExecutor(1, thread_name_prefix=lane)
        return await asyncio.get_running_loop().run_in_executor(self.lanes[lane], fn, *args)

    async def dead_letter(
        self, source: str, event: EventT, stage: str, error: BaseException, attempt: int = 1
    ) -> None:
        """Original bytes, untouched, to ``<topic>.dlq`` with headers that say why."""
        message = event.message
        headers = {
            "kaption.error.stage": stage,
            "kaption.error.class": type(error).__name__,
            "kaption.error.message": str(error)[:MAX_REASON_CHARS],
            "kaption.error.topic": message.topic,
            "kaption.error.partition": str(message.partition),
            "kaption.error.offset": str(message.offset),
            "kaption.error.attempt": str(attempt),
        }
        encoded = [(k, v.encode()) for k, v in headers.items()]
        await self.send(self.registry.dlq_name(source), message.key, message.value, encoded)


def reason(error: BaseException) -> str:
    return (str(error) or type(error).__name__)[:MAX_REASON_CHARS]


def stage_failed(stage: str) -> FailureHandler:
    """Default failure path: the job (the message key) fails with the error as its reason."""

    def on_failure(job_id: str, error: BaseException) -> list[Outgoing]:
        failed = StageFailed(
            job_id=job_id, stage=stage, reason=reason(error), error_class=type(error).__name__
        )
        return [Outgoing("stage.failed", failed)]

    return on_failure


@dataclass
class Stage:
    """What a stage's ``register`` gets: its own Faust app (its consumer group and tables) and
    the process's platform."""

    name: str
    app: faust.App
    platform: Platform

    @property
    def settings(self) -> KaptionSettings:
        return self.platform.settings

    async def publish(self, out: Outgoing) -> None:
        await self.platform.publish(out)
        METRICS.published.labels(self.name, out.topic).inc()

    async def publish_all(self, outgoing: Sequence[Outgoing]) -> None:
        for out in outgoing:
            await self.publish(out)

    def partitions(self, sources: Sequence[str]) -> int:
        return self.platform.registry.shared_partitions(sources)

    def table(self, changelog: str, partitions: int, raw: bool = False) -> TableT[str, Any]:
        """A table backed by the compacted changelog topic ``changelog`` (topics.yaml), with
        str keys and JSON values (``raw``: bytes values)."""
        registry = self.platform.registry
        if not registry.specs[changelog].changelog:
            raise ValueError(f"{changelog} is not declared as a changelog in topics.yaml")
        # Typed keys (JSON-encoded str) and values: without key_type a table recovered from its
        # changelog would hold bytes keys where the running one held str.
        value_type = bytes if raw else None
        value_serializer = "raw" if raw else "json"
        topic = self.app.topic(  # as Faust builds a changelog topic, under our declared name
            registry.name(changelog),
            key_type=str,
            value_type=value_type,
            key_serializer="json",
            value_serializer=value_serializer,
            partitions=partitions,
            compacting=True,
            deleting=False,
            acks=False,
            internal=True,
            maxsize=131_072,
            allow_empty=True,
        )
        return self.app.Table(
            changelog,
            default=None,
            partitions=partitions,
            changelog_topic=topic,
            key_type=str,
            value_type=value_type,
        )

    def agent(
        self,
        sources: str | Sequence[str],
        handle: Handler[E],
        on_failure: FailureHandler | None = None,
        expected_errors: tuple[type[Exception], ...] = (),
        concurrency: int = 1,
        decode: Callable[[bytes | None], Event] | None = None,
        name: str = "",
        retry: RetryPolicy | None = None,
        give_up: Callable[[E, BaseException], Sequence[Outgoing]] | None = None,
        dead_letters: bool = True,
    ) -> None:
        """Registers a Faust agent: decode each message, call ``handle``, publish its result.

        ``retry`` calls ``handle`` again on an error, as the policy declares (attempts,
        permanent errors, back-off); the handler reads its attempt from ``current_attempt()``.
        Once it gives up, ``give_up(event, error)`` (when given) is the failure as a value built
        from the event itself, published instead of ``on_failure``'s. ``dead_letters=False``
        only logs what would be dead-lettered: for an agent that reads another's input (a
        shadow), whose owner dead-letters it once.

        ``decode`` reads a record's value where the topic is not Avro (raising DecodeError,
        so a bad record is dead-lettered like an undecodable one); ``name`` tells a stage's
        second agent from its first.

        ``concurrency`` actors share the stage's input, so up to that many events are handled
        at once (and may finish out of order; Faust commits an offset only once every event
        before it is done). Keep 1 where events of a key must be handled in order.

        Nothing escapes: an undecodable record, an event of the wrong type for its topic, or an
        unexpected error dead-letters the message and reports the failure as an event (so the
        job gets a reason), and the agent goes on. ``expected_errors`` (bad input) fail the job
        without a dead letter: the message itself was fine.
        """
        logicals = [sources] if isinstance(sources, str) else list(sources)
        registry = self.platform.registry
        by_name = {registry.name(s): s for s in logicals}
        channel = self.app.topic(*by_name, key_serializer="raw", value_serializer="raw")
        failed = on_failure or stage_failed(self.name)
        platform, stage = self.platform, self.name
        read = decode or platform.codec.decode
        for outcome in OUTCOMES:  # every series exists from the start, at zero
            METRICS.events.labels(stage, outcome)
        queue_seconds = METRICS.queue_seconds.labels(stage)
        processing_seconds = METRICS.processing_seconds.labels(stage)

        async def process(event: EventT) -> str:
            message = event.message
            key = (message.key or b"").decode(errors="replace")
            logical = by_name[message.topic]
            decoded: Event | None = None
            try:
                decoded = read(message.value)
                carried = registry.specs[logical].value_schema
                if carried != decoded.SCHEMA:
                    raise DecodeError(f"a {decoded.SCHEMA} on {logical}, which carries {carried}")
                if retry is None:
                    await self.publish_all(await handle(decoded))  # type: ignore[arg-type]
                    return OK

                def retrying(attempt: int, error: Exception) -> None:
                    log.warning(
                        "%s: attempt %d on %s (key %s) failed, trying again: %s",
                        stage,
                        attempt,
                        logical,
                        key,
                        error,
                        extra={"job_id": key},
                    )
                    METRICS.retries.labels(stage, type(error).__name__).inc()

                outgoing = await retried(
                    retry,
                    lambda: handle(decoded),  # type: ignore[arg-type]
                    retrying,
                    never=expected_errors,
                )
                await self.publish_all(outgoing)
                return OK
            except expected_errors as exc:
                log.info("%s: job %s: %s", stage, key, exc, extra={"job_id": key})
                outcome, error = BAD_INPUT, exc
            except DecodeError as exc:
                log.warning("%s: undecodable record on %s: %s", stage, logical, exc)
                outcome, error = DEAD_LETTER, exc
            except Exception as exc:
                log.exception("%s: failed on %s (key %s)", stage, logical, key)
                outcome, error = DEAD_LETTER, exc
            if outcome == DEAD_LETTER and dead_letters:
                attempts = getattr(error, "attempts", 1)
                await platform.dead_letter(logical, event, stage, error, attempts)
                METRICS.dead_letters.labels(stage, type(error).__name__).inc()
            if give_up is not None and decoded is not None and outcome == DEAD_LETTER:
                await self.publish_all(give_up(decoded, error))  # type: ignore[arg-type]
            else:
                await self.publish_all(failed(key, error))
            return outcome

        async def agent(stream: Any) -> None:
            async for event in stream.events():
                produced = event.message.timestamp
                if produced:  # the record's produce time: how long it waited in Kafka
                    queue_seconds.observe(max(0.0, time.time() - produced))
                started = time.perf_counter()
                outcome = await process(event)
                processing_seconds.observe(time.perf_counter() - started)
                METRICS.events.labels(stage, outcome).inc()

        suffix = f".{name}" if name else ""
        agent.__name__ = f"{stage}{suffix.replace('.', '_')}_agent"
        self.app.agent(channel, name=f"kaption.{stage}{suffix}", concurrency=concurrency)(agent)
