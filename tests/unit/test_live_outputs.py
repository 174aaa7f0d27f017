"""Live subtitle files: rolling WebVTT, HLS subtitle playlist and segments, final SRT/WebVTT,
checked with pysubs2 and the m3u8 library after every item of a realistic live sequence."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import m3u8
import pysubs2
import pytest

from agents.subtitles.live import (
    LiveOutputs,
    PlaylistEntry,
    mpegts_ticks,
    playlist_text,
    segment_vtt,
)
from agents.subtitles.render import parse_cues, to_srt, to_vtt
from streams.events.model import CueRecord, LiveCue, LiveCueLine, LiveKind

NAME = "news"
SEGMENT_S = 6.0
OFFSET = 1.4  # the source's presentation time at media time 0
RECONNECTED_OFFSET = 100.0  # after the source dropped and came back


def item(
    seq: int,
    kind: LiveKind,
    start: float,
    end: float,
    watermark: float,
    cues: Sequence[tuple[float, float, str]] = (),
    *,
    revision: int = 0,
    stable: str = "",
    unstable: str = "",
    source_offset: float = OFFSET,
    gap_s: float = 0.0,
    reason: str = "",
) -> LiveCue:
    return LiveCue(
        stream_id="s1",
        seq=seq,
        revision=revision,
        kind=kind,
        start=start,
        end=end,
        stable=stable,
        unstable=unstable,
        cues=tuple(LiveCueLine(start=s, end=e, text=t) for s, e, t in cues),
        words=(),
        watermark=watermark,
        source_offset=source_offset,
        gap_s=gap_s,
        reason=reason,
        published_at=1_790_000_000.0 + end,
    )


INTERIM, FINAL = LiveKind.INTERIM, LiveKind.FINAL
SEQUENCE: list[LiveCue] = [
    item(0, INTERIM, 0.5, 1.5, 0.0, revision=0, stable="", unstable="Hello"),
    # An interim may carry a layout of its hypothesis: it still stays out of the files.
    item(
        0,
        INTERIM,
        0.5,
        2.5,
        0.0,
        [(0.5, 2.5, "Hello there this")],
        revision=1,
        stable="Hello",
        unstable="there this",
    ),
    item(
        0,
        FINAL,
        0.5,
        4.0,
        4.0,
        [(0.5, 2.0, "Hello there."), (2.2, 4.0, "This is a live\nstream.")],
        revision=2,
    ),
    item(1, LiveKind.SILENCE, 4.0, 7.5, 7.5),
    item(2, INTERIM, 7.5, 8.5, 7.5, unstable="Words"),
    item(
        2,
        FINAL,
        7.5,
        13.0,
        13.0,
        [(7.5, 9.0, "Words across"), (11.0, 13.0, "a boundary <here> & there")],
        revision=1,
    ),
    item(3, LiveKind.GAP, 13.0, 20.0, 20.0, gap_s=7.0, reason="source dropped"),
    item(4, INTERIM, 20.5, 21.0, 20.0, unstable="Back", source_offset=RECONNECTED_OFFSET),
    item(
        4,
        FINAL,
        20.5,
        22.0,
        22.0,
        [(20.5, 22.0, "Back again.")],
        revision=1,
        source_offset=RECONNECTED_OFFSET,
    ),
    item(5, LiveKind.END, 22.0, 23.0, 23.0, reason="source ended"),
]
ALL_FINALS = [
    CueRecord(start=line.start, end=line.end, text=line.text)
    for cue in SEQUENCE
    if cue.kind is FINAL
    for line in cue.cues
]


def finals_of(items: Sequence[LiveCue]) -> list[CueRecord]:
    return [
        CueRecord(start=line.start, end=line.end, text=line.text)
        for cue in items
        if cue.kind is FINAL
        for line in cue.cues
    ]


def overlapping(cues: Sequence[CueRecord], start: float, end: float) -> list[CueRecord]:
    return [c for c in cues if c.start < end and c.end > start]


def read_playlist(out: LiveOutputs) -> m3u8.M3U8:
    return m3u8.loads(out.playlist_path.read_text(encoding="utf-8"))


def segment_ticks(path: Path) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "WEBVTT"
    match = re.fullmatch(r"X-TIMESTAMP-MAP=MPEGTS:(\d+),LOCAL:00:00:00\.000", lines[1])
    assert match, lines[1]
    return int(match.group(1))


def check_files(out: LiveOutputs, finals: list[CueRecord], watermark: float, ended: bool) -> None:
    """Everything a player or reader may look at, at this moment."""
    vtt = out.vtt_path.read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n")
    # pysubs2 reads it as WebVTT, with exactly the final cues so far, in order.
    events = pysubs2.SSAFile.from_string(vtt, format_="vtt", keep_html_tags=True)
    assert [(e.start, e.end) for e in events] == [
        (round(c.start * 1000), round(c.end * 1000)) for c in finals
    ]
    assert parse_cues(vtt, "vtt") == finals

    playlist = read_playlist(out)
    assert playlist.version == 3
    assert playlist.target_duration == math.ceil(SEGMENT_S)
    assert playlist.playlist_type == "event"
    assert playlist.media_sequence == 0
    assert playlist.is_endlist is ended
    covered = 0.0
    for number, segment in enumerate(playlist.segments):
        assert segment.uri == f"{NAME}-{number}.vtt"
        assert segment.duration <= playlist.target_duration
        path = out.out_dir / segment.uri
        start, end = number * SEGMENT_S, number * SEGMENT_S + segment.duration
        # Segments are contiguous: each starts where the previous one ended.
        assert start == pytest.approx(covered)
        covered = end
        assert segment_ticks(path) in {mpegts_ticks(OFFSET), mpegts_ticks(RECONNECTED_OFFSET)}
        assert parse_cues(path.read_text(encoding="utf-8"), "vtt") == overlapping(
            finals, start, end
        )
    if ended:
        assert covered == pytest.approx(watermark)
    else:
        # Up to the watermark and never past it.
        assert covered <= watermark
        assert watermark - covered < SEGMENT_S
        assert len(playlist.segments) == math.floor(watermark / SEGMENT_S)
    written = sorted(out.out_dir.glob(f"{NAME}-*.vtt"))
    assert len(written) == len(playlist.segments)


def run(out_dir: Path, items: Sequence[LiveCue], segment_s: float = SEGMENT_S) -> LiveOutputs:
    out = LiveOutputs(out_dir, NAME, segment_s=segment_s)
    for cue in items:
        out.add(cue)
    return out


def snapshot(out_dir: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(out_dir.iterdir())}


def test_files_are_valid_after_every_item(tmp_path: Path) -> None:
    out = LiveOutputs(tmp_path, NAME, segment_s=SEGMENT_S)
    check_files(out, [], 0.0, ended=False)
    watermark = 0.0
    for index, cue in enumerate(SEQUENCE):
        before = out.vtt_path.read_text(encoding="utf-8")
        changed = out.add(cue)
        watermark = max(watermark, cue.watermark, cue.end if cue.kind is LiveKind.END else 0)
        ended = cue.kind is LiveKind.END
        check_files(out, finals_of(SEQUENCE[: index + 1]), watermark, ended)
        if cue.kind is INTERIM:
            assert out.vtt_path.read_text(encoding="utf-8") == before
            assert out.vtt_path not in changed
        if cue.kind is FINAL:
            assert out.vtt_path in changed
        for path in changed:
            assert path.exists()
    assert out.last_seq == 5
    assert out.ended


def test_a_final_over_a_written_cue_is_moved_after_it(tmp_path: Path) -> None:
    # The written cue cannot change: the new one starts where it ends, in every file.
    items = [
        item(0, FINAL, 0.5, 2.0, 2.0, [(0.5, 2.7, "Hello there.")]),
        item(1, FINAL, 2.0, 4.0, 4.0, [(2.0, 3.0, "Overlapping"), (3.2, 4.0, "then fine")]),
        item(2, LiveKind.END, 4.0, 7.0, 7.0, reason="source ended"),
    ]
    out = run(tmp_path, items)
    expected = [
        CueRecord(start=0.5, end=2.7, text="Hello there."),
        CueRecord(start=2.7, end=3.0, text="Overlapping"),
        CueRecord(start=3.2, end=4.0, text="then fine"),
    ]
    assert parse_cues(out.vtt_path.read_text(encoding="utf-8"), "vtt") == expected
    assert parse_cues(out.srt_path.read_text(encoding="utf-8"), "srt") == expected
    assert parse_cues(out.segment_path(0).read_text(encoding="utf-8"), "vtt") == expected


def test_segments_wait_for_the_watermark(tmp_path: Path) -> None:
    out = LiveOutputs(tmp_path, NAME, segment_s=SEGMENT_S)
    # A final cue inside segment 0, but the stream is final only up to 5.9 s: no segment yet.
    assert out.add(item(0, FINAL, 1.0, 2.0, 5.9, [(1.0, 2.0, "Early.")])) == [out.vtt_path]
    assert read_playlist(out).segments == []
    assert not out.segment_path(0).exists()
    changed = out.add(item(1, LiveKind.SILENCE, 2.0, 6.0, 6.0))
    assert changed == [out.segment_path(0), out.playlist_path]
    assert [s.uri for s in read_playlist(out).segments] == [f"{NAME}-0.vtt"]
    # Even an interim's watermark closes segments: it is the stream's, not the phrase's.
    out.add(item(2, INTERIM, 13.0, 13.5, 12.5, unstable="next"))
    assert out.segments_written == 2
    assert not out.segment_path(2).exists()


def test_cue_across_a_boundary_is_in_both_segments_with_full_times(tmp_path: Path) -> None:
    out = run(tmp_path, SEQUENCE[:6], segment_s=SEGMENT_S)
    assert out.segments_written == 2
    spanning = CueRecord(start=11.0, end=13.0, text="a boundary <here> & there")
    assert spanning in parse_cues(out.segment_path(1).read_text(encoding="utf-8"), "vtt")
    # Segment 2 is written later (watermark 20 after the gap) and still holds it.
    out.add(SEQUENCE[6])
    segment_2 = out.segment_path(2).read_text(encoding="utf-8")
    assert parse_cues(segment_2, "vtt") == [spanning]
    # Markup-like text is escaped in WebVTT and reads back literally.
    assert "a boundary &lt;here&gt; &amp; there" in segment_2


def test_timestamp_map_maps_media_time_to_source_time(tmp_path: Path) -> None:
    out = run(tmp_path, SEQUENCE, segment_s=SEGMENT_S)
    assert segment_ticks(out.segment_path(0)) == round(OFFSET * 90_000) == 126_000
    # The segment after the reconnect carries its cue's new offset.
    assert segment_ticks(out.segment_path(3)) == 9_000_000


def test_a_segment_across_a_reconnect_maps_with_its_own_cues_offset(tmp_path: Path) -> None:
    out = LiveOutputs(tmp_path, NAME, segment_s=SEGMENT_S)
    out.add(item(0, FINAL, 5.0, 7.0, 7.0, [(5.0, 7.0, "Before the drop.")]))
    out.add(item(1, LiveKind.GAP, 7.0, 8.0, 8.0, gap_s=1.0, reason="source dropped"))
    after = item(
        2, FINAL, 8.5, 9.5, 12.0, [(8.5, 9.5, "After it.")], source_offset=RECONNECTED_OFFSET
    )
    out.add(after)
    # Segment 1 holds the tail of a cue from before the drop and one from after: it is
    # mapped for the cue that starts in it, the reconnected source's.
    assert segment_ticks(out.segment_path(1)) == mpegts_ticks(RECONNECTED_OFFSET)
    assert segment_ticks(out.segment_path(0)) == mpegts_ticks(OFFSET)


def test_end_writes_endlist_and_the_complete_files(tmp_path: Path) -> None:
    out = run(tmp_path, SEQUENCE, segment_s=SEGMENT_S)
    playlist = read_playlist(out)
    assert playlist.is_endlist
    assert [s.duration for s in playlist.segments] == [6.0, 6.0, 6.0, 5.0]
    assert out.srt_path.read_text(encoding="utf-8") == to_srt(ALL_FINALS)
    assert out.vtt_path.read_text(encoding="utf-8") == to_vtt(ALL_FINALS)
    assert parse_cues(out.srt_path.read_text(encoding="utf-8"), "srt") == ALL_FINALS
    # After the end nothing changes any more.
    files = snapshot(tmp_path)
    assert out.add(item(6, FINAL, 30.0, 31.0, 31.0, [(30.0, 31.0, "Too late.")])) == []
    assert out.finish(40.0) == []
    assert snapshot(tmp_path) == files


def test_duplicate_items_are_ignored(tmp_path: Path) -> None:
    reference = snapshot(run(tmp_path / "once", SEQUENCE, segment_s=SEGMENT_S).out_dir)
    out = LiveOutputs(tmp_path / "twice", NAME, segment_s=SEGMENT_S)
    for index, cue in enumerate(SEQUENCE):
        out.add(cue)
        # Redeliver everything handled so far (interims and finals alike).
        for earlier in SEQUENCE[: index + 1]:
            if earlier.kind is not INTERIM and earlier.kind is not LiveKind.END:
                assert out.add(earlier) == []
    assert snapshot(out.out_dir) == reference


@pytest.mark.parametrize("restart_after", range(len(SEQUENCE)))
def test_a_new_writer_resumes_without_duplicates_or_losses(
    tmp_path: Path, restart_after: int
) -> None:
    reference = snapshot(run(tmp_path / "reference", SEQUENCE, segment_s=SEGMENT_S).out_dir)
    out_dir = tmp_path / "restarted"
    run(out_dir, SEQUENCE[: restart_after + 1], segment_s=SEGMENT_S)
    # A new worker gets the last item again (its offset was not committed) and then the rest.
    resumed = run(out_dir, SEQUENCE[restart_after:], segment_s=SEGMENT_S)
    assert snapshot(out_dir) == reference
    assert resumed.ended


def test_final_files_missing_after_a_crash_at_the_end_are_rebuilt(tmp_path: Path) -> None:
    out = run(tmp_path, SEQUENCE, segment_s=SEGMENT_S)
    out.srt_path.unlink()
    resumed = LiveOutputs(tmp_path, NAME, segment_s=SEGMENT_S)
    assert resumed.ended
    assert out.srt_path.read_text(encoding="utf-8") == to_srt(ALL_FINALS)
    assert out.vtt_path.read_text(encoding="utf-8") == to_vtt(ALL_FINALS)


def test_a_phrase_appended_before_a_crash_is_not_duplicated(tmp_path: Path) -> None:
    reference = snapshot(run(tmp_path / "reference", SEQUENCE, segment_s=SEGMENT_S).out_dir)
    out_dir = tmp_path / "crashed"
    out = run(out_dir, SEQUENCE[:5], segment_s=SEGMENT_S)
    # The worker appended the next phrase (half of it, even) and died before recording it.
    with out.vtt_path.open("a", encoding="utf-8") as rolling:
        rolling.write("5\n00:00:07.500 --> 00:00:09.000\nWords acr")
    run(out_dir, SEQUENCE[5:], segment_s=SEGMENT_S)
    assert snapshot(out_dir) == reference


def test_sliding_window_keeps_the_last_entries(tmp_path: Path) -> None:
    window = 3
    out = LiveOutputs(tmp_path, NAME, segment_s=2.0, playlist_window=window)
    sequences = []
    for seq in range(12):
        start = seq * 2.5
        out.add(
            item(seq, FINAL, start, start + 2.5, start + 2.5, [(start, start + 2.0, f"cue {seq}")])
        )
        playlist = read_playlist(out)
        count = out.segments_written
        assert playlist.playlist_type is None
        assert len(playlist.segments) == min(count, window)
        assert playlist.media_sequence == max(0, count - window)
        assert [s.uri for s in playlist.segments] == [
            f"{NAME}-{n}.vtt" for n in range(max(0, count - window), count)
        ]
        for segment in playlist.segments:
            assert (tmp_path / segment.uri).exists()
        # Files that left the playlist stay a while (RFC 8216 6.2.2), then go: bounded disk.
        assert len(list(tmp_path.glob(f"{NAME}-*.vtt"))) == min(count, 2 * window)
        sequences.append(playlist.media_sequence)
    assert sequences == sorted(sequences)
    assert sequences[-1] > 0
    out.add(item(12, LiveKind.END, 30.0, 31.0, 31.0))
    playlist = read_playlist(out)
    assert playlist.is_endlist
    assert len(playlist.segments) == window
    assert playlist.segments[-1].duration == pytest.approx(1.0)
    assert len(parse_cues(out.srt_path.read_text(encoding="utf-8"), "srt")) == 12


def test_state_stays_bounded_on_a_long_stream(tmp_path: Path) -> None:
    out = LiveOutputs(tmp_path, NAME, segment_s=SEGMENT_S, playlist_window=5)
    state_sizes = []
    for seq in range(600):
        start = seq * 3.0
        out.add(item(seq, FINAL, start, start + 3.0, start + 3.0, [(start, start + 2.9, "words")]))
        state_sizes.append(out.state_path.stat().st_size)
        pending = json.loads(out.state_path.read_text(encoding="utf-8"))["pending"]
        assert len(pending) <= 3
    assert max(state_sizes) < 1000
    assert len(read_playlist(out).segments) == 5
    assert len(list(tmp_path.glob(f"{NAME}-*.vtt"))) == 10


def test_a_stream_that_ends_at_once(tmp_path: Path) -> None:
    out = LiveOutputs(tmp_path, NAME)
    out.add(item(0, LiveKind.END, 0.0, 0.0, 0.0, reason="no data"))
    playlist = read_playlist(out)
    assert playlist.is_endlist
    assert playlist.segments == []
    assert out.srt_path.read_text(encoding="utf-8") == ""
    assert out.vtt_path.read_text(encoding="utf-8") == "WEBVTT\n\n"


def test_the_end_mark_closes_a_partial_segment(tmp_path: Path) -> None:
    out = LiveOutputs(tmp_path, NAME)
    out.add(item(0, FINAL, 0.0, 1.0, 1.0, [(0.2, 1.0, "Short.")]))
    out.add(item(1, LiveKind.END, 1.0, 3.0, 1.0))
    playlist = read_playlist(out)
    assert [(s.uri, s.duration) for s in playlist.segments] == [(f"{NAME}-0.vtt", 3.0)]
    assert parse_cues(out.segment_path(0).read_text(encoding="utf-8"), "vtt") == [
        CueRecord(start=0.2, end=1.0, text="Short.")
    ]
    # Every output is readable by the web server that serves it, not only by its writer.
    outputs = [out.segment_path(0), out.playlist_path, out.srt_path, out.vtt_path]
    assert {oct(path.stat().st_mode & 0o777) for path in outputs} == {"0o644"}


def test_a_resumed_stream_keeps_its_segment_length(tmp_path: Path) -> None:
    run(tmp_path, SEQUENCE[:4], segment_s=SEGMENT_S)
    resumed = LiveOutputs(tmp_path, NAME, segment_s=2.0)
    assert resumed.segment_s == SEGMENT_S
    assert resumed.last_seq == 1


@pytest.mark.parametrize("name", ["", "a/b", "..", "."])
def test_a_name_that_is_not_a_file_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        LiveOutputs(tmp_path, name)


def test_segment_vtt() -> None:
    cues = [
        LiveCueLine(start=3661.5, end=3663.0, text="An hour\nlater <b>"),
        LiveCueLine(start=1.0, end=2.0, text="first"),
    ]
    text = segment_vtt(cues, 10.0)
    assert text == (
        "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n\n"
        "1\n00:00:01.000 --> 00:00:02.000\nfirst\n\n"
        "2\n01:01:01.500 --> 01:01:03.000\nAn hour\nlater &lt;b&gt;\n\n"
    )
    assert parse_cues(text, "vtt")[1].text == "An hour\nlater <b>"
    empty = segment_vtt([], 0.0)
    assert empty == "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n"
    assert parse_cues(empty, "vtt") == []


def test_mpegts_ticks_wrap_at_33_bits() -> None:
    assert mpegts_ticks(1.4) == 126_000
    assert mpegts_ticks(2**33 / 90_000 + 1.0) == 90_000


def test_playlist_text() -> None:
    entries = [PlaylistEntry("a-7.vtt", 6.0), PlaylistEntry("a-8.vtt", 4.25)]
    text = playlist_text(entries, media_sequence=7, target_duration=6, event=False, ended=True)
    assert text == (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:7\n"
        "#EXTINF:6.000,\na-7.vtt\n#EXTINF:4.250,\na-8.vtt\n#EXT-X-ENDLIST\n"
    )
    parsed = m3u8.loads(
        playlist_text(entries, media_sequence=0, target_duration=6, event=True, ended=False)
    )
    assert parsed.playlist_type == "event"
    assert not parsed.is_endlist
    assert [s.duration for s in parsed.segments] == [6.0, 4.25]
    with pytest.raises(ValueError, match="target duration"):
        playlist_text(
            [PlaylistEntry("x.vtt", 6.6)],
            media_sequence=0,
            target_duration=6,
            event=True,
            ended=False,
        )
