"""Segment planning: merging VAD spans into segments of at most 30 s."""

from __future__ import annotations

import json

import pytest

from agents.decode.media import DecodedAudio, decode_audio
from agents.vad.agent import vad_options
from agents.vad.plan import plan, speech_segments
from agents.vad.speech import Span, merge_spans, split_long
from streams.events.model import SpeechSegment
from streams.settings import KaptionSettings
from tests.paths import MEDIA


def segments_of(audio: DecodedAudio, offset: float = 0.0) -> list[SpeechSegment]:
    settings = KaptionSettings()
    return speech_segments(
        "job",
        0,
        audio.pcm,
        audio.sample_rate,
        offset,
        vad_options(settings),
        settings.max_segment_s,
        settings.max_merge_gap_s,
    )


def test_neighbours_merge_up_to_the_length_limit() -> None:
    spans = [Span(0, 10), Span(11, 20), Span(21, 29), Span(30, 35)]
    assert merge_spans(spans, max_len=30, max_gap=3) == [Span(0, 29), Span(30, 35)]


def test_long_pauses_separate_segments() -> None:
    assert merge_spans([Span(0, 2), Span(10, 12)], max_len=30, max_gap=3) == [
        Span(0, 2),
        Span(10, 12),
    ]


def test_overlong_span_is_cut_into_equal_parts() -> None:
    assert split_long(Span(0, 70), 30) == [
        Span(0, 70 / 3),
        Span(70 / 3, 140 / 3),
        Span(140 / 3, 70),
    ]
    assert split_long(Span(0, 30), 30) == [Span(0, 30)]
    merged = merge_spans([Span(5, 75)], max_len=30, max_gap=3)
    assert (
        all(s.length <= 30 + 1e-9 for s in merged) and merged[0].start == 5 and merged[-1].end == 75
    )


def test_unsorted_input_is_handled() -> None:
    assert merge_spans([Span(4, 5), Span(0, 1)], max_len=30, max_gap=3) == [Span(0, 5)]


def test_empty() -> None:
    assert merge_spans([], max_len=30, max_gap=3) == []


@pytest.mark.parametrize(("name", "offset"), [("speech.mp4", 0.0), ("offset.mkv", 2.0)])
def test_plan_covers_the_speech_in_absolute_time(name: str, offset: float) -> None:
    reference = json.loads((MEDIA / "speech.json").read_text())
    audio = decode_audio(str(MEDIA / name))
    segments = segments_of(audio, audio.offset)
    assert segments, "speech was not detected"
    for utterance in reference["utterances"]:
        start, end = utterance["start"] + offset, utterance["end"] + offset
        assert any(s.start <= start + 0.1 and end - 0.1 <= s.end for s in segments), utterance
    for index, s in enumerate(segments):
        assert s.segment_id == f"job:0000-{index:04d}" and s.end - s.start <= 30.0
        assert len(s.pcm) == pytest.approx((s.end - s.start) * 16_000 * 2, abs=4)
    planned = plan("job", 0, True, audio.offset, audio.duration, segments)
    assert [p.segment_id for p in planned.segments] == [s.segment_id for s in segments]
    assert [(p.start, p.end) for p in planned.segments] == [(s.start, s.end) for s in segments]


def test_silence_plans_no_segments() -> None:
    audio = decode_audio(str(MEDIA / "silence.mp4"))
    assert segments_of(audio) == []
