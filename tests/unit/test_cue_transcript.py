"""Gathering a job's transcript in the cue stage, and the role table."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agents.cues.model import DEFAULT_RULES
from agents.cues.transcript import missing, transcript
from streams.events.model import Gap, SegmentTranscribed, TranscribedWord, TranscriptComplete
from streams.runtime.roles import STAGES, stages_for
from tests.examples import TRANSCRIBED


def segment(position: int, *words: str) -> SegmentTranscribed:
    start = 10.0 * position
    return replace(
        TRANSCRIBED,
        segment_id=f"j:0000-{position:04d}",
        index=position,
        start=start,
        end=start + 5,
        words=tuple(
            TranscribedWord(word=f" {w}", start=start + i, end=start + i + 0.3, probability=1.0)
            for i, w in enumerate(words)
        ),
    )


def complete(*ids: str, gaps: tuple[Gap, ...] = ()) -> TranscriptComplete:
    return TranscriptComplete(
        job_id="j", name="a", language="en", duration=60.0, segment_ids=ids, gaps=gaps
    )


def test_missing_lists_the_segments_whose_words_have_not_arrived() -> None:
    have = {"j:0000-0000"}
    assert missing(complete("j:0000-0000", "j:0000-0001"), have.__contains__) == ["j:0000-0001"]
    assert missing(complete("j:0000-0000"), have.__contains__) == []


def test_cues_follow_the_segments_and_mark_the_gaps() -> None:
    first, second = segment(0, "Hello", "there."), segment(2, "Goodbye", "now.")
    gap = Gap(start=10.0, end=15.0)
    ready, _ = transcript(
        complete("j:0000-0000", "j:0000-0002", gaps=(gap,)), [first, second], DEFAULT_RULES
    )
    texts = [c.text for c in ready.cues]
    assert texts == ["Hello there.", DEFAULT_RULES.gap_text, "Goodbye now."]
    assert (ready.job_id, ready.name, ready.language) == ("j", "a", "en")


def test_roles_name_stages_in_flow_order() -> None:
    assert stages_for(("all",)) == list(STAGES)
    assert stages_for(("subtitles", "transcribe", "transcribe")) == ["transcribe", "subtitles"]
    with pytest.raises(ValueError, match="unknown roles"):
        stages_for(("bogus",))


def raw_segment(*raw: str) -> SegmentTranscribed:
    """Words exactly as faster-whisper gives them: a word has a leading space, a piece of one
    split off at a punctuation token has none."""
    return replace(
        segment(0),
        words=tuple(
            TranscribedWord(word=w, start=0.3 * i, end=0.3 * i + 0.25, probability=0.9)
            for i, w in enumerate(raw)
        ),
    )


def test_pieces_of_a_word_are_written_as_one_word() -> None:
    raw = (" By", " 7", " o", "'clock,", " 7", ",000", " people", " paid", " 3", ".5", " each.")
    (cue,) = transcript(complete("j:0000-0000"), [raw_segment(*raw)], DEFAULT_RULES)[0].cues
    assert cue.text.replace("\n", " ") == "By 7 o'clock, 7,000 people paid 3.5 each."


def test_a_word_that_starts_with_an_apostrophe_stays_a_word() -> None:
    raw = (" And", " so", " 'Tis", " the", " season.")
    (cue,) = transcript(complete("j:0000-0000"), [raw_segment(*raw)], DEFAULT_RULES)[0].cues
    assert cue.text.replace("\n", " ") == "And so 'Tis the season."
