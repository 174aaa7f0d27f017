"""Live streams through a real broker, the live workers and the real model: generated speech
streamed over loopback (MPEG-TS over UDP, HLS from a local HTTP server), captions in order with
the right words, rolling WebVTT and HLS playlist, gaps, the end, and a file job alongside."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import m3u8
import pysubs2
import pytest

from agents.cues.check import check_cues
from agents.cues.live_order import normalise
from agents.cues.model import Cue
from agents.live.phrases import mark
from clients.jobs import JobClient
from clients.live.ingest import End, IngestOptions, read_live
from clients.live.session import Captions, StreamClient, ingest
from streams.broker.topics import Outgoing
from streams.events.model import JobState, LiveCue, LiveKind, LiveWord
from streams.runtime.processes import free_port, settings_env, wait_ready, worker_process
from streams.runtime.roles import STAGES
from streams.settings import KaptionSettings
from tests.integration.conftest import create_topics, fresh_settings
from tests.integration.helpers import scrape
from tests.live_sources import free_udp_port, hls_stream, udp_mpegts
from tests.paths import MEDIA, SAMPLES
from tests.wer import word_error_rate

pytestmark = pytest.mark.integration
REFERENCE = json.loads((MEDIA / "speech.json").read_text())
SPEECH = MEDIA / "speech.mp4"
# tiny.en on this espeak voice: 0.1-0.3 (tests/integration/test_pipeline.py); losing one of the
# three sentences (a third of the words) fails.
MAX_WER = 0.35
READY_S = 120.0


@dataclass
class Live:
    settings: KaptionSettings
    out_dir: Path
    port: int
    process: Any


@pytest.fixture(scope="module")
def live(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Topics and one worker running every stage, file and live lanes, writing live files."""
    data_dir = tmp_path_factory.mktemp("live")
    out_dir = data_dir / "out"
    port = free_port()
    # A phrase is given up as lost after 5 s (10 by default): finals take about a second here.
    settings = fresh_settings(bootstrap, data_dir, live_out_dir=out_dir, live_order_timeout_s=5.0)
    create_topics(settings)
    log = data_dir / "worker.log"
    worker = settings.model_copy(update={"metrics_port": port})
    with worker_process(worker, list(STAGES), log) as process:
        wait_ready(port, lambda: process.poll() is None, READY_S)
        yield Live(settings, out_dir, port, process)
        assert process.poll() is None, "the worker died:\n" + log.read_text()[-4000:]


@dataclass
class Streamed:
    end: End
    cues: list[LiveCue]
    captions: Captions

    def of(self, kind: LiveKind) -> list[LiveCue]:
        return [c for c in self.cues if c.kind == kind]

    @property
    def final_words(self) -> list[LiveWord]:
        return [w for c in self.of(LiveKind.FINAL) for w in c.words]

    @property
    def final_text(self) -> str:
        return " ".join(w.word for c in self.of(LiveKind.FINAL) for w in c.words)


def stream(
    settings: KaptionSettings, stream_id: str, source: str, options: IngestOptions
) -> Streamed:
    """Ingests ``source`` until it ends and reads the stream's cues up to its END."""
    seen: list[LiveCue] = []
    captions = Captions(stream_id, lambda line: None)

    def take(cues: list[LiveCue]) -> None:
        mine = [c for c in cues if c.stream_id == stream_id]
        seen.extend(mine)
        captions.take(mine)

    with StreamClient(settings) as client:
        end = ingest(client, stream_id, read_live(source, options), lambda: take(client.cues()))
        deadline = time.monotonic() + 60
        while captions.ended is None and time.monotonic() < deadline:
            take(client.cues(0.2))
    assert captions.ended is not None, "no END cue"
    return Streamed(end, seen, captions)


def assert_in_order_and_complete(result: Streamed) -> None:
    """Every item of the sequence released once, in order; interims only for their phrase
    before its final, their stable text growing, and each final keeping that stable text."""
    released = [c.seq for c in result.cues if c.kind != LiveKind.INTERIM]
    assert released == list(range(len(released)))
    finals = {c.seq: i for i, c in enumerate(result.cues) if c.kind == LiveKind.FINAL}
    stable: dict[int, str] = {}
    for i, cue in enumerate(result.cues):
        if cue.kind == LiveKind.INTERIM:
            assert cue.seq not in finals or i < finals[cue.seq], cue
            assert cue.stable.startswith(stable.get(cue.seq, "")), (stable, cue)
            stable[cue.seq] = cue.stable
    for cue in result.of(LiveKind.FINAL):
        promised = [normalise(w) for w in stable.get(cue.seq, "").split()]
        assert [normalise(w.word) for w in cue.words][: len(promised)] == promised, cue
    watermarks = [c.watermark for c in result.cues]
    assert watermarks == sorted(watermarks)


def assert_files(out_dir: Path, name: str, result: Streamed) -> None:
    finals = [line for c in result.of(LiveKind.FINAL) for line in c.cues]
    rolling = pysubs2.load(str(out_dir / f"{name}.vtt"))
    assert [e.plaintext for e in rolling] == [line.text for line in finals]
    complete = pysubs2.load(str(out_dir / f"{name}.srt"))
    assert [e.plaintext for e in complete] == [line.text for line in finals]
    cues = [Cue.from_text(line.start, line.end, line.text) for line in finals]
    assert all("too many" not in p and "long" not in p for p in check_cues(cues)), cues
    playlist = m3u8.load(str(out_dir / f"{name}.m3u8"))
    assert playlist.is_endlist and playlist.target_duration
    covered = sum(s.duration for s in playlist.segments)
    assert covered == pytest.approx(result.end.media_time, abs=playlist.target_duration)
    in_segments = set()
    for segment in playlist.segments:
        text = (out_dir / segment.uri).read_text()
        assert text.startswith("WEBVTT") and "X-TIMESTAMP-MAP=MPEGTS:" in text
        in_segments |= {e.plaintext for e in pysubs2.SSAFile.from_string(text, format_="vtt")}
    assert in_segments == {line.text for line in finals}


def live_latency_counts(port: int) -> dict[str, float]:
    """The worker's `kaption_live_caption_latency_seconds` observations so far, by kind."""
    return {
        sample.labels["kind"]: sample.value
        for sample in scrape(port, "kaption_live_caption_latency_seconds")
        if sample.name.endswith("_count")
    }


def test_udp_mpegts_gives_ordered_captions_with_the_right_words_and_files(live: Live) -> None:
    observed_before = live_latency_counts(live.port)
    port = free_udp_port()
    options = IngestOptions(read_timeout_s=2.0, idle_timeout_s=4.0)
    with udp_mpegts(SPEECH, port, start=False) as sender:
        threading.Timer(1.0, sender.start).start()  # once the reader listens
        result = stream(live.settings, "udp-talk", sender.url, options)
    assert_in_order_and_complete(result)
    assert word_error_rate(REFERENCE["text"], result.final_text) < MAX_WER
    assert result.of(LiveKind.INTERIM), "no interim captions while people spoke"
    assert result.end.reason.startswith("no data for")
    assert [c.reason for c in result.of(LiveKind.END)] == [result.end.reason]
    words = result.final_words
    assert len(result.captions.final) == len(words) > 0
    # Each word appears first no later than final; every latency is a positive few seconds.
    assert [w for w in words if not 0 < w.first_latency_s <= w.final_latency_s < 15] == []
    assert_files(live.out_dir, "udp-talk", result)
    # The same latencies, one observation per final word and kind, for Prometheus.
    observed = live_latency_counts(live.port)
    assert {k: observed[k] - observed_before[k] for k in observed} == {
        "first": len(words),
        "final": len(words),
        "translated": 0,  # the stream asked for no translation
    }


def test_a_dropped_and_resumed_source_gives_a_recorded_gap_and_no_repeated_captions(
    live: Live,
) -> None:
    port = free_udp_port()
    options = IngestOptions(read_timeout_s=1.5, idle_timeout_s=4.0)
    with udp_mpegts(SPEECH, port, start=False) as sender:
        threading.Timer(1.0, sender.start).start()
        threading.Timer(1.0 + 5.0, sender.pause, args=(3.0,)).start()  # 5 s in: a 3 s outage
        result = stream(live.settings, "udp-drop", sender.url, options)
    assert_in_order_and_complete(result)
    timeline = [(c.seq, c.kind.value, round(c.start, 2), round(c.end, 2)) for c in result.cues]
    [gap] = result.of(LiveKind.GAP)
    assert gap.gap_s == pytest.approx(3.0, abs=1.0) and gap.reason, (gap, timeline)
    finals = result.of(LiveKind.FINAL)
    # Speech before the outage is captioned before the gap in the sequence, speech after it
    # after, and nothing is said twice.
    assert any(c.seq < gap.seq for c in finals) and any(c.seq > gap.seq for c in finals), timeline
    assert all(c.start >= gap.end - 0.5 for c in finals if c.seq > gap.seq), timeline
    texts = [" ".join(w.word for w in c.words) for c in finals]
    assert len(texts) == len(set(texts)), texts
    assert len(result.final_text.split()) <= len(REFERENCE["text"].split()), texts
    assert_files(live.out_dir, "udp-drop", result)
    assert_stream_status(live.settings, "udp-drop", result, gap)


def assert_stream_status(
    settings: KaptionSettings, stream_id: str, result: Any, gap: LiveCue
) -> None:
    """`kaption streams` tells what happened to the stream: ended and why, its gap and why."""
    env = {"PATH": "/usr/bin:/bin", **settings_env(settings)}
    command = [sys.executable, "-m", "clients.cli", "streams"]
    shown = subprocess.run(
        [*command, stream_id, "--json"], capture_output=True, text=True, env=env, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    [row] = json.loads(shown.stdout)
    assert row["stream"] == stream_id and row["state"] == "ENDED", row
    assert row["end_reason"] == result.end.reason and row["reason"] == result.end.reason, row
    assert row["gap_count"] == 1 and row["last_gap_reason"] == gap.reason, row
    assert row["finals"] == len(result.of(LiveKind.FINAL)) and row["media_s"] >= gap.end, row
    assert row["final_latency_p95_s"] > 0, row
    unknown = subprocess.run(
        [*command, "no-such-stream"], capture_output=True, text=True, env=env, timeout=60
    )
    assert unknown.returncode == 1 and "no stream no-such-stream" in unknown.stderr


def test_hls_over_http_gives_captions_and_ends_with_the_source(live: Live, tmp_path: Path) -> None:
    with hls_stream(SPEECH, tmp_path / "hls", segment_s=2.0) as server:
        result = stream(live.settings, "hls-talk", server.url, IngestOptions(idle_timeout_s=10))
    assert_in_order_and_complete(result)
    assert result.end.reason == "source ended"
    assert word_error_rate(REFERENCE["text"], result.final_text) < MAX_WER
    assert_files(live.out_dir, "hls-talk", result)


def long_speech(path: Path, repeats: int) -> Path:
    """The demo's speech over and over: a file job that outlasts a short live stream."""
    import wave

    import numpy as np

    from agents.decode.media import decode_audio

    pcm = np.tile(decode_audio(str(SAMPLES / "demo.mp4")).pcm, repeats)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(pcm.astype("<i2").tobytes())
    return path


def test_a_file_job_alongside_does_not_hold_live_captions_back(live: Live, tmp_path: Path) -> None:
    """A file job is being transcribed while a live stream runs; the live captions still
    come (their own topic, group and thread), each within seconds of its words."""
    # About 12 minutes: tiny.en transcribes 4 in under 6 s here, sooner than base's first live
    # final (a few seconds of speech, then its call), and the job must outlast it.
    source = long_speech(tmp_path / "long.wav", repeats=24)
    statuses: list[tuple[float, JobState]] = []
    transcribing = threading.Event()

    def on_status(status: Any) -> None:
        statuses.append((time.time(), status.state))
        if status.state == JobState.TRANSCRIBING:
            transcribing.set()

    def file_job() -> None:
        with JobClient(live.settings) as client:
            job_id = client.submit(str(source))
            result = client.wait(job_id, 600, on_status=on_status)
            statuses.append((time.time(), result.state))

    worker = threading.Thread(target=file_job)
    worker.start()
    assert transcribing.wait(60), "the file job did not start"
    result = stream(live.settings, "beside-a-job", str(SPEECH), IngestOptions(realtime=True))
    first_final = min(c.published_at for c in result.of(LiveKind.FINAL))
    worker.join(timeout=600)
    assert statuses[-1][1] == JobState.COMPLETED
    assert statuses[-1][0] > first_final, "the file job ended before any live caption"
    assert word_error_rate(REFERENCE["text"], result.final_text) < MAX_WER
    assert max(w.final_latency_s for w in result.final_words) < 8.0, result.final_words


def test_a_phrase_that_never_comes_is_a_gap_and_the_stream_still_ends(live: Live) -> None:
    """Phrase 1's transcript is lost (say, dead-lettered); the end behind it is released as
    soon as the order timeout passes, with a gap where the phrase was, though nothing else
    arrives for the stream."""
    stream_id = "lost-phrase"

    def item(seq: int, kind: LiveKind, start: float, end: float, reason: str = "") -> Outgoing:
        transcript = mark(
            stream_id,
            seq,
            kind,
            start,
            end,
            capture_end=time.time(),
            source_offset=0.0,
            reason=reason,
        )
        return Outgoing("live.transcripts", transcript)

    seen: list[LiveCue] = []
    with StreamClient(live.settings) as client:
        client.send(item(0, LiveKind.SILENCE, 0.0, 2.0))
        client.send(item(2, LiveKind.END, 5.0, 6.0, "source ended"))
        deadline = time.monotonic() + 60
        while not any(c.kind == LiveKind.END for c in seen) and time.monotonic() < deadline:
            seen += [c for c in client.cues(0.2) if c.stream_id == stream_id]
    kinds = [(c.seq, c.kind) for c in seen]
    assert kinds == [(0, LiveKind.SILENCE), (1, LiveKind.GAP), (2, LiveKind.END)]
    gap = seen[1]
    assert gap.reason == "phrase 1 lost" and (gap.start, gap.end) == (2.0, 5.0)
    assert seen[1].published_at - seen[0].published_at >= 5.0


def test_a_final_that_cannot_be_transcribed_becomes_a_gap_with_the_reason(live: Live) -> None:
    """The stage runner's retry policy, in the live lane: audio that is no PCM is a permanent
    error, so the final is not tried again; the failure is a value built from the phrase
    itself (a gap with the reason, in the stream's sequence) and a dead letter."""
    from clients.status import read_topic
    from streams.events.codec import AvroCodec
    from streams.events.model import LiveSegment, LiveTranscript

    settings = live.settings
    phrase = LiveSegment(
        stream_id="corrupt-live",
        seq=0,
        revision=0,
        final=True,
        start=1.0,
        end=2.0,
        capture_end=2.0,
        source_offset=0.0,
        sample_rate=16000,
        pcm=b"\x01\x02\x03",
        sent_at=time.time(),
    )
    with JobClient(settings) as client:
        client.send(Outgoing("live.segments", phrase))
    codec = AvroCodec(settings.schemas_dir)
    found: list[LiveTranscript] = []

    def take(key: bytes | None, value: bytes | None) -> None:
        event = codec.decode(value) if value else None
        if isinstance(event, LiveTranscript) and event.stream_id == "corrupt-live":
            found.append(event)

    deadline = time.monotonic() + 30
    while not found and time.monotonic() < deadline:
        read_topic(settings, "live.transcripts", take, "live transcripts")
        time.sleep(0.5)
    [gap] = found
    assert (gap.kind, gap.seq, gap.start, gap.end) == (LiveKind.GAP, 0, 1.0, 2.0)
    assert gap.reason == "transcription failed: PCM payload has an odd length (3 bytes)"
    letters: list[bytes | None] = []
    read_topic(settings, "live.segments.dlq", lambda k, v: letters.append(k), "dead letters")
    assert letters == [b"corrupt-live"]
