"""Live ingest against real sources on 127.0.0.1: files, MPEG-TS over UDP (with a dropped and
resumed sender), HLS served over HTTP, and sources that are wrong, silent or stopped. Each test
is bounded (pytest-timeout) and its sources stop by themselves."""

from __future__ import annotations

import itertools
import json
import threading
import time
import wave
from collections.abc import Generator
from pathlib import Path

import numpy as np
import pytest

from clients.live.ingest import Chunk, End, IngestOptions, read_live
from streams.events.audio import SAMPLE_RATE, pcm_from_bytes
from tests.live_sources import free_udp_port, hls_server, hls_stream, udp_mpegts
from tests.paths import MEDIA

SPEECH = MEDIA / "speech.wav"
SPEECH_INFO = json.loads((MEDIA / "speech.json").read_text())
FRAME = SAMPLE_RATE // 10  # 100 ms, for loudness envelopes


class Collector:
    """Runs read_live on a thread (so the test can drive the source meanwhile) and keeps what
    it yields, with the wall time of each item."""

    def __init__(self, source: str, options: IngestOptions) -> None:
        self.stop = threading.Event()
        self.items: list[tuple[Chunk | End, float]] = []
        self.thread = threading.Thread(
            target=self._run, args=(source, options), name="collector", daemon=True
        )
        self.thread.start()

    def _run(self, source: str, options: IngestOptions) -> None:
        for item in read_live(source, options, self.stop):
            self.items.append((item, time.time()))

    def wait(self, timeout: float) -> tuple[list[Chunk], End]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "read_live did not end in time"
        return split([item for item, _ in self.items])


def split(items: list[Chunk | End]) -> tuple[list[Chunk], End]:
    *chunks, end = items
    assert isinstance(end, End), end
    assert all(isinstance(c, Chunk) for c in chunks)
    return [c for c in chunks if isinstance(c, Chunk)], end


def audio(chunks: list[Chunk]) -> np.ndarray:
    return np.concatenate([pcm_from_bytes(c.pcm) for c in chunks]).astype(np.float32)


def envelope(pcm: np.ndarray) -> np.ndarray:
    frames = len(pcm) // FRAME
    return np.sqrt(np.mean(pcm[: frames * FRAME].reshape(frames, FRAME) ** 2, axis=1))


def envelope_match(received: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """The best correlation of the two loudness envelopes over shifts of up to 1 s, and that
    shift (s; positive: the received audio is late)."""
    a, b = envelope(received), envelope(reference)
    best, best_shift = -1.0, 0
    for shift in range(-10, 11):
        x, y = (a[shift:], b) if shift >= 0 else (a, b[-shift:])
        n = min(len(x), len(y))
        correlation = float(np.corrcoef(x[:n], y[:n])[0, 1])
        if correlation > best:
            best, best_shift = correlation, shift
    return best, best_shift * FRAME / SAMPLE_RATE


def assert_contiguous(chunks: list[Chunk]) -> None:
    """Sequence numbers count up from 0; each chunk starts where the last ended plus its gap."""
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert chunks[0].media_time == 0.0
    for before, after in itertools.pairwise(chunks):
        expected = before.media_time + before.duration + after.gap_before
        assert after.media_time == pytest.approx(expected, abs=1e-6)
        assert before.capture_time <= after.capture_time


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    chunks, end = split(list(read_live(str(SPEECH))))
    assert end.reason == "source ended"
    return audio(chunks)


def assert_is_the_speech(chunks: list[Chunk], reference: np.ndarray) -> None:
    received = audio(chunks)
    assert len(received) / SAMPLE_RATE == pytest.approx(SPEECH_INFO["duration"], abs=0.2)
    correlation, shift = envelope_match(received, reference)
    assert correlation > 0.9
    assert abs(shift) <= 0.1
    loud = envelope(received)
    for utterance in SPEECH_INFO["utterances"]:  # speech where speech.json says, quiet between
        middle = round((utterance["start"] + utterance["end"]) / 2 * 10)
        assert loud[middle - 5 : middle + 5].max() > 10 * loud[: round(1.2 * 10)].mean() + 100


@pytest.mark.timeout(30)
def test_a_file_gives_contiguous_chunks_with_every_sample(reference: np.ndarray) -> None:
    chunks, end = split(list(read_live(str(SPEECH), IngestOptions(chunk_s=0.5))))
    assert end.reason == "source ended"
    assert_contiguous(chunks)
    assert all(c.duration == 0.5 and len(c.pcm) == 16_000 for c in chunks[:-1])
    samples = sum(len(c.pcm) // 2 for c in chunks)
    with wave.open(str(SPEECH)) as wav:
        assert wav.getframerate() == SAMPLE_RATE
        assert samples == wav.getnframes()  # every sample of the WAV
    assert (end.seq, end.media_time) == (len(chunks), samples / SAMPLE_RATE)
    assert all(c.gap_before == 0 and c.gap_reason == "" for c in chunks)
    assert np.array_equal(audio(chunks), reference)


@pytest.mark.timeout(30)
def test_realtime_paces_a_file_at_playback_speed() -> None:
    started = time.time()
    yielded = []
    for item in read_live(str(SPEECH), IngestOptions(realtime=True, max_duration_s=2.2)):
        yielded.append((item, time.time()))
    chunks, end = split([item for item, _ in yielded])
    assert end.reason == "reached the maximum duration (2.2 s)"
    assert end.media_time == pytest.approx(2.2)
    assert [c.duration for c in chunks] == pytest.approx([0.5, 0.5, 0.5, 0.5, 0.2])
    for chunk, at in yielded[:-1]:
        assert isinstance(chunk, Chunk)
        due = started + chunk.media_time + chunk.duration
        assert at >= due  # never before its audio has played
        assert chunk.capture_time == pytest.approx(due, abs=0.5)  # headroom for a busy machine


@pytest.mark.timeout(60)
def test_udp_mpegts_gives_the_speech_audio(reference: np.ndarray) -> None:
    port = free_udp_port()
    options = IngestOptions(read_timeout_s=2, connect_timeout_s=5, max_duration_s=15.8)
    with udp_mpegts(SPEECH, port, start=False, speed=4.0) as sender:  # paced, but 4x as fast
        collector = Collector(sender.url, options)
        time.sleep(0.5)  # the receiver is listening; datagrams sent before would be lost
        sender.start()
        chunks, end = collector.wait(40)
    assert end.reason == "reached the maximum duration (15.8 s)"
    assert_contiguous(chunks)
    assert all(c.gap_before == 0 for c in chunks)
    assert_is_the_speech(chunks, reference)


@pytest.mark.timeout(60)
def test_hls_over_http_gives_the_speech_audio_and_ends(
    tmp_path: Path, reference: np.ndarray
) -> None:
    with hls_server(SPEECH, tmp_path / "hls", segment_s=2.0, live=True) as url:
        started = time.time()
        chunks, end = split(list(read_live(url, IngestOptions(read_timeout_s=5))))
        elapsed = time.time() - started
    assert end.reason == "source ended"
    assert elapsed > 10  # it was read as a live playlist, segment by segment
    assert_contiguous(chunks)
    assert_is_the_speech(chunks, reference)


@pytest.mark.timeout(60)
def test_a_dropped_udp_source_gives_gaps_and_no_duplicated_audio() -> None:
    """A 3 s outage (longer than the read timeout: a reconnect) and a 0.7 s one (shorter: the
    timestamps jump) each give one gap of their length."""
    port = free_udp_port()
    options = IngestOptions(read_timeout_s=1.5, connect_timeout_s=2, idle_timeout_s=10)
    with udp_mpegts(SPEECH, port, stop_after_s=9.0, start=False) as sender:
        collector = Collector(sender.url, options)
        time.sleep(0.5)
        sender.start()
        time.sleep(2.5)
        sender.pause(3.0)
        time.sleep(4.5)
        dropped_before = len(sender.dropped)
        sender.pause(0.7)
        assert sender.done.wait(30)
        time.sleep(0.5)
        collector.stop.set()
        chunks, end = collector.wait(10)
    assert end.reason == "stopped"
    assert_contiguous(chunks)
    gaps = [c for c in chunks if c.gap_before > 0]
    assert len(gaps) == 2, [(c.seq, c.gap_before, c.gap_reason) for c in gaps]
    outage = sender.dropped[:dropped_before]
    assert gaps[0].gap_before == pytest.approx(outage[-1].media_end - outage[0].media_end, abs=1)
    assert gaps[0].gap_reason.startswith("source lost (no data for 1.5 s); reconnected")
    blip = sender.dropped[dropped_before:]
    assert gaps[1].gap_before == pytest.approx(blip[-1].media_end - blip[0].media_end, abs=0.3)
    assert gaps[1].gap_reason.startswith("source skipped 0.")
    sent_audio = sum(1152 / 48_000 for _ in sender.sent)  # MP2 frames of 1152 samples
    assert sum(c.duration for c in chunks) == pytest.approx(sent_audio, abs=0.3)
    end_of_media = chunks[-1].media_time + chunks[-1].duration
    assert end_of_media == pytest.approx(sender.sent[-1].media_end, abs=1.0)


@pytest.mark.timeout(60)
def test_an_hls_outage_resends_nothing_twice(tmp_path: Path, reference: np.ndarray) -> None:
    """After a 2.5 s outage FFmpeg restarts the live playlist three segments back: the audio
    it sends again is dropped, so every second of the media is there once, in its place. (Had
    the demuxer skipped a segment during the outage instead, that would be a gap.)"""
    options = IngestOptions(read_timeout_s=3, reconnect_first_s=0.25, idle_timeout_s=10)
    with hls_stream(SPEECH, tmp_path / "hls", segment_s=1.0, max_s=7.0) as server:
        threading.Timer(3.2, server.pause, args=(2.5,)).start()
        chunks, end = split(list(read_live(server.url, options)))
    assert end.reason == "source ended"
    assert_contiguous(chunks)
    resumed = [c for c in chunks if c.gap_reason.startswith("source lost")]
    assert len(resumed) == 1 and " s resent" in resumed[0].gap_reason
    assert resumed[0].gap_before == 0
    media_end = chunks[-1].media_time + chunks[-1].duration
    assert media_end == pytest.approx(7.0, abs=0.1)  # one more segment if anything came twice
    timeline = np.zeros(round(media_end * SAMPLE_RATE), dtype=np.float32)
    for chunk in chunks:
        first = round(chunk.media_time * SAMPLE_RATE)
        timeline[first : first + len(chunk.pcm) // 2] = pcm_from_bytes(chunk.pcm)
    after = round(resumed[0].media_time * SAMPLE_RATE)  # the audio after the outage is in place
    correlation, shift = envelope_match(timeline[after:], reference[after : len(timeline)])
    assert correlation > 0.9
    assert abs(shift) <= 0.1


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("foo://example/stream", "cannot open foo://example/stream: protocol not found"),
        ("srt://127.0.0.1:9000", "cannot open srt://127.0.0.1:9000: protocol not found"),
        ("udp://127.0.0.1", "malformed URL udp://127.0.0.1: udp needs a port"),
        ("udp://127.0.0.1:port", "malformed URL udp://127.0.0.1:port"),
        (str(MEDIA / "missing.wav"), f"cannot open {MEDIA / 'missing.wav'}: No such file"),
        (str(MEDIA / "not_media.mp4"), f"cannot open {MEDIA / 'not_media.mp4'}: Invalid data"),
        (str(MEDIA / "video_only.mp4"), f"no audio stream in {MEDIA / 'video_only.mp4'}"),
    ],
)
def test_an_unusable_source_ends_at_once_with_the_reason(source: str, reason: str) -> None:
    started = time.monotonic()
    chunks, end = split(list(read_live(source, IngestOptions(reconnect=True, idle_timeout_s=30))))
    assert time.monotonic() - started < 5  # no retrying: 30 s of it would fail the bound
    assert (chunks, end.seq, end.media_time) == ([], 0, 0.0)
    assert end.reason.startswith(reason)


@pytest.mark.timeout(30)
def test_a_missing_http_resource_ends_at_once(tmp_path: Path) -> None:
    with hls_server(SPEECH, tmp_path / "hls", live=False) as url:
        missing = url.replace("live.m3u8", "missing.m3u8")
        started = time.monotonic()
        items = list(read_live(missing, IngestOptions(idle_timeout_s=30)))
    assert time.monotonic() - started < 5
    _, end = split(items)
    assert end.reason.startswith(f"cannot open {missing}: ") and "404" in end.reason


@pytest.mark.timeout(30)
def test_a_source_silent_forever_ends_after_the_idle_timeout() -> None:
    url = f"udp://127.0.0.1:{free_udp_port()}"
    options = IngestOptions(connect_timeout_s=1, read_timeout_s=1, idle_timeout_s=2)
    started = time.monotonic()
    chunks, end = split(list(read_live(url, options)))
    elapsed = time.monotonic() - started
    assert chunks == []
    assert end.reason.startswith(f"no data for 2 s: cannot open {url}")
    assert 1.9 <= elapsed < 6


@pytest.mark.timeout(30)
def test_stop_interrupts_a_source_that_sends_nothing() -> None:
    url = f"udp://127.0.0.1:{free_udp_port()}"
    collector = Collector(url, IngestOptions(connect_timeout_s=10, idle_timeout_s=30))
    time.sleep(0.5)  # FFmpeg is now blocked opening the silent port
    stopped = time.time()
    collector.stop.set()
    chunks, end = collector.wait(10)
    assert (chunks, end) == ([], End(0, 0.0, "stopped"))
    assert collector.items[-1][1] - stopped < 1.0


@pytest.mark.timeout(30)
def test_stop_flushes_the_audio_whose_time_has_come() -> None:
    collector = Collector(str(SPEECH), IngestOptions(realtime=True))
    time.sleep(1.4)
    collector.stop.set()
    chunks, end = collector.wait(10)
    assert end.reason == "stopped"
    assert_contiguous(chunks)
    assert [c.duration for c in chunks[:2]] == [0.5, 0.5]
    assert 0 < chunks[-1].duration < 0.5  # the partial chunk, up to the moment of the stop
    assert end.media_time == pytest.approx(1.4, abs=0.35)  # headroom for a busy machine
    assert end.seq == len(chunks)


def test_closing_the_generator_stops_its_reader() -> None:
    before = {t.name for t in threading.enumerate()}
    items: Generator[Chunk | End, None, None] = read_live(str(SPEECH), IngestOptions(realtime=True))
    first = next(items)
    assert isinstance(first, Chunk)
    items.close()
    time.sleep(0.2)
    assert f"ingest {SPEECH}" not in {t.name for t in threading.enumerate()} - before
