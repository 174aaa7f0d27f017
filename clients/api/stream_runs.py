"""What the API knows of live streams: the ingests it runs itself (one thread each, as
``kaption ingest`` runs one), and every stream's state folded from the live cue topic (as
``kaption streams`` shows it), kept current by one group-less reader per API process.

The cue topic is the truth about a stream (its captions, gaps, end, latencies); the ingest
threads only say what this process started and whether its source is still being read. Another
API process (or a ``kaption ingest`` elsewhere) sees the same streams but cannot stop them.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from clients.live.ingest import End
from clients.live.session import StreamClient, ingest, read_source
from clients.live.status import CUES_TOPIC, StreamSummary, fold, latency_summary
from clients.status import groupless_reader
from streams.broker.topics import load_registry
from streams.events.codec import DecodeError
from streams.events.model import LiveCue
from streams.events.registry import event_codec
from streams.job_options import translation_name
from streams.operations.live_files import remove_outputs
from streams.runtime.kafka import KafkaAuthenticationError
from streams.settings import KaptionSettings

log = logging.getLogger(__name__)

# A stream id is also its file name in the live output directory: the subtitles-live stage
# names files after the id with anything but [A-Za-z0-9._-] replaced and "-." stripped at the
# ends, so an id of this form is its own file name and can never name a path.
STREAM_ID = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9_])?$")
CATCH_UP_S = 5.0  # a request waits at most this long for the reader's first pass over the topic
STOP_WAIT_S = 5.0  # a stopped ingest publishes its end within ~0.1 s plus one acknowledgement
# A stream with no END whose captions moved this recently is live somewhere (silence marks keep
# coming while nobody speaks); one quiet for longer lost its ingest, and its name is free again.
ACTIVE_S = 60.0


class StreamRunning(Exception):
    """A stream of this id is live already: ingested by this process, or captioned lately."""


def redact(source: str) -> str:
    """The source as shown to clients: a URL without its password."""
    parts = urlsplit(source)
    if not parts.password:
        return source
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc}"))


@dataclass
class IngestRun:
    stream_id: str
    source: str  # what FFmpeg opens (a path resolved under the media root)
    languages: tuple[str, ...] = ()  # of its live translation
    speakers: bool = False  # its final captions carry speaker labels
    started_at: float = field(default_factory=time.time)
    stop: threading.Event = field(default_factory=threading.Event)
    end: End | None = None
    error: str | None = None
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def view(self) -> dict[str, object]:
        return {
            "source": redact(self.source),
            "languages": list(self.languages),
            "speakers": self.speakers,
            "running": self.running,
            "started_at": self.started_at,
            "media_s": round(self.end.media_time, 2) if self.end else None,
            "end_reason": self.end.reason if self.end else None,
            "error": self.error,
        }


class CueView:
    """Every stream's summary, folded from the live cue topic since its beginning by a reader
    thread that joins no consumer group (no rebalances, nothing committed)."""

    def __init__(self, settings: KaptionSettings) -> None:
        self.settings = settings
        self.codec = event_codec(settings)
        self.summaries: dict[str, StreamSummary] = {}
        self.lock = threading.Lock()
        self.caught_up = threading.Event()  # every partition read to its end once
        self.created = time.monotonic()
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._read, name="live cue view", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        registry = load_registry(self.settings.topics_file, self.settings.topic_prefix)
        topic = registry.name(CUES_TOPIC)
        consumer = groupless_reader(self.settings, "api-streams")
        partitions = range(registry.specs[CUES_TOPIC].partitions)
        pending = set(partitions)
        try:
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
            while not self.closing.is_set():
                try:
                    messages = consumer.consume(num_messages=500, timeout=0.2)
                except KafkaAuthenticationError as exc:
                    log.error("reading %s stopped: %s", topic, exc)  # waiting cannot fix a login
                    return
                except KafkaException:
                    # The view must outlive a broker outage: librdkafka reconnects by itself.
                    log.warning("reading %s failed; retrying", topic, exc_info=True)
                    self.closing.wait(1.0)
                    continue
                for message in messages:
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            pending.discard(message.partition())
                            if not pending:
                                self.caught_up.set()
                        continue  # transient errors: librdkafka retries by itself
                    self._take(message.value())
        finally:
            consumer.close()

    def _take(self, value: bytes | None) -> None:
        if value is None:
            return
        try:
            event = self.codec.decode(value)
        except DecodeError:
            return  # not ours to judge: the producing stage dead-letters
        if isinstance(event, LiveCue):
            with self.lock:
                fold(self.summaries, event)

    def _settled(self) -> None:
        # Only the first requests wait for the first pass (a broker that is away must not
        # slow every request down).
        self.caught_up.wait(max(0.0, self.created + CATCH_UP_S - time.monotonic()))

    def views(self) -> dict[str, dict[str, object]]:
        self._settled()
        with self.lock:
            return {sid: summary_view(s) for sid, s in self.summaries.items()}

    def live_lately(self, stream_id: str) -> bool:
        """Whether the stream has not ended and its captions moved within ACTIVE_S."""
        self._settled()
        with self.lock:
            summary = self.summaries.get(stream_id)
            return (
                summary is not None
                and not summary.ended
                and time.time() - summary.last_published < ACTIVE_S
            )

    def close(self) -> None:
        self.closing.set()
        self.thread.join(timeout=5)


def summary_view(summary: StreamSummary) -> dict[str, object]:
    figures = latency_summary(summary.final_latencies) if summary.final_latencies else {}
    return {
        "state": "ENDED" if summary.ended else "LIVE",
        "end_reason": summary.end_reason,
        "media_s": round(summary.watermark, 2),
        "finals": summary.finals,
        "words": summary.words,
        "gap_count": summary.gaps,
        "gap_s": round(summary.gap_s, 2),
        "last_gap_reason": summary.last_gap_reason or None,
        "final_latency_p50_s": round(figures["p50"], 3) if figures else None,
        "final_latency_p95_s": round(figures["p95"], 3) if figures else None,
        "final_latency_max_s": round(figures["max"], 3) if figures else None,
        "first_published": summary.first_published,
        "last_published": summary.last_published,
        "last_caption": summary.last_text,
    }


class LiveStreams:
    """The ingests this API process runs, and the cue view of every stream."""

    def __init__(self, settings: KaptionSettings) -> None:
        self.settings = settings
        self.runs: dict[str, IngestRun] = {}
        self.lock = threading.Lock()
        self.cues = CueView(settings)

    def start(
        self,
        stream_id: str,
        source: str,
        languages: tuple[str, ...] = (),
        speakers: bool = False,
    ) -> IngestRun:
        with self.lock:
            current = self.runs.get(stream_id)
            if current is not None and current.running:
                raise StreamRunning(f"stream {stream_id} is running")
            if self.cues.live_lately(stream_id):
                raise StreamRunning(f"stream {stream_id} is live (ingested elsewhere)")
            if self.settings.live_out_dir is not None:
                # The files of an ended stream of this name: its writer would ignore the new one.
                for name in (stream_id, *(translation_name(stream_id, x) for x in languages)):
                    remove_outputs(self.settings.live_out_dir, name)
            run = IngestRun(stream_id, source, languages, speakers)
            run.thread = threading.Thread(
                target=self._ingest, args=(run,), name=f"ingest {stream_id}", daemon=True
            )
            self.runs[stream_id] = run
            run.thread.start()
            return run

    def _ingest(self, run: IngestRun) -> None:
        # A file is paced at playback speed, as `kaption ingest` paces one: it stands in for a
        # live source; a URL comes at its own pace.
        paced = "://" not in run.source
        try:
            with StreamClient(self.settings) as client:
                items = read_source(run.source, self.settings, paced, run.stop)
                # Reading the cues drains the client's reader, which would otherwise buffer them.
                run.end = ingest(
                    client, run.stream_id, items, client.cues, run.languages, run.speakers
                )
            log.info("stream %s ended: %s", run.stream_id, run.end.reason)
        except Exception as exc:
            run.error = str(exc) or type(exc).__name__
            log.exception("stream %s: ingest failed", run.stream_id)

    def stop(self, stream_id: str) -> IngestRun | None:
        """Stops this process's ingest of the stream (it publishes the stream's end)."""
        run = self.runs.get(stream_id)
        if run is not None:
            run.stop.set()
            if run.thread is not None:
                run.thread.join(timeout=STOP_WAIT_S)
        return run

    def view(self, stream_id: str) -> dict[str, object] | None:
        return self.views().get(stream_id)

    def views(self) -> dict[str, dict[str, object]]:
        """Every stream the cue topic or this process knows, live ones first."""
        cues = self.cues.views()
        with self.lock:
            runs = dict(self.runs)
        merged: dict[str, dict[str, object]] = {}
        for stream_id in cues.keys() | runs.keys():
            merged[stream_id] = stream_view(stream_id, cues.get(stream_id), runs.get(stream_id))
        return dict(
            sorted(
                merged.items(),
                key=lambda item: (item[1]["state"] == "LIVE", item[1]["updated_at"]),
                reverse=True,
            )
        )

    def close(self) -> None:
        """Stops every ingest (each stream ends cleanly) and the cue reader."""
        for run in list(self.runs.values()):
            run.stop.set()
        for run in list(self.runs.values()):
            if run.thread is not None:
                run.thread.join(timeout=STOP_WAIT_S)
        self.cues.close()


def stream_view(
    stream_id: str, cues: dict[str, object] | None, run: IngestRun | None
) -> dict[str, object]:
    if cues is not None and run is not None and cues["state"] == "ENDED":
        last = cues["last_published"]
        if isinstance(last, float) and run.started_at > last:
            cues = None  # an earlier stream of the same name; this one has no cues yet
    if cues is None:
        # Started here, no caption yet: live while its source is read (or its end is on the way).
        assert run is not None
        ended = not run.running and (run.error is not None or run.end is None)
        cues = summary_view(StreamSummary(stream_id, run.started_at, run.started_at))
        cues["state"] = "ENDED" if ended else "LIVE"
        cues["end_reason"] = run.error if ended else None
    updated = cues.pop("last_published")
    started = cues.pop("first_published")
    return {
        "stream_id": stream_id,
        **cues,
        "started_at": started,
        "updated_at": updated,
        "ingest": run.view() if run is not None else None,
        "links": links(stream_id),
    }


def links(stream_id: str) -> dict[str, str]:
    base = f"/v1/streams/{stream_id}"
    return {
        "self": base,
        "playlist": f"{base}/{stream_id}.m3u8",
        "captions": f"{base}/{stream_id}.vtt",
        "srt": f"{base}/{stream_id}.srt",
    }
