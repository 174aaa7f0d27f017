"""Faust app factory per role, and the one place agents send events and dead letters from."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import faust
from aiokafka import AIOKafkaProducer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import EventT

from streams.codec import AvroCodec, DecodeError, Record
from streams.jobs import Outgoing
from streams.kafka import MAX_EVENT_BYTES, event_producer, ssl_context
from streams.registry import event_codec
from streams.settings import KaptionSettings
from streams.topics import TopicRegistry, load_registry

log = logging.getLogger(__name__)
T = TypeVar("T")
FETCH_MAX_WAIT_MS = 100


def _short_fetch_wait() -> None:
    """Faust hard-codes a 1.5 s fetch long-poll; Tansu holds an empty fetch that long even when
    data arrives meanwhile, which cost ~0.75 s on every hop between agents. 100 ms keeps the
    hops short at the price of a few idle fetches a second."""
    thread = faust_aiokafka.AIOKafkaConsumerThread
    original = thread._create_worker_consumer
    if getattr(original, "kaption_patched", False):
        return

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer

    create.kaption_patched = True  # type: ignore[attr-defined]
    thread._create_worker_consumer = create  # type: ignore[method-assign]


def _rewind_uncommitted_partitions() -> None:
    """After a rebalance Faust seeks every partition to its committed offset, but aiokafka skips
    the seek when nothing was committed yet (offset None or 0). Events Faust fetched and then
    dropped around the rebalance were therefore never read again, and once a later event was
    acked their offsets were committed unprocessed: lost (seen on Tansu when a worker died).
    Rewinding such partitions to their beginning reads them again; fan-in is idempotent."""
    thread = faust_aiokafka.AIOKafkaConsumerThread
    original = thread.seek_to_committed
    if getattr(original, "kaption_patched", False):
        return

    async def seek_to_committed(self: Any) -> Any:
        committed = await original(self)
        fresh = [tp for tp, offset in committed.items() if not offset]
        if fresh:
            await self.call_thread(self._ensure_consumer().seek_to_beginning, *fresh)
        return committed

    seek_to_committed.kaption_patched = True  # type: ignore[attr-defined]
    thread.seek_to_committed = seek_to_committed  # type: ignore[method-assign]


_short_fetch_wait()
_rewind_uncommitted_partitions()


def broker_credentials(settings: KaptionSettings) -> Any:
    context = ssl_context(settings)
    if "SASL" in settings.security_protocol:
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password,
            mechanism=settings.sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context) if context is not None else None


def create_app(settings: KaptionSettings, role: str) -> faust.App:
    """A Faust app whose id (and so consumer group) is the topic prefix plus the role."""
    app_id = f"{settings.topic_prefix}{role}"
    return faust.App(
        app_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        broker_credentials=broker_credentials(settings),
        store="memory://",  # tables are rebuilt from their compacted changelog topics
        datadir=str(settings.data_dir / app_id),
        web_enabled=False,
        topic_disable_leader=True,
        topic_allow_declare=False,  # `kaption topics apply` owns topic creation
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_rebalance_timeout=max(10.0, settings.session_timeout_s * 2),
        stream_recovery_delay=0.0,
        producer_max_request_size=MAX_EVENT_BYTES,
        consumer_max_fetch_size=MAX_EVENT_BYTES,
        stream_buffer_maxsize=64,  # events can carry megabytes of audio
        consumer_auto_offset_reset="earliest",
        broker_max_poll_interval=1800.0,
    )


@dataclass
class Pipeline:
    """What every agent shares: settings, topics, codec, executor, and sending."""

    settings: KaptionSettings
    app: faust.App
    registry: TopicRegistry
    codec: AvroCodec
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(2))
    _producer: AIOKafkaProducer | None = None

    @classmethod
    def build(cls, settings: KaptionSettings, app: faust.App) -> Pipeline:
        registry = load_registry(settings.topics_file, settings.topic_prefix)
        pipeline = cls(settings, app, registry, event_codec(settings))

        @app.on_before_shutdown.connect  # type: ignore[arg-type]
        async def close_producer(sender: Any, **kwargs: Any) -> None:
            if pipeline._producer is not None:
                await pipeline._producer.stop()

        return pipeline

    async def producer(self) -> AIOKafkaProducer:
        # Our own producer, not Faust's: with Faust's, a second send from one event stayed in
        # aiokafka's accumulator forever on Tansu. Each send waits for the broker's ack, so an
        # input offset is committed only after its outputs are stored (at-least-once).
        if self._producer is None:
            producer = event_producer(self.settings)
            await producer.start()
            self._producer = producer
        return self._producer

    async def publish(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        producer = await self.producer()
        await producer.send_and_wait(topic, value, key=key, headers=headers)

    async def send(self, out: Outgoing) -> None:
        value = self.codec.encode(out.schema, out.record)
        await self.publish(self.registry.name(out.topic), out.key.encode(), value)

    async def send_all(self, outgoing: Sequence[Outgoing]) -> None:
        for out in outgoing:
            await self.send(out)

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Blocking work (decode, VAD, inference) off the event loop so heartbeats go on."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def dead_letter(
        self, source: str, event: EventT, stage: str, error: BaseException, attempt: int = 1
    ) -> None:
        """Original bytes, untouched, to ``<topic>.dlq`` with headers that say why."""
        message = event.message
        headers = {
            "kaption.error.stage": stage,
            "kaption.error.class": type(error).__name__,
            "kaption.error.message": str(error)[:2000],
            "kaption.error.topic": message.topic,
            "kaption.error.partition": str(message.partition),
            "kaption.error.offset": str(message.offset),
            "kaption.error.attempt": str(attempt),
        }
        dlq = self.registry.dlq_name(source)
        await self.publish(
            dlq, message.key, message.value, [(k, v.encode()) for k, v in headers.items()]
        )


Handler = Callable[[str, Record], Awaitable[list[Outgoing]]]
FailureHandler = Callable[[str, BaseException], list[Outgoing]]


def stage_failed(stage: str) -> FailureHandler:
    """Default failure path: the job (the message key) fails with the error as its reason."""

    def on_failure(job_id: str, error: BaseException) -> list[Outgoing]:
        record = {
            "job_id": job_id,
            "stage": stage,
            "reason": str(error) or type(error).__name__,
            "error_class": type(error).__name__,
        }
        return [Outgoing("stage.failed", job_id, "StageFailed", record)]

    return on_failure


def stage_agent(
    pipeline: Pipeline,
    stage: str,
    source: str | Sequence[str],
    handle: Handler,
    on_failure: FailureHandler | None = None,
    expected_errors: tuple[type[Exception], ...] = (),
) -> None:
    """Registers a Faust agent: decode each event, call ``handle``, publish what it returns.

    Nothing escapes: an undecodable record or an unexpected error dead-letters the message and
    reports the failure as an event (so the job gets a reason), and the agent goes on.
    ``expected_errors`` (bad input) fail the job without a dead letter: the message was fine.
    """
    sources = [source] if isinstance(source, str) else list(source)
    on_failure = on_failure or stage_failed(stage)
    channel = pipeline.app.topic(
        *[pipeline.registry.name(s) for s in sources],
        key_serializer="raw",
        value_serializer="raw",
    )
    by_name = {pipeline.registry.name(s): s for s in sources}

    async def agent(stream: Any) -> None:
        async for event in stream.events():
            key = (event.message.key or b"").decode(errors="replace")
            logical = by_name[event.message.topic]
            started = time.perf_counter()
            try:
                name, record = pipeline.codec.decode(event.value)
                outgoing = await handle(name, record)
            except expected_errors as exc:
                log.info("%s: job %s: %s", stage, key, exc)
                outgoing = on_failure(key, exc)
            except DecodeError as exc:
                log.warning("%s: undecodable record on %s: %s", stage, logical, exc)
                await pipeline.dead_letter(logical, event, stage, exc)
                outgoing = on_failure(key, exc)
            except Exception as exc:
                log.exception("%s: failed on %s (key %s)", stage, logical, key)
                attempt = getattr(exc, "attempts", 1)
                await pipeline.dead_letter(logical, event, stage, exc, attempt)
                outgoing = on_failure(key, exc)
            await pipeline.send_all(outgoing)
            log.debug("%s: %s in %.3fs", stage, logical, time.perf_counter() - started)

    agent.__name__ = f"{stage}_agent"
    pipeline.app.agent(channel, name=f"kaption.{stage}")(agent)
