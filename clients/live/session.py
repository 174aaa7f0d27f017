"""``kaption ingest`` and ``kaption live``: a source's audio to Kafka as AudioChunks, and the
live captions back, with their latency figures.

The client side of the live lane: a producer of chunks and a group-less reader of live cues
(clients/jobs.py's JobClient, reading ``live.cues`` instead of job statuses).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from clients.jobs import POLL_S, JobClient
from clients.live.ingest import Chunk, End, IngestOptions, read_live
from streams.broker.topics import Outgoing
from streams.events.audio import SAMPLE_RATE
from streams.events.model import AudioChunk, LiveCue, LiveKind, LiveStreamStarted
from streams.settings import KaptionSettings


class StreamClient(JobClient):
    """Publishes a stream's chunks and reads the live cues of every stream."""

    READS = ("live.cues", "live.translated")

    def publish_chunk(self, chunk: AudioChunk) -> None:
        self.send(Outgoing("live.audio", chunk))

    def publish_start(
        self, stream_id: str, languages: Sequence[str], speakers: bool = False
    ) -> None:
        """The stream's options, before its first chunk (empty: a reused id forgets the last
        run's languages and speakers)."""
        event = LiveStreamStarted(
            stream_id=stream_id,
            languages=tuple(languages),
            started_at=time.time(),
            speakers=speakers,
        )
        self.send(Outgoing("live.streams", event))

    def cues(self, timeout_s: float = 0.0) -> list[LiveCue]:
        """The stream's own cues and the translated ones (``language`` set)."""
        return [event for event in self.events(timeout_s) if isinstance(event, LiveCue)]


GENERIC_NAMES = {"index", "playlist", "master", "manifest", "chunklist", "live", "stream"}


def stream_name(source: str) -> str:
    """A file-name-safe name for a source: a file's stem, a URL's last telling path part
    (".../channel1/index.m3u8" -> "channel1"), else its host and port ("udp://127.0.0.1:5000"
    -> "127.0.0.1-5000")."""
    parts = urlsplit(source)
    if not parts.scheme:
        stem = Path(source).stem
    else:
        names = [Path(part).stem for part in parts.path.split("/") if part]
        while names and names[-1].lower() in GENERIC_NAMES:
            names.pop()
        port = str(parts.port) if parts.port else ""
        stem = names[-1] if names else "-".join(p for p in (parts.hostname or "", port) if p)
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
    languages: Sequence[str] = (),
    speakers: bool = False,
) -> End:
    """Publishes the stream's start with the target languages of its live translations and
    whether it wants speaker labels, then every chunk, calling ``between`` after each (a
    reader catches up), until the stream's end,
    which goes out too."""
    client.publish_start(stream_id, languages, speakers)
    for item in items:
        event = audio_chunk(stream_id, item)
        if isinstance(item, End):
            client.publish_chunk(event)
            return item
        client.publish_chunk(event)
        between()
    raise RuntimeError("the source reader stopped without an end")  # read_live always ends


@dataclass
class Latencies:
    """Latency figures of a stream that may run for days, in bounded memory: counts per 10 ms
    up to 2 minutes (longer ones in the last bin) and the exact maximum."""

    BIN_S = 0.01
    counts: np.ndarray = field(default_factory=lambda: np.zeros(12_000, dtype=np.int64))
    largest: float = 0.0

    def add(self, seconds: float) -> None:
        self.counts[min(len(self.counts) - 1, max(0, int(seconds / self.BIN_S)))] += 1
        self.largest = max(self.largest, seconds)

    def __len__(self) -> int:
        return int(self.counts.sum())

    def quantile(self, q: float) -> float:
        """The upper edge of the bin holding the q-quantile (at most 10 ms above the truth)."""
        rank = q * (len(self) - 1)
        index = int(np.searchsorted(np.cumsum(self.counts), rank, side="right"))
        return min((index + 1) * self.BIN_S, self.largest)

    def summary(self) -> dict[str, float]:
        return {"p50": self.quantile(0.5), "p95": self.quantile(0.95), "max": self.largest}


@dataclass
class Captions:
    """What ``kaption live`` shows and reports: final captions as they come, gaps, the end,
    and every final word's latencies."""

    stream_id: str
    show: Callable[[str], object]
    first: Latencies = field(default_factory=Latencies)
    final: Latencies = field(default_factory=Latencies)
    ended: LiveCue | None = None
    gaps: list[LiveCue] = field(default_factory=list)
    # Target languages asked for: each word's latency to its translated final, the gaps (a
    # failed translation says why in one) and which languages have ended.
    languages: tuple[str, ...] = ()
    translated: dict[str, Latencies] = field(default_factory=dict)
    translated_ended: set[str] = field(default_factory=set)

    @property
    def done(self) -> bool:
        """The stream and every language asked for have ended."""
        return self.ended is not None and self.translated_ended >= set(self.languages)

    def take(self, cues: list[LiveCue]) -> None:
        for cue in cues:
            if cue.stream_id != self.stream_id:
                continue
            if cue.language:
                self._take_translated(cue)
            elif cue.kind == LiveKind.FINAL:
                for word in cue.words:
                    self.first.add(word.first_latency_s)
                    self.final.add(word.final_latency_s)
                text = " ".join(line.text.replace("\n", " ") for line in cue.cues)
                self.show(f"[{cue.start:8.2f} s] {text}")
            elif cue.kind == LiveKind.GAP:
                self.gaps.append(cue)
                self.show(f"[{cue.start:8.2f} s] gap of {cue.gap_s:.1f} s: {cue.reason}")
            elif cue.kind == LiveKind.END:
                self.ended = cue

    def _take_translated(self, cue: LiveCue) -> None:
        language = cue.language
        if cue.kind == LiveKind.FINAL:
            latencies = self.translated.setdefault(language, Latencies())
            for word in cue.words:
                latencies.add(word.final_latency_s)
        elif cue.kind == LiveKind.GAP:
            self.gaps.append(cue)
            self.show(f"[{cue.start:8.2f} s] {language}: gap of {cue.gap_s:.1f} s: {cue.reason}")
        elif cue.kind == LiveKind.END:
            self.translated_ended.add(language)

    def summary(self) -> list[str]:
        lines = []
        series = [("first appearance", self.first), ("final", self.final)]
        series += [(f"translated {x}", self.translated.get(x, Latencies())) for x in self.languages]
        for label, values in series:
            if not len(values):
                lines.append(f"caption latency, {label}: no words")
                continue
            figures = values.summary()
            lines.append(
                f"caption latency, {label}: p50 {figures['p50']:.2f} s, p95 {figures['p95']:.2f} s,"
                f" max {figures['max']:.2f} s over {len(values)} words"
            )
        return lines


def follow_to_end(client: StreamClient, captions: Captions, timeout_s: float) -> None:
    """Reads cues until the stream's END cue and each language's (or the timeout: a stuck
    pipeline)."""
    waited = 0.0
    while not captions.done and waited < timeout_s:
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
