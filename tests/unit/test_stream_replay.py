"""A live stream's replay through the file lane, the parts that need no broker: the stream
source and its check, the run and windows the decode stage reads from the stream's chunks, the
replay request, the files a replay replaces (checked with pysubs2 and m3u8) and the replay
columns of `kaption streams`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import m3u8
import numpy as np
import pysubs2
import pytest
from aiokafka.partitioner import DefaultPartitioner

from agents.decode.errors import MediaError
from agents.decode.media import windows
from agents.decode.stream_source import Run, gapped_windows, latest_run, stream_partition
from agents.subtitles.live import LiveOutputs, mpegts_ticks
from agents.subtitles.render import to_srt, to_vtt
from agents.subtitles.replay import apply_replay, vod_segments
from clients.live.replay import (
    Replay,
    count_words,
    latest_replays,
    of_current_runs,
    replay_columns,
    replay_speakers,
)
from clients.live.status import COLUMNS, latest_starts, stream_rows, summarise
from streams.events.audio import SAMPLE_RATE, pcm_to_bytes
from streams.events.model import (
    AudioChunk,
    CueRecord,
    JobState,
    JobStatus,
    LiveCue,
    LiveCueLine,
    LiveKind,
    LiveStreamStarted,
    SubtitlesReady,
)
from streams.operations.live_files import remove_outputs
from streams.operations.replay import is_replay, replay_job_id, replay_request
from streams.sources import SourcePolicy, UnsafeSource, check_source, stream_of, stream_source

RATE = SAMPLE_RATE


# --- the source ------------------------------------------------------------------------------


@pytest.mark.parametrize("stream_id", ["udp-talk", "cam1.main", "studio:2", "A_b-9"])
def test_a_plain_stream_id_is_a_source_every_policy_passes(stream_id: str, tmp_path: Path) -> None:
    source = stream_source(stream_id)
    assert source == f"stream:{stream_id}" and stream_of(source) == stream_id
    strict = SourcePolicy(media_root=tmp_path)  # a media root does not apply: not a path
    assert check_source(source, strict) == source


@pytest.mark.parametrize(
    "source",
    [
        "stream:",
        "stream:../etc/passwd",
        "stream:a/b",
        "stream://host/x",
        "stream:-rf",
        "stream:.hidden",
        "stream:a b",
        "stream:a\nb",
        "stream:" + "x" * 201,
    ],
)
def test_a_stream_source_with_anything_but_a_plain_id_is_refused(source: str) -> None:
    with pytest.raises(UnsafeSource, match="cannot be replayed"):
        check_source(source, SourcePolicy())


def test_other_protocol_sources_stay_refused() -> None:
    with pytest.raises(UnsafeSource, match="protocol"):
        check_source("streams:x", SourcePolicy())


# --- the run and windows the decode stage reads ------------------------------------------------


def chunk(
    seq: int, media_time: float, seconds: float = 0.5, last: bool = False, value: int = 100
) -> AudioChunk:
    samples = np.full(round(seconds * RATE), value, dtype=np.int16)
    return AudioChunk(
        stream_id="s",
        seq=seq,
        media_time=media_time,
        duration=seconds,
        capture_time=0.0,
        sample_rate=RATE,
        pcm=pcm_to_bytes(samples),
        source_offset=0.0,
        gap_before=0.0,
        gap_reason="",
        last=last,
        end_reason="source ended" if last else "",
    )


def test_the_latest_run_of_a_stream_id_is_the_one_replayed() -> None:
    first = [chunk(0, 0.0), chunk(1, 0.5), chunk(2, 1.0, 0.0, last=True)]
    second = [chunk(0, 0.0), chunk(1, 0.5, last=True)]
    assert latest_run(enumerate([*first, *second], start=10)) == Run(13, 14)
    # Still live: no last chunk yet.
    assert latest_run(enumerate([*first, chunk(0, 0.0)], start=10)) == Run(13, None)
    # Retention took the beginning: the run starts at its first kept chunk.
    assert latest_run(enumerate([chunk(7, 3.5), chunk(8, 4.0, last=True)])) == Run(0, 1)
    # A run whose last chunk was lost, followed by a new one that starts over at seq 0.
    assert latest_run(enumerate([chunk(0, 0), chunk(1, 0.5), chunk(0, 0)])) == Run(2, None)
    assert latest_run([]) is None


def test_contiguous_chunks_give_the_windows_a_file_gives() -> None:
    rng = np.random.default_rng(1)
    chunks = []
    for seq in range(80):  # 40 s in chunks of 0.5 s, with quiet stretches to cut at
        loud = seq % 13 != 0
        samples = rng.integers(-3000 if loud else -10, 3000 if loud else 10, RATE // 2)
        chunks.append(
            AudioChunk(**{**chunk(seq, seq * 0.5).to_record(), "pcm": pcm_to_bytes(samples)})
        )
    ours = list(gapped_windows(chunks, window_s=10.0, search_s=2.0))
    pieces = [np.frombuffer(c.pcm, dtype="<i2") for c in chunks]
    theirs = list(windows(pieces, RATE, 0.0, 10.0, 2.0))
    assert [(w.index, w.offset, w.last, len(w.pcm)) for w in ours] == [
        (w.index, w.offset, w.last, len(w.pcm)) for w in theirs
    ]
    assert all(np.array_equal(a.pcm, b.pcm) for a, b in zip(ours, theirs, strict=True))


def test_a_short_source_gap_is_silence_and_a_long_one_starts_a_window_after_it() -> None:
    chunks = [chunk(0, 0.0), chunk(1, 0.5), chunk(2, 3.0), chunk(3, 103.5, last=True)]
    found = list(gapped_windows(chunks, window_s=60.0, max_fill_s=10.0))
    assert [(w.index, w.offset, w.last) for w in found] == [(0, 0.0, False), (1, 103.5, True)]
    first = found[0].pcm
    assert len(first) == round(3.5 * RATE)  # 1 s of audio, 2 s of silence, 0.5 s of audio
    assert np.all(first[RATE : round(3.0 * RATE)] == 0) and np.all(first[:RATE] == 100)
    assert len(found[1].pcm) == RATE // 2


def test_a_stream_at_another_sample_rate_is_refused() -> None:
    odd = AudioChunk(**{**chunk(0, 0.0).to_record(), "sample_rate": 8000})
    with pytest.raises(MediaError, match="8000 Hz"):
        list(gapped_windows([odd], window_s=60.0))


def test_the_stream_partition_is_the_producers_key_hash() -> None:
    for stream_id in ("udp-talk", "a", "cam1.main", "x" * 50):
        expected = DefaultPartitioner()(stream_id.encode(), list(range(4)), list(range(4)))
        assert stream_partition(stream_id, 4) == expected


# --- the request ----------------------------------------------------------------------------


def test_replay_requests() -> None:
    request = replay_request("udp-talk", "en")
    assert request.source == "stream:udp-talk" and request.name == "udp-talk"
    assert is_replay(request.job_id) and request.language == "en"
    assert replay_request("udp-talk", "en").job_id != request.job_id
    # A redelivered end asks again with the same id; another run of the stream with another.
    assert replay_job_id("s", "1.5") == replay_job_id("s", "1.5") != replay_job_id("s", "2.5")
    assert not is_replay("0123abcd")
    with pytest.raises(UnsafeSource):
        replay_request("cam 1/main", "en")
    # The model travels with the job (per-job model selection).
    assert getattr(replay_request("udp-talk", "en", "base"), "model", None) == "base"


def started(stream_id: str, speakers: bool, at: float = 1.0) -> LiveStreamStarted:
    return LiveStreamStarted(stream_id=stream_id, started_at=at, speakers=speakers)


def test_a_replay_on_request_asks_for_speakers_as_its_stream_was_started() -> None:
    # The latest start of each stream: an id used again takes its new run's options.
    starts = latest_starts(
        [started("a", True), started("b", False), "not a start", started("a", False, 2.0)]
    )
    assert {k: v.speakers for k, v in starts.items()} == {"a": False, "b": False}
    assert replay_speakers(started("s", True)) is True
    assert replay_speakers(started("s", False)) is False
    assert replay_speakers(None) is False  # no start known (retention took it)
    # --speakers / --no-speakers over what the stream asked.
    assert replay_speakers(started("s", False), forced=True) is True
    assert replay_speakers(started("s", True), forced=False) is False
    assert replay_speakers(None, forced=True) is True
    assert replay_request("s", "en", speakers=True).speakers


# --- the files a replay replaces -------------------------------------------------------------

NAME = "news"
OFFSET = 1.4  # the source's presentation time at media time 0


def live_item(
    seq: int, kind: LiveKind, start: float, end: float, lines: Sequence[tuple[float, float, str]]
) -> LiveCue:
    return LiveCue(
        stream_id=NAME,
        seq=seq,
        revision=0,
        kind=kind,
        start=start,
        end=end,
        stable="",
        unstable="",
        cues=tuple(LiveCueLine(start=s, end=e, text=t) for s, e, t in lines),
        words=(),
        watermark=end,
        source_offset=OFFSET,
        gap_s=0.0,
        reason="source ended" if kind == LiveKind.END else "",
        published_at=1_790_000_000.0 + end,
    )


def ended_stream(out_dir: Path) -> None:
    outputs = LiveOutputs(out_dir, NAME, segment_s=6.0)
    outputs.add(live_item(0, LiveKind.FINAL, 0.5, 4.0, [(0.5, 4.0, "hello their")]))
    outputs.add(live_item(1, LiveKind.FINAL, 7.0, 9.0, [(7.0, 9.0, "this is live")]))
    outputs.add(live_item(2, LiveKind.END, 9.0, 14.0, []))


def subtitles(cues: Sequence[CueRecord], job_id: str = "replay-1") -> SubtitlesReady:
    return SubtitlesReady(
        job_id=job_id,
        name=NAME,
        language="en",
        cue_count=len(cues),
        srt=to_srt(cues),
        vtt=to_vtt(cues),
    )


FILE_CUES = [
    CueRecord(start=0.6, end=3.9, text="Hello there."),
    CueRecord(start=5.0, end=8.5, text="This is the file lane."),
]


def texts(path: Path) -> list[str]:
    return [e.plaintext for e in pysubs2.load(str(path))]


def test_a_replay_replaces_the_final_files_and_keeps_the_live_ones(tmp_path: Path) -> None:
    ended_stream(tmp_path)
    live_srt = (tmp_path / f"{NAME}.srt").read_text()
    live_playlist = (tmp_path / f"{NAME}.m3u8").read_text()
    assert texts(tmp_path / f"{NAME}.srt") == ["hello their", "this is live"]

    written = apply_replay(tmp_path, subtitles(FILE_CUES))
    assert tmp_path / f"{NAME}.m3u8" == written[-1]  # the playlist last: its segments exist
    assert (
        texts(tmp_path / f"{NAME}.srt")
        == texts(tmp_path / f"{NAME}.vtt")
        == [
            "Hello there.",
            "This is the file lane.",
        ]
    )
    assert (tmp_path / f"{NAME}.live.srt").read_text() == live_srt
    assert texts(tmp_path / f"{NAME}.live.vtt") == ["hello their", "this is live"]
    assert (tmp_path / f"{NAME}.live.m3u8").read_text() == live_playlist

    playlist = m3u8.load(str(tmp_path / f"{NAME}.m3u8"))
    assert playlist.playlist_type == "vod" and playlist.is_endlist
    assert playlist.target_duration == 6 and playlist.media_sequence == 0
    # Numbered after the live segments (0, 1, 2: 14 s of 6-s segments), which stay.
    assert [s.uri for s in playlist.segments] == [f"{NAME}-{n}.vtt" for n in (3, 4, 5)]
    assert [s.duration for s in playlist.segments] == pytest.approx([6.0, 6.0, 2.0])
    segments = [(tmp_path / s.uri).read_text() for s in playlist.segments]
    timestamp_map = f"X-TIMESTAMP-MAP=MPEGTS:{mpegts_ticks(OFFSET)},LOCAL:00:00:00.000"
    assert all(text.startswith(f"WEBVTT\n{timestamp_map}\n") for text in segments)
    in_segments = [
        [e.plaintext for e in pysubs2.SSAFile.from_string(t, format_="vtt")] for t in segments
    ]
    assert in_segments == [
        ["Hello there.", "This is the file lane."],
        ["This is the file lane."],
        [],
    ]
    # The live segments stay, for the kept live playlist.
    kept = m3u8.load(str(tmp_path / f"{NAME}.live.m3u8"))
    assert [s.uri for s in kept.segments] == [f"{NAME}-{n}.vtt" for n in (0, 1, 2)]
    assert "hello their" in (tmp_path / f"{NAME}-0.vtt").read_text()


def test_a_second_replay_keeps_the_live_version_and_a_new_stream_clears_all(
    tmp_path: Path,
) -> None:
    ended_stream(tmp_path)
    apply_replay(tmp_path, subtitles(FILE_CUES))
    again = [CueRecord(start=0.6, end=3.9, text="Hello again.")]
    apply_replay(tmp_path, subtitles(again, "replay-2"))
    assert texts(tmp_path / f"{NAME}.srt") == ["Hello again."]
    assert texts(tmp_path / f"{NAME}.live.srt") == ["hello their", "this is live"]
    remove_outputs(tmp_path, NAME)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_replay_changes_nothing_of_a_live_or_unknown_stream_or_an_unsafe_name(
    tmp_path: Path,
) -> None:
    assert apply_replay(tmp_path, subtitles(FILE_CUES)) == []
    outputs = LiveOutputs(tmp_path, NAME, segment_s=6.0)
    outputs.add(live_item(0, LiveKind.FINAL, 0.5, 4.0, [(0.5, 4.0, "hello")]))
    before = sorted(p.name for p in tmp_path.iterdir())
    assert apply_replay(tmp_path, subtitles(FILE_CUES)) == []
    unsafe = SubtitlesReady(**{**subtitles(FILE_CUES).to_record(), "name": f"../{NAME}"})
    assert apply_replay(tmp_path, unsafe) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_vod_segments_cover_the_media_time_once() -> None:
    cues = [
        CueRecord(start=5.5, end=6.5, text="across"),
        CueRecord(start=12.0, end=12.0, text="at"),
    ]
    found = vod_segments(cues, end=12.0, segment_s=6.0)
    assert [(s, d, [c.text for c in inside]) for s, d, inside in found] == [
        (0.0, 6.0, ["across"]),
        (6.0, 6.0, ["across"]),
    ]


# --- the replay columns of `kaption streams` ---------------------------------------------------

T0 = datetime(2026, 12, 5, tzinfo=UTC)


def status(job_id: str, source: str, state: JobState, minutes: int) -> JobStatus:
    return JobStatus(
        job_id=job_id,
        name="x",
        source=source,
        state=state,
        segments_total=4,
        segments_done=1,
        segments_failed=0,
        reason=None,
        audio_seconds_total=10.0,
        audio_seconds_done=2.0,
        requested_at=T0 + timedelta(minutes=minutes),
        updated_at=T0 + timedelta(minutes=minutes),
    )


def test_each_streams_latest_replay_and_its_words_are_shown_beside_the_live_ones() -> None:
    statuses = [
        status("replay-a", "stream:news", JobState.COMPLETED, 1),
        status("replay-b", "stream:news", JobState.TRANSCRIBING, 2),
        status("replay-c", "stream:other", JobState.COMPLETED, 1),
        status("job", "/media/news.mp4", JobState.COMPLETED, 3),
    ]
    latest = latest_replays(statuses)
    assert {k: v.job_id for k, v in latest.items()} == {"news": "replay-b", "other": "replay-c"}
    words, cues = count_words(to_vtt(FILE_CUES))
    assert (words, cues) == (7, 2)
    replays = {
        "news": Replay("news", latest["news"]),
        "other": Replay("other", latest["other"], words, cues),
    }
    live = [live_item(0, LiveKind.FINAL, 0.5, 4.0, [(0.5, 4.0, "hello")])]
    rows = stream_rows(summarise(live).values(), 1_790_000_010.0, replay_columns(replays))
    [row] = rows
    assert set(COLUMNS) <= set(row)
    assert row["replay"] == "TRANSCRIBING 1/4" and row["replay_job"] == "replay-b"
    assert row["replay_words"] is None
    assert Replay("other", latest["other"], words, cues).fields()["replay"] == "COMPLETED, 7 words"
    assert json.dumps(rows)  # the --json rows
    none = stream_rows(summarise(live).values(), 1_790_000_010.0, replay_columns({}))
    assert none[0]["replay"] == "" and none[0]["replay_state"] is None


def test_a_stream_id_used_again_shows_no_replay_of_its_earlier_run() -> None:
    replay = Replay("news", status("replay-a", "stream:news", JobState.COMPLETED, 10), 3, 1)
    asked_at = replay.status.requested_at.timestamp()
    assert of_current_runs({"news": replay}, {"news": asked_at - 60}) == {"news": replay}
    assert of_current_runs({"news": replay}, {"news": asked_at + 60}) == {}
    assert of_current_runs({"news": replay}, {}) == {}
