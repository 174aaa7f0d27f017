from __future__ import annotations

import re

import pysubs2
import pytest

from agents.cues.build import build_cues
from agents.cues.check import check_cues
from agents.cues.model import Cue as BuiltCue
from agents.cues.model import Word
from agents.subtitles.render import parse_cues, to_srt, to_ssafile, to_vtt
from streams.events.model import CueRecord


def Cue(start: float, end: float, lines: tuple[str, ...]) -> CueRecord:
    """A cue as CuesReady carries it: lines joined by newlines."""
    return CueRecord(start=start, end=end, text="\n".join(lines))


CUES = [
    Cue(1.0, 2.5, ("Hello there.",)),
    Cue(3.0, 5.25, ("This cue has", "two lines.")),
    Cue(3661.5, 3662.0, ("An hour later.",)),
]

RENDER = {"srt": to_srt, "vtt": to_vtt}


def test_srt_numbering_starts_at_one() -> None:
    srt = to_srt(CUES)
    blocks = [b.splitlines() for b in srt.strip().split("\n\n")]
    assert [b[0] for b in blocks] == ["1", "2", "3"]


def test_srt_layout_and_timestamps() -> None:
    assert to_srt(CUES[:2]) == (
        "1\n00:00:01,000 --> 00:00:02,500\nHello there.\n\n"
        "2\n00:00:03,000 --> 00:00:05,250\nThis cue has\ntwo lines.\n\n"
    )
    assert "01:01:01,500 --> 01:01:02,000" in to_srt(CUES)


def test_vtt_header_and_timestamps() -> None:
    vtt = to_vtt(CUES)
    assert vtt.startswith("WEBVTT\n\n")
    assert "00:00:03.000 --> 00:00:05.250\nThis cue has\ntwo lines.\n" in vtt
    assert "01:01:01.500 --> 01:01:02.000" in vtt


def test_times_round_to_nearest_millisecond() -> None:
    (event,) = to_ssafile([Cue(0.0014, 1.9996, ("x",))])
    assert (event.start, event.end) == (1, 2000)
    assert "00:00:00,001 --> 00:00:02,000" in to_srt([Cue(0.0014, 1.9996, ("x",))])


def test_ssafile_uses_pysubs2_line_breaks() -> None:
    subs = to_ssafile(CUES)
    assert isinstance(subs, pysubs2.SSAFile)
    assert subs[1].text == r"This cue has\Ntwo lines."
    assert subs[1].plaintext == "This cue has\ntwo lines."


def test_srt_is_ordered_by_time() -> None:
    srt = to_srt([CUES[1], CUES[0]])
    assert srt.index("Hello there.") < srt.index("This cue has")


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_round_trip_keeps_lines_and_times(fmt: str) -> None:
    assert parse_cues(RENDER[fmt](CUES), fmt) == CUES


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_special_characters_survive_round_trip(fmt: str) -> None:
    cues = [
        Cue(0.0, 1.0, ("a < b & c > d", "café naïve 日本語")),
        Cue(2.0, 3.0, ("<i>not a tag</i> {\\an8} {braces}", "AT&amp;T -> yes")),
        Cue(4.0, 5.0, ("\u201cquoted\u201d \u2014 done",)),
    ]
    assert parse_cues(RENDER[fmt](cues), fmt) == cues


def test_vtt_escapes_markup_characters() -> None:
    vtt = to_vtt([Cue(0.0, 1.0, ("a < b & c",))])
    assert "a &lt; b &amp; c" in vtt
    srt = to_srt([Cue(0.0, 1.0, ("a < b & c",))])
    assert "a < b & c" in srt  # SRT has no escaping


def test_empty_outputs_are_valid() -> None:
    assert to_srt([]) == ""
    assert to_vtt([]).startswith("WEBVTT")
    assert re.fullmatch(r"WEBVTT\s*", to_vtt([]))
    assert parse_cues(to_srt([]), "srt") == []
    assert parse_cues(to_vtt([]), "vtt") == []


def test_parse_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        parse_cues("", "ass")


def test_parse_accepts_dotted_upper_case_format() -> None:
    assert parse_cues(to_vtt(CUES), ".VTT") == CUES


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_built_cues_survive_round_trip(fmt: str) -> None:
    text = "Hello there my friend, how are you today. I am fine thanks, and you? " * 3
    words = [
        Word(f" {t}", 100 + i * 0.31, 100 + i * 0.31 + 0.25) for i, t in enumerate(text.split())
    ]
    cues = build_cues(words, gaps=[(200.0, 230.0)])
    records = [CueRecord(start=c.start, end=c.end, text=c.text) for c in cues]
    parsed = parse_cues(RENDER[fmt](records), fmt)
    assert [c.text for c in parsed] == [c.text for c in cues]
    for got, want in zip(parsed, cues, strict=True):
        assert got.start == pytest.approx(want.start, abs=5e-4)
        assert got.end == pytest.approx(want.end, abs=5e-4)
    assert check_cues([BuiltCue.from_text(c.start, c.end, c.text) for c in parsed]) == []
