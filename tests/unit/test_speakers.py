"""Speaker labels without a model: the windows' voices joined into job-wide speakers, words
given their speaker, cues that never mix two speakers except as a dashed dialogue, and the
labels in WebVTT, SRT and back."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from agents.cues.build import build_cues
from agents.cues.model import Cue, CueRules, Word
from agents.cues.speakers import SpeakerCount, Turn, cluster, job_turns, label_words, speaker_at
from agents.cues.transcript import transcript
from agents.subtitles.render import parse_cues, to_srt, to_vtt
from clients.cli import speaker_options
from streams.events.model import (
    CueRecord,
    SegmentTranscribed,
    SpeakersFound,
    SpeakerTurn,
    TranscribedWord,
    TranscriptComplete,
    Voice,
)
from streams.job_options import SpeakerOptions

RNG = np.random.default_rng(7)
A, B, C = (RNG.normal(size=16) for _ in range(3))  # three voices, far apart in 16 dimensions


def near(voice: np.ndarray, noise: float = 0.1) -> tuple[float, ...]:
    return tuple(float(x) for x in voice + RNG.normal(scale=noise, size=voice.shape))


def window(index: int, *turns: tuple[float, float, int], **voices: np.ndarray) -> SpeakersFound:
    return SpeakersFound(
        job_id="j",
        window=index,
        last=False,
        turns=tuple(SpeakerTurn(start=s, end=e, speaker=k) for s, e, k in turns),
        voices=tuple(
            Voice(speaker=int(k[1:]), embedding=near(v), seconds=1.0) for k, v in voices.items()
        ),
    )


def test_the_same_voice_in_different_windows_is_one_speaker() -> None:
    # Window 0: A then B; window 1 numbers them the other way round, and C joins.
    found = [
        window(0, (0, 2, 0), (2, 4, 1), s0=A, s1=B),
        window(1, (120, 122, 1), (122, 125, 0), (125, 126, 2), s0=A, s1=B, s2=C),
    ]
    turns = job_turns(found, threshold=0.6)
    assert [t.speaker for t in turns] == [
        "Speaker 1",
        "Speaker 2",
        "Speaker 2",
        "Speaker 1",
        "Speaker 3",
    ]


def test_a_known_number_of_speakers_and_bounds_are_honoured() -> None:
    vectors = np.array([near(A), near(A), near(B), near(C)])
    assert len(set(cluster(vectors, 0.6))) == 3
    assert cluster(vectors, 0.6, SpeakerCount(num=2)) in ([0, 0, 1, 1], [0, 0, 0, 1])
    assert len(set(cluster(vectors, 0.6, SpeakerCount(max=2)))) == 2
    assert len(set(cluster(vectors, 1.99, SpeakerCount(min=3)))) == 3  # a loose threshold
    assert len(set(cluster(vectors, 0.6, SpeakerCount(num=9)))) == 4  # no more than voices
    assert cluster(np.zeros((0, 16)), 0.6) == []


def test_a_voice_without_an_embedding_is_a_speaker_of_its_own() -> None:
    bare = SpeakersFound(
        job_id="j",
        window=0,
        last=True,
        turns=(SpeakerTurn(start=0, end=1, speaker=0), SpeakerTurn(start=1, end=2, speaker=1)),
        voices=(
            Voice(speaker=0, embedding=near(A), seconds=1),
            Voice(speaker=1, embedding=(), seconds=1),
        ),
    )
    assert [t.speaker for t in job_turns([bare], 0.6)] == ["Speaker 1", "Speaker 2"]


def test_each_word_gets_the_turn_it_overlaps_most_or_the_one_before() -> None:
    turns = [Turn(0.0, 2.0, "Speaker 1"), Turn(2.0, 4.0, "Speaker 2")]
    assert speaker_at(turns, 1.5, 2.9) == "Speaker 2"
    assert speaker_at(turns, 1.0, 2.2) == "Speaker 1"
    assert speaker_at(turns, 4.5, 4.8) == "Speaker 2"  # just after: the nearest turn
    assert speaker_at(turns, 9.0, 9.5) == ""  # far from any turn
    words = [Word(" a", 0.1, 0.5), Word(" b", 2.5, 3.0), Word(" c", 9.0, 9.5)]
    # The last word is far from every turn: it keeps the speaker before it.
    assert [w.speaker for w in label_words(words, turns)] == ["Speaker 1", "Speaker 2", "Speaker 2"]


def said(text: str, start: float, speaker: str, step: float = 0.3) -> list[Word]:
    return [
        Word(f" {w}", start + i * step, start + i * step + 0.25, speaker=speaker)
        for i, w in enumerate(text.split())
    ]


def test_a_cue_never_spans_a_speaker_change() -> None:
    words = said("I told you about the house and the garden behind it", 0.0, "Speaker 1")
    words += said("and I never believed a single word of it", 3.4, "Speaker 2")
    cues = build_cues(words)
    assert len(cues) >= 2
    for cue in cues:
        assert len(cue.speakers) == 1, cue
    assert cues[0].speakers == ("Speaker 1",) and cues[-1].speakers == ("Speaker 2",)


def test_two_short_turns_share_a_dialogue_cue_with_a_dash_per_line() -> None:
    words = said("Are you coming?", 0.0, "Speaker 1") + said("Not tonight.", 1.1, "Speaker 2")
    [cue] = build_cues(words)
    assert cue.lines == ("- Are you coming?", "- Not tonight.")
    assert cue.speakers == ("Speaker 1", "Speaker 2")
    assert cue.speaker == "Speaker 1\nSpeaker 2"
    # A long pause between them: two cues, no dashes.
    apart = said("Are you coming?", 0.0, "Speaker 1") + said("Not tonight.", 4.0, "Speaker 2")
    assert [c.lines for c in build_cues(apart)] == [("Are you coming?",), ("Not tonight.",)]
    # Unlabelled words build the cues they always did.
    plain = [Word(w.text, w.start, w.end) for w in words]
    assert [c.speakers for c in build_cues(plain)] == [()]


def test_the_cue_stage_labels_a_jobs_words() -> None:
    complete = TranscriptComplete(
        job_id="j",
        name="a",
        language="en",
        duration=10.0,
        segment_ids=("j:0",),
        gaps=(),
        speakers=True,
        speaker_windows=(0,),
    )
    words = said("Are you coming?", 0.0, "") + said("Not tonight.", 4.0, "")
    segment = SegmentTranscribed(
        job_id="j",
        segment_id="j:0",
        index=0,
        start=0.0,
        end=5.0,
        text="",
        words=tuple(
            TranscribedWord(word=w.text, start=w.start, end=w.end, probability=1.0) for w in words
        ),
        language="en",
        model="tiny.en",
        model_version="1",
        attempt=1,
        processing_seconds=0.1,
    )
    found = window(0, (0.0, 1.0, 0), (3.9, 5.0, 1), s0=A, s1=B)
    ready = transcript(complete, [segment], CueRules(), [found])[0]
    assert [(c.text, c.speaker) for c in ready.cues] == [
        ("Are you coming?", "Speaker 1"),
        ("Not tonight.", "Speaker 2"),
    ]
    unasked = transcript(replace(complete, speakers=False), [segment], CueRules(), [found])[0]
    assert all(c.speaker == "" for c in unasked.cues)


def test_webvtt_names_the_voices_and_srt_keeps_the_dashes() -> None:
    cues = [
        CueRecord(start=1.0, end=2.0, text="Hello <there>", speaker="Speaker 1"),
        CueRecord(start=2.5, end=4.0, text="- Yes?\n- No.", speaker="Speaker 1\nSpeaker 2"),
        CueRecord(start=5.0, end=6.0, text="Nobody's line."),
    ]
    vtt = to_vtt(cues, "en")
    assert "<v Speaker 1>Hello &lt;there&gt;\n" in vtt
    assert "<v Speaker 1>- Yes?</v>\n<v Speaker 2>- No.</v>\n" in vtt
    assert "\nNobody's line.\n" in vtt
    assert parse_cues(vtt, "vtt") == cues
    srt = to_srt(cues)
    assert "<v" not in srt and "- Yes?\n- No.\n" in srt
    assert [c.text for c in parse_cues(srt, "srt")] == [c.text for c in cues]


def test_a_cue_record_round_trips_its_speakers() -> None:
    cue = Cue.from_text(1.0, 2.0, "- a\n- b", "Speaker 1\nSpeaker 2")
    assert cue.speakers == ("Speaker 1", "Speaker 2") and cue.speaker == "Speaker 1\nSpeaker 2"
    assert Cue.from_text(1.0, 2.0, "a").speakers == ()


@pytest.mark.parametrize(
    ("flags", "options"),
    [
        ((None, 0, 0), SpeakerOptions()),
        ((0, 0, 0), SpeakerOptions(on=True)),
        ((2, 0, 0), SpeakerOptions(on=True, num=2)),
        ((None, 2, 4), SpeakerOptions(on=True, min=2, max=4)),
    ],
)
def test_the_command_line_options(
    flags: tuple[int | None, int, int], options: SpeakerOptions
) -> None:
    assert speaker_options(*flags) == options


def test_impossible_counts_are_refused() -> None:
    assert SpeakerOptions(True, 0, 4, 2).problem() == (
        "at least 4 and at most 2 speakers cannot both hold"
    )
    assert SpeakerOptions(True, 2, 1, 3).problem() is None


def test_voices_one_window_told_apart_stay_apart_unless_the_count_forces_it() -> None:
    close = np.array([near(A, 0.01), near(A, 0.01), near(B)])
    assert cluster(close, 0.6) == [0, 0, 1]
    assert cluster(close, 0.6, groups=[0, 0, 1]) == [0, 1, 2]
    assert len(set(cluster(close, 0.6, SpeakerCount(num=1), groups=[0, 0, 1]))) == 1


@pytest.mark.parametrize(
    ("args", "speakers"),
    [
        (["a.mp4"], None),
        (["a.mp4", "--speakers"], 0),
        (["a.mp4", "--speakers", "2"], 2),
        (["a.mp4", "--speakers=3", "--no-wait"], 3),
        (["a.mp4", "--speakers", "--no-wait"], 0),
    ],
)
def test_speakers_on_the_command_line(args: list[str], speakers: int | None) -> None:
    from clients.cli import submit

    assert submit.make_context("submit", args).params["speakers"] == speakers
