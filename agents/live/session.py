"""``kaption ingest`` and ``kaption live``: a source's audio to Kafka as AudioChunks, and the
live captions back, with their latency figures.

The client side of the live lane: a producer of chunks and a group-less reader of live cues
(streams/client.py's JobClient, reading ``live.cues`` instead of job statuses).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from agents.cues.live_order import latency_summary
from agents.live.ingest import Chunk, End, IngestOptions, read_live
from streams.audio import SAMPLE_RATE
from streams.client import POLL_S, JobClient
from streams.codec import DecodeError
from streams.events import AudioChunk, LiveCue, LiveKind
from streams.settings import KaptionSettings
from streams.topics import Outgoing


class StreamClient(JobClient):
    """Publishes a stream's chunks and reads the live cues of every stream."""

    READS = ("live.cues",)

    def publish_chunk(self, chunk: AudioChunk) -> None:
        self.send(Outgoing("live.audio", chunk))

    def cues(self, timeout_s: float = 0.0) -> list[LiveCue]:
        found = []
        for message in self.consumer.consume(num_messages=500, timeout=timeout_s):
            if message.error() is not None:
                continue  # partition EOF and transient errors: librdkafka retries itself
            try:
                event = self.codec.decode(message.value())
            except DecodeError:
                continue  # not ours to judge: the producing stage dead-letters
            if isinstance(event, LiveCue):
                found.append(event)
        return found


def stream_name(source: str) -> str:
    """A file-name-safe name for a source: a file's stem, a URL's last path part, or its host
    and port ("udp://127.0.0.1:5000" -> "127.0.0.1-5000")."""
    parts = urlsplit(source)
    path = parts.path if parts.scheme else source
    stem = Path(path).stem
    if not stem or (stem in {"index", "playlist", "live", "stream"} and parts.netloc):
        stem = f"{parts.hostname or 'stream'}-{parts.port}" if parts.port else parts.netloc
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "stream"


def ingest_options(settings: KaptionSettings, realtime: bool) -> IngestOptions:
    return IngestOptions(
        chunk_s=settings.live_chunk_s,
        realtime=realtime,
        connect_timeout_s=settings.source_connect_timeout_s,
        read_timeout_s=settings.live_read_timeout_s,
        idle_timeout_s=settings.live_idle_timeout_s,
    )


def audio_chunk(stream_id: str, item: Chunk | End) -> AudioChunk:
    if isinstance(item, End):
        return AudioChunk(
            stream_id=stream_id,
            seq=item.seq,
            media_time=item.media_time,
            duration=0.0,
            capture_time=0.0,
            sample_rate=SAMPLE_RATE,
            pcm=b"",
            source_offset=0.0,
            gap_before=0.0,
            gap_reason="",
            last=True,
            end_reason=item.reason,
        )
    return AudioChunk(
        stream_id=stream_id,
        seq=item.seq,
        media_time=item.media_time,
        duration=item.duration,
        capture_time=item.capture_time,
        sample_rate=SAMPLE_RATE,
        pcm=item.pcm,
        source_offset=item.source_offset,
        gap_before=item.gap_before,
        gap_reason=item.gap_reason,
        last=False,
        end_reason="",
    )


def ingest(
    client: StreamClient,
    stream_id: str,
    items: Iterator[Chunk | End],
    between: Callable[[], object] = lambda: None,
) -> End:
    """Publishes every chunk, calling ``between`` after each (a reader catches up), until the
    stream's end, which goes out too."""
    for item in items:
        event = audio_chunk(stream_id, item)
        if isinstance(item, End):
            client.publish_chunk(event)
            return item
        client.publish_chunk(event)
        between()
    raise RuntimeError("the source reader stopped without an end")  # read_live always ends


@dataclass
class Captions:
    """What ``kaption live`` shows and reports: final captions as they come, gaps, the end,
    and every final word's latencies."""

    stream_id: str
    show: Callable[[str], object]
    first: list[float] = field(default_factory=list)
    final: list[float] = field(default_factory=list)
    ended: LiveCue | None = None
    gaps: list[LiveCue] = field(default_factory=list)

    def take(self, cues: list[LiveCue]) -> None:
        for cue in cues:
            if cue.stream_id != self.stream_id:
                continue
            if cue.kind == LiveKind.FINAL:
                self.first += [w.first_latency_s for w in cue.words]
                self.final += [w.final_latency_s for w in cue.words]
                text = " ".join(line.text.replace("\n", " ") for line in cue.cues)
                self.show(f"[{cue.start:8.2f} s] {text}")
            elif cue.kind == LiveKind.GAP:
                self.gaps.append(cue)
                self.show(f"[{cue.start:8.2f} s] gap of {cue.gap_s:.1f} s: {cue.reason}")
            elif cue.kind == LiveKind.END:
                self.ended = cue

    def summary(self) -> list[str]:
        lines = []
        for label, values in (("first appearance", self.first), ("final", self.final)):
            if not values:
                lines.append(f"caption latency, {label}: no words")
                continue
            figures = latency_summary(values)
            lines.append(
                f"caption latency, {label}: p50 {figures['p50']:.2f} s, p95 {figures['p95']:.2f} s,"
                f" max {figures['max']:.2f} s over {len(values)} words"
            )
        return lines


def follow_to_end(client: StreamClient, captions: Captions, timeout_s: float) -> None:
    """Reads cues until the stream's END cue (or the timeout: a stuck pipeline)."""
    waited = 0.0
    while captions.ended is None and waited < timeout_s:
        captions.take(client.cues(POLL_S))
        client.watch.check()
        waited += POLL_S


def stop_on_signals(stop: threading.Event) -> None:
    import signal

    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def read_source(
    source: str, settings: KaptionSettings, realtime: bool, stop: threading.Event
) -> Iterator[Chunk | End]:
    return read_live(source, ingest_options(settings, realtime), stop)
