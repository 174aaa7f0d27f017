"""A live stream replayed through the file lane, on a real broker with one worker running both
lanes and the real model: when the stream ends its retained audio goes through decode, speech
detection, transcription, cues and subtitles, and its final files become the file lane's result
(the same cues a file job of the same audio gives), the live ones kept beside them, with a VOD
HLS playlist; `kaption streams` shows both versions' words; `kaption streams replay` asks again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import m3u8
import pysubs2
import pytest

from clients.jobs import JobClient
from clients.live.ingest import IngestOptions, read_live
from clients.live.replay import Replay, read_replays, request_replay
from clients.live.session import StreamClient, ingest
from clients.status import read_topic
from streams.events.model import JobRequested, JobState, LiveCue, LiveKind
from streams.events.registry import event_codec
from streams.events.states import FINAL_STATES
from streams.runtime.processes import free_port, wait_ready, worker_process
from streams.runtime.roles import STAGES
from streams.settings import KaptionSettings
from tests.integration.conftest import create_topics, fresh_settings, run_job
from tests.integration.helpers import cli
from tests.paths import MEDIA

pytestmark = pytest.mark.integration
# The Apache Kafka jars `make kafka` put in this user's cache (HOME is a fresh folder here).
KAFKA_JARS = {"KAPTION_KAFKA_HOME": str(KaptionSettings().kafka_home)}
SPEECH = MEDIA / "speech.mp4"
STREAM = "talk"
READY_S = 120.0
REPLAY_S = 180.0


@dataclass
class Worker:
    settings: KaptionSettings
    out_dir: Path
    process: Any


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """Topics and one worker running every stage, both lanes, writing the live files."""
    data_dir = tmp_path_factory.mktemp("replay")
    out_dir = data_dir / "out"
    port = free_port()
    settings = fresh_settings(bootstrap, data_dir, live_out_dir=out_dir, live_order_timeout_s=5.0)
    create_topics(settings)
    log = data_dir / "worker.log"
    with worker_process(settings.model_copy(update={"metrics_port": port}), list(STAGES), log) as p:
        wait_ready(port, lambda: p.poll() is None, READY_S)
        yield Worker(settings, out_dir, p)
        assert p.poll() is None, "the worker died:\n" + log.read_text()[-4000:]


def stream_to_end(settings: KaptionSettings, stream_id: str, source: Path) -> list[LiveCue]:
    """Ingests ``source`` as fast as it is read and returns the stream's cues up to its END."""
    seen: list[LiveCue] = []
    with StreamClient(settings) as client:
        ingest(client, stream_id, read_live(str(source), IngestOptions()))
        deadline = time.monotonic() + 90
        while not any(c.kind == LiveKind.END for c in seen) and time.monotonic() < deadline:
            seen += [c for c in client.cues(0.2) if c.stream_id == stream_id]
    assert any(c.kind == LiveKind.END for c in seen), "no END cue"
    return seen


def replay_done(settings: KaptionSettings, stream_id: str, after: str | None = None) -> Replay:
    """The stream's latest replay once it has ended (another one than ``after``)."""
    deadline = time.monotonic() + REPLAY_S
    while time.monotonic() < deadline:
        replay = read_replays(settings, [stream_id]).get(stream_id)
        if replay is None or replay.status.job_id == after or replay.state not in FINAL_STATES:
            pass
        elif replay.words is not None or replay.state == JobState.FAILED:
            return replay
        time.sleep(1.0)
    raise AssertionError(f"no finished replay of {stream_id} within {REPLAY_S:.0f} s")


def wait_for(path: Path, text: str, timeout_s: float = 30.0) -> str:
    """``path``'s content once it holds ``text``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and text in (content := path.read_text()):
            return content
        time.sleep(0.2)
    raise AssertionError(f"{path} never held {text!r}")


def cue_texts(path_or_text: Path | str, format_: str = "srt") -> list[str]:
    text = path_or_text.read_text() if isinstance(path_or_text, Path) else path_or_text
    return [e.plaintext for e in pysubs2.SSAFile.from_string(text, format_=format_)]


def test_an_ended_stream_is_replayed_with_file_quality_and_keeps_its_live_files(
    worker: Worker,
) -> None:
    settings, out = worker.settings, worker.out_dir
    cues = stream_to_end(settings, STREAM, SPEECH)
    live_lines = [line.text for c in cues if c.kind == LiveKind.FINAL for line in c.cues]
    live_words = sum(len(c.words) for c in cues if c.kind == LiveKind.FINAL)
    assert live_lines and live_words

    replay = replay_done(settings, STREAM)  # asked by subtitles-live when the stream ended
    assert replay.state == JobState.COMPLETED, replay.status
    playlist_text = wait_for(out / f"{STREAM}.m3u8", "#EXT-X-PLAYLIST-TYPE:VOD")

    # The file lane's result on the same audio, as `kaption run` (a file job) gives it.
    file_job = run_job(settings, str(SPEECH))
    assert file_job.subtitles is not None and file_job.state == JobState.COMPLETED
    expected = cue_texts(file_job.subtitles.srt)
    assert cue_texts(out / f"{STREAM}.srt") == cue_texts(out / f"{STREAM}.vtt", "vtt") == expected
    times = [(e.start, e.end) for e in pysubs2.load(str(out / f"{STREAM}.srt"))]
    file_times = [(e.start, e.end) for e in pysubs2.SSAFile.from_string(file_job.subtitles.srt)]
    for (start, end), (file_start, file_end) in zip(times, file_times, strict=True):
        assert abs(start - file_start) <= 100 and abs(end - file_end) <= 100  # ms: same times
    assert expected != live_lines  # file quality is another layout of the words than live
    assert replay.words == sum(len(line.split()) for line in expected)
    # The live version, kept as it was written.
    assert cue_texts(out / f"{STREAM}.live.srt") == live_lines
    assert cue_texts(out / f"{STREAM}.live.vtt", "vtt") == live_lines
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in (out / f"{STREAM}.live.m3u8").read_text()

    # The VOD playlist: every segment exists, lines up as the live ones do, and holds the cues.
    playlist = m3u8.loads(playlist_text, uri=str(out) + "/")
    assert playlist.playlist_type == "vod" and playlist.is_endlist
    stream_end = max(c.end for c in cues if c.kind == LiveKind.END)
    covered = sum(s.duration for s in playlist.segments)
    assert covered == pytest.approx(stream_end, abs=playlist.target_duration)
    in_segments: set[str] = set()
    for segment in playlist.segments:
        text = (out / segment.uri).read_text()
        assert text.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:")
        in_segments |= set(cue_texts(text, "vtt"))
    assert in_segments == set(expected)

    # `kaption streams` shows both versions.
    [row] = json.loads(cli(settings, "streams", STREAM, "--json"))
    assert row["state"] == "ENDED" and row["words"] == live_words
    assert row["replay_state"] == "COMPLETED" and row["replay_words"] == replay.words
    table = cli(settings, "streams")
    assert f"COMPLETED, {replay.words} words" in table and "replay" in table.splitlines()[0]


def test_a_replay_on_request_keeps_the_first_live_version_and_refusals_say_why(
    worker: Worker,
) -> None:
    settings, out = worker.settings, worker.out_dir
    first = replay_done(settings, STREAM)
    live_srt = (out / f"{STREAM}.live.srt").read_text()
    job_id = cli(settings, "streams", "replay", STREAM, "--no-wait").strip()
    assert job_id.startswith("replay-") and job_id != first.status.job_id
    again = replay_done(settings, STREAM, after=first.status.job_id)
    assert again.status.job_id == job_id and again.state == JobState.COMPLETED
    assert again.words == first.words
    assert (out / f"{STREAM}.live.srt").read_text() == live_srt

    # A stream with no audio on the topic: its replay fails, with the reason.
    with JobClient(settings) as client:
        missing = request_replay(client, "never-ingested")
        result = client.wait(missing, 60)
    assert result.state == JobState.FAILED
    assert "no audio of stream never-ingested" in (result.status.reason or "")


def test_a_replay_on_request_asks_for_speakers_as_its_stream_was_started(
    bootstrap: str, tmp_path: Path
) -> None:
    """`kaption streams replay` reads the stream's start on live.streams (no worker needed: the
    requests are read back from jobs.requested)."""
    settings = fresh_settings(bootstrap, tmp_path)
    create_topics(settings)
    with StreamClient(settings) as client:
        client.publish_start("plain", ())
        client.publish_start("labelled", (), speakers=True)
    asked = [
        ("plain",),
        ("labelled",),
        ("labelled", "--no-speakers"),
        ("plain", "--speakers"),
        ("never-started",),
    ]
    job_ids = [cli(settings, "streams", "replay", *args, "--no-wait").strip() for args in asked]
    codec = event_codec(settings)
    requests: dict[str, JobRequested] = {}

    def take(key: bytes | None, value: bytes | None) -> None:
        event = codec.decode(value) if value is not None else None
        if isinstance(event, JobRequested):
            requests[event.job_id] = event

    read_topic(settings, "jobs.requested", take, "job requests")
    assert [requests[j].speakers for j in job_ids] == [False, True, False, True, False]
    assert [requests[j].source for j in job_ids[:2]] == ["stream:plain", "stream:labelled"]


def test_kaption_live_with_replay_ends_with_the_file_lanes_files(tmp_path: Path) -> None:
    """`kaption live --replay` on its own (embedded broker, both lanes in its worker): the
    stream's captions live, then its final files replaced by its replay."""
    args = ["live", str(SPEECH), "--out", "live", "--name", "talk", "--as-fast-as-read"]
    done = subprocess.run(
        [sys.executable, "-m", "clients.cli", *args, "--replay"],
        capture_output=True,
        text=True,
        timeout=400,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **KAFKA_JARS},
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "final files replaced by the replay" in done.stderr
    out = tmp_path / "live"
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in (out / "talk.m3u8").read_text()
    replayed, live = cue_texts(out / "talk.srt"), cue_texts(out / "talk.live.srt")
    assert replayed and live and replayed != live
    assert cue_texts(out / "talk.vtt", "vtt") == replayed
