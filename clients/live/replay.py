"""``kaption streams replay`` and the replay columns of ``kaption streams``: a stream's replay
through the file lane (streams/operations/replay.py) asked for, and each stream's latest replay
with its state and word count.

A replay is a file job whose source is ``stream:<id>``, so its state is on the compacted
jobs.status topic like any job's; its words are in its SubtitlesReady, found on subtitles.ready
from the time it was requested on (Kafka's time index), not by reading 30 days of results.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pysubs2
from confluent_kafka import KafkaError, TopicPartition

from clients.jobs import JobClient
from clients.status import groupless_reader, read_statuses
from streams.broker.topics import Outgoing, load_registry
from streams.events.codec import DecodeError
from streams.events.model import JobState, JobStatus, LiveStreamStarted, SubtitlesReady
from streams.events.registry import event_codec
from streams.events.states import FINAL_STATES
from streams.operations.replay import replay_request
from streams.settings import KaptionSettings
from streams.sources import stream_of

RESULTS_TOPIC = "subtitles.ready"
POLL_S = 0.1
EARLIER_MS = 1000  # a result is looked for from a second before its request (clock skew)
VOD = "#EXT-X-PLAYLIST-TYPE:VOD"


@dataclass(frozen=True)
class Replay:
    """A stream's latest replay: its job's status and, once it has one, its subtitles' words."""

    stream_id: str
    status: JobStatus
    words: int | None = None
    cues: int | None = None

    @property
    def state(self) -> JobState:
        return self.status.state

    def label(self) -> str:
        """The table's replay column: "COMPLETED, 84 words", "TRANSCRIBING 3/10", ..."""
        state = self.state.value
        if self.words is not None:
            return f"{state}, {self.words} words"
        if self.state in FINAL_STATES:
            return f"{state}: {self.status.reason}" if self.status.reason else state
        settled = self.status.segments_done + self.status.segments_failed
        return f"{state} {settled}/{self.status.segments_total}"

    def fields(self) -> dict[str, Any]:
        return {
            "replay": self.label(),
            "replay_job": self.status.job_id,
            "replay_state": self.state.value,
            "replay_words": self.words,
            "replay_cues": self.cues,
        }


def replay_speakers(start: LiveStreamStarted | None, forced: bool | None = None) -> bool:
    """Whether a replay on request asks the file lane for speaker labels: ``forced`` when
    given, else whether the stream's latest start (``start``; None: not known) asked for them,
    as the replay at the stream's end does for labelled live captions."""
    if forced is not None:
        return forced
    return start is not None and start.speakers


def request_replay(
    client: JobClient, stream_id: str, model: str = "", speakers: bool = False
) -> str:
    """Publishes the stream's replay job (UnsafeSource, ReplayError: refused); its id."""
    request = replay_request(stream_id, client.settings.language, model, speakers=speakers)
    client.send(Outgoing("jobs.requested", request))
    return request.job_id


def replaced(out_dir: Path, name: str) -> bool:
    """Whether stream ``name``'s files in ``out_dir`` are a replay's (its VOD playlist, which
    agents/subtitles/replay.py writes last)."""
    playlist = out_dir / f"{name}.m3u8"
    return playlist.exists() and VOD in playlist.read_text(encoding="utf-8")


def wait_for_replaced(
    out_dir: Path, name: str, timeout_s: float, alive: Callable[[], bool] = lambda: True
) -> bool:
    deadline = time.monotonic() + timeout_s
    while not replaced(out_dir, name):
        if time.monotonic() > deadline or not alive():
            return False
        time.sleep(0.2)
    return True


def count_words(vtt: str) -> tuple[int, int]:
    """(words, cues) of a WebVTT text."""
    events = pysubs2.SSAFile.from_string(vtt, format_="vtt").events
    return sum(len(e.plaintext.split()) for e in events), len(events)


def word_count(vtt: str) -> int:
    return count_words(vtt)[0]


def latest_replays(statuses: Iterable[JobStatus]) -> dict[str, JobStatus]:
    """Each stream's latest replay job (by request time) among job statuses."""
    latest: dict[str, JobStatus] = {}
    for status in statuses:
        try:
            stream_id = stream_of(status.source)
        except ValueError:
            continue
        if stream_id is None:
            continue
        known = latest.get(stream_id)
        if known is None or status.requested_at > known.requested_at:
            latest[stream_id] = status
    return latest


def read_replays(
    settings: KaptionSettings, stream_ids: Iterable[str] | None = None, timeout_s: float = 10.0
) -> dict[str, Replay]:
    """The latest replay of each stream (of ``stream_ids``, default all), with the words of
    those that have subtitles."""
    wanted = None if stream_ids is None else set(stream_ids)
    latest = {
        stream_id: status
        for stream_id, status in latest_replays(read_statuses(settings, timeout_s).values()).items()
        if wanted is None or stream_id in wanted
    }
    done = {s.job_id: s for s in latest.values() if s.state in FINAL_STATES}
    results = read_results(settings, done.values(), timeout_s) if done else {}
    replays = {}
    for stream_id, status in latest.items():
        ready = results.get(status.job_id)
        counted = count_words(ready.vtt) if ready is not None else (None, None)
        replays[stream_id] = Replay(stream_id, status, *counted)
    return replays


def of_current_runs(
    replays: Mapping[str, Replay], started: Mapping[str, float]
) -> dict[str, Replay]:
    """The replays asked since their stream's current run began (``started``: Unix seconds by
    stream id): an id used again shows no replay of its earlier run."""
    return {
        stream_id: replay
        for stream_id, replay in replays.items()
        if stream_id in started and replay.status.requested_at.timestamp() >= started[stream_id]
    }


def read_results(
    settings: KaptionSettings, jobs: Iterable[JobStatus], timeout_s: float
) -> dict[str, SubtitlesReady]:
    """The SubtitlesReady of ``jobs`` on subtitles.ready, each partition read from the earliest
    request time on to its end, joining no consumer group."""
    jobs = list(jobs)
    keys = {status.job_id.encode() for status in jobs}
    since_ms = min(int(s.requested_at.timestamp() * 1000) for s in jobs) - EARLIER_MS
    topic = load_registry(settings.topics_file, settings.topic_prefix).name(RESULTS_TOPIC)
    codec = event_codec(settings)
    found: dict[str, SubtitlesReady] = {}
    consumer = groupless_reader(settings, "replays")
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        partitions = sorted(metadata.topics[topic].partitions) if topic in metadata.topics else []
        wanted = [TopicPartition(topic, p, since_ms) for p in partitions]
        starts = consumer.offsets_for_times(wanted, timeout=timeout_s) if wanted else []
        # A partition with nothing since then has offset -1 (its end): nothing to read there.
        assigned = [tp for tp in starts if tp.offset >= 0]
        consumer.assign(assigned)
        read_to_end(consumer, {tp.partition for tp in assigned}, timeout_s, keys, codec, found)
    finally:
        consumer.close()
    return found


def read_to_end(
    consumer: Any,
    pending: set[int],
    timeout_s: float,
    keys: set[bytes],
    codec: Any,
    found: dict[str, SubtitlesReady],
) -> None:
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for message in consumer.consume(num_messages=100, timeout=POLL_S):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                continue
            if message.key() not in keys:
                continue
            try:
                event = codec.decode(message.value())
            except DecodeError:
                continue
            if isinstance(event, SubtitlesReady):
                found[event.job_id] = event


def replay_columns(replays: Mapping[str, Replay]) -> Callable[[str], dict[str, Any]]:
    """A stream's replay columns for clients/live/status.py's rows (empty: no replay)."""
    empty = dict.fromkeys(("replay_job", "replay_state", "replay_words", "replay_cues"))

    def of(stream_id: str) -> dict[str, Any]:
        replay = replays.get(stream_id)
        return {"replay": "", **empty} if replay is None else replay.fields()

    return of
