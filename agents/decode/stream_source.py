"""decode's second kind of source: ``stream:<id>``, a live stream's audio as the live.audio topic
keeps it (retention), read back as the same AudioReady windows a file gives, so the file lane's
stages replay the stream unchanged (streams/operations/replay.py).

The stream's chunks lie in order in one partition (key = stream id), between other streams'.
A stream id may be used again after its end, so the reader first finds the latest run of the
stream (it starts at seq 0, or after a seq that did not grow, and ends with the ``last`` chunk)
and then reads that run: two passes over the partition, joining no consumer group. A stream
still live (no last chunk yet) or gone with its retention is refused with the reason.

Media times stay the stream's own: a gap the source had (``gap_before``) becomes silence up to
``MAX_FILL_S``; a longer one ends the window and the next starts after the gap, so the replay's
cues line up with the live files and hours of outage are not decoded as silence.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from aiokafka.partitioner import murmur2
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from agents.decode.errors import MediaError
from agents.decode.media import Abandoned, AudioWindow, quietest_cut
from agents.decode.sources import SourceLimits
from streams.broker.topics import load_registry
from streams.events.audio import SAMPLE_RATE, pcm_from_bytes
from streams.events.codec import DecodeError
from streams.events.model import AudioChunk
from streams.events.registry import event_codec
from streams.runtime.kafka import librdkafka_config, list_topics
from streams.settings import KaptionSettings
from streams.sources import stream_of

TOPIC = "live.audio"
MAX_FILL_S = 10.0  # a source gap up to this long is replayed as silence, a longer one skipped
POLL_S = 0.2


@dataclass(frozen=True)
class Run:
    """Where the latest run of a stream lies in its partition (offsets, both included)."""

    first: int
    last: int | None  # None: no last chunk yet, the stream is still live


def latest_run(chunks: Iterable[tuple[int, AudioChunk]]) -> Run | None:
    """The latest run among a stream's chunks (offset, chunk), in partition order; None when
    there are none. A run that lost its beginning to retention starts at its first kept chunk."""
    run: Run | None = None
    previous = -1
    for offset, chunk in chunks:
        if run is None or chunk.seq == 0 or chunk.seq <= previous or run.last is not None:
            run = Run(offset, None)
        if chunk.last:
            run = Run(run.first, offset)
        previous = chunk.seq
    return run


def gapped_windows(
    chunks: Iterable[AudioChunk],
    window_s: float,
    search_s: float = 5.0,
    max_fill_s: float = MAX_FILL_S,
    sample_rate: int = SAMPLE_RATE,
) -> Iterator[AudioWindow]:
    """A run's chunks as windows of about ``window_s`` cut at the quietest point within
    ``search_s`` of the mark (as agents/decode/media.py's ``windows``), on the chunks' media
    times: gaps up to ``max_fill_s`` filled with silence, longer ones between windows. Always
    yields at least one (possibly empty) window, the last one flagged."""
    pending: list[np.ndarray] = []
    pending_samples, index = 0, 0
    offset: float | None = None  # media time of the first pending sample
    for chunk in chunks:
        if chunk.sample_rate != sample_rate:
            raise MediaError(f"stream {chunk.stream_id}: audio at {chunk.sample_rate} Hz")
        pcm = pcm_from_bytes(chunk.pcm)
        if offset is None:
            offset = chunk.media_time
        gap = round((chunk.media_time - (offset + pending_samples / sample_rate)) * sample_rate)
        if gap > max_fill_s * sample_rate:
            if pending_samples:
                yield AudioWindow(index, np.concatenate(pending), offset, last=False)
                index += 1
            pending, pending_samples, offset = [], 0, chunk.media_time
        elif gap > 0:
            pending.append(np.zeros(gap, dtype=np.int16))
            pending_samples += gap
        elif gap < 0:
            pcm = pcm[-gap:]  # audio that overlaps what we have (never from ingest): dropped
        pending.append(pcm)
        pending_samples += len(pcm)
        if pending_samples >= (window_s + search_s) * sample_rate:
            whole = np.concatenate(pending)
            cut = quietest_cut(whole, sample_rate, window_s - search_s, window_s + search_s)
            yield AudioWindow(index, whole[:cut], offset, last=False)
            offset, index = offset + cut / sample_rate, index + 1
            pending, pending_samples = [whole[cut:]], len(whole) - cut
    rest = np.concatenate(pending) if pending else np.zeros(0, dtype=np.int16)
    yield AudioWindow(index, rest, offset or 0.0, last=True)


def stream_partition(stream_id: str, partitions: int) -> int:
    """The partition of the stream's records: Java's (and aiokafka's, and the clients'
    murmur2_random) key hash."""
    return (murmur2(stream_id.encode()) & 0x7FFFFFFF) % partitions


class StreamReader:
    """A group-less reader of one stream's chunks on live.audio."""

    def __init__(
        self,
        settings: KaptionSettings,
        stream_id: str,
        limits: SourceLimits,
        should_stop: Callable[[], bool],
    ) -> None:
        self.stream_id, self.key = stream_id, stream_id.encode()
        self.limits, self.should_stop = limits, should_stop
        self.started = time.monotonic()
        self.codec = event_codec(settings)
        self.topic = load_registry(settings.topics_file, settings.topic_prefix).name(TOPIC)
        self.consumer = Consumer(
            librdkafka_config(
                settings,
                **{
                    "group.id": f"{settings.topic_prefix}replay-{uuid.uuid4().hex}",
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    "fetch.wait.max.ms": 100,
                    # Retention that removes the run's start between the passes: from what is left.
                    "auto.offset.reset": "earliest",
                },
            )
        )

    def close(self) -> None:
        self.consumer.close()

    def partition(self) -> int:
        try:
            metadata = list_topics(self.consumer, self.limits.connect_timeout_s, self.topic)
        except KafkaException as exc:
            raise MediaError(f"cannot read {self.topic}: {exc.args[0]}") from exc
        found = metadata.topics.get(self.topic)
        if found is None or found.error is not None or not found.partitions:
            raise MediaError(f"no topic {self.topic}: no stream audio to replay")
        return stream_partition(self.stream_id, len(found.partitions))

    def chunks(
        self, partition: int, first: int, last: int | None
    ) -> Iterator[tuple[int, AudioChunk]]:
        """The stream's chunks (offset, chunk) from offset ``first`` up to ``last`` (None: the
        partition's end as it is now)."""
        self.consumer.assign([TopicPartition(self.topic, partition, first)])
        heard = time.monotonic()
        while True:
            if self.should_stop():
                raise Abandoned(f"stream:{self.stream_id}")
            deadline = self.limits.deadline_s
            if deadline is not None and time.monotonic() - self.started > deadline:
                raise MediaError(f"still reading stream {self.stream_id} after {deadline:g} s")
            if time.monotonic() - heard > self.limits.read_timeout_s:
                raise MediaError(
                    f"{self.topic} sent nothing for {self.limits.read_timeout_s:g} s "
                    f"while replaying stream {self.stream_id}"
                )
            for message in self.consumer.consume(num_messages=100, timeout=POLL_S):
                heard = time.monotonic()
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF and last is None:
                        return
                    if error.fatal():
                        raise MediaError(f"cannot read {self.topic}: {error.str()}")
                    continue  # end of what is there yet, transient errors: librdkafka retries
                offset = message.offset() or 0  # None only for an error, handled above
                if message.key() == self.key:
                    try:
                        event = self.codec.decode(message.value())
                    except DecodeError:
                        event = None  # not ours to judge: the live stage dead-letters it
                    if isinstance(event, AudioChunk):
                        yield offset, event
                if last is not None and offset >= last:
                    return


def stream_windows(
    source: str,
    settings: KaptionSettings,
    window_s: float,
    limits: SourceLimits,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[AudioWindow]:
    """The windows of the latest run of the stream ``source`` names (``stream:<id>``).
    MediaError when it has no audio on the topic or has not ended; Abandoned after
    ``should_stop``."""
    stream_id = stream_of(source)
    if stream_id is None:
        raise MediaError(f"not a stream source: {source}")
    reader = StreamReader(settings, stream_id, limits, should_stop)
    try:
        partition = reader.partition()
        run = latest_run(reader.chunks(partition, OFFSET_BEGINNING, None))
        if run is None:
            raise MediaError(
                f"no audio of stream {stream_id} on {reader.topic} (never ingested, or past "
                "its retention)"
            )
        if run.last is None:
            raise MediaError(f"stream {stream_id} is still live: it is replayed once it ends")
        chunks = (chunk for _, chunk in reader.chunks(partition, run.first, run.last))
        yield from gapped_windows(chunks, window_s)
    finally:
        reader.close()
