"""Workarounds for Faust (faust-streaming) and aiokafka behaviour, in one place.

Nothing is patched on import: :func:`apply` is called once when a worker process starts. Each
workaround wraps one private method, says why, and is harmless on Apache Kafka;
tests/unit/test_faust_fixes.py fails when a Faust or aiokafka release changes what it relies on,
so the workaround can be re-checked (or dropped) rather than silently doing nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.admin import true_end_offsets
from streams.kafka import quiet_repeated_client_errors
from streams.settings import KaptionSettings

_MARK = "kaption_workaround"


def _mark(fn: Any) -> Any:
    setattr(fn, _MARK, True)
    return fn


def applied(fn: Any) -> bool:
    return bool(getattr(fn, _MARK, False))


def short_fetch_wait(wait_ms: int) -> None:
    """Faust hard-codes a 1.5 s fetch long-poll (``fetch_max_wait_ms=1500`` in
    ``_create_worker_consumer``). Tansu holds an empty fetch that long even when data arrives
    meanwhile, which cost ~0.75 s on every hop between agents. A short wait keeps hops short at
    the price of idle fetches (KAPTION_FETCH_MAX_WAIT_MS); Apache Kafka answers a fetch as soon as
    data arrives, so there a long wait costs no latency and a short one only idle fetches."""
    thread = faust_aiokafka.AIOKafkaConsumerThread
    original = thread._create_worker_consumer
    if applied(original):
        return

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = wait_ms  # read when the consumer starts
        return consumer

    thread._create_worker_consumer = _mark(create)  # type: ignore[method-assign]


def rewind_uncommitted_partitions() -> None:
    """After a rebalance Faust seeks every partition to its committed offset, but aiokafka's
    ``seek_to_committed`` skips the seek when nothing was committed yet (offset None or 0).
    Events Faust fetched and then dropped around the rebalance were therefore never read
    again, and once a later event was acked their offsets were committed unprocessed: lost
    (seen on Tansu when a worker died mid-job, about one run in three). Rewinding such
    partitions to their beginning reads them again (fan-in is idempotent); on Apache Kafka it
    is what ``auto.offset.reset=earliest`` does for an uncommitted partition anyway."""
    thread = faust_aiokafka.AIOKafkaConsumerThread
    original = thread.seek_to_committed
    if applied(original):
        return

    async def seek_to_committed(self: Any) -> Any:
        committed = await original(self)
        fresh = [tp for tp, offset in committed.items() if not offset]
        if fresh:
            await self.call_thread(self._ensure_consumer().seek_to_beginning, *fresh)
        return committed

    thread.seek_to_committed = _mark(seek_to_committed)  # type: ignore[method-assign]


def true_changelog_ends(settings: KaptionSettings) -> None:
    """Faust's table recovery reads each changelog partition up to the end offset that
    ListOffsets reports (``_highwaters``). Tansu reports the base offset of the last batch plus
    one, short of the end when Faust's producer batched several changelog records: a restarted
    orchestrator recovered a window without its last results and never finished the job. The
    high watermark of a fetch is right (:func:`streams.admin.true_end_offsets`); on Apache Kafka
    that fetch finds nothing past the end and changes nothing."""
    thread = faust_aiokafka.AIOKafkaConsumerThread
    original = thread._highwaters
    if applied(original):
        return

    async def _highwaters(self: Any, partitions: Any) -> Any:
        ends = await original(self, partitions)
        if self.consumer.in_transaction:
            return ends  # last stable offsets, not ListOffsets
        reported = {(tp.topic, tp.partition): end for tp, end in ends.items() if end is not None}
        loop = asyncio.get_running_loop()
        true = await loop.run_in_executor(None, true_end_offsets, settings, reported, 5.0)
        return {tp: true.get((tp.topic, tp.partition), end) for tp, end in ends.items()}

    thread._highwaters = _mark(_highwaters)  # type: ignore[method-assign]


def apply(settings: KaptionSettings) -> None:
    """Every workaround; idempotent."""
    quiet_repeated_client_errors()  # aiokafka logs every failed attempt during an outage
    short_fetch_wait(settings.fetch_max_wait_ms)
    rewind_uncommitted_partitions()
    true_changelog_ends(settings)
