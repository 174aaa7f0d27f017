"""`kaption models compare`'s arithmetic and the control topic's pure rules."""

from __future__ import annotations

from dataclasses import replace

import pytest

from clients.model_compare import compare, error_rate, latest_by_unit
from streams.events.model import (
    LiveKind,
    LiveTranscript,
    ModelState,
    SegmentTranscribed,
    TranscribedWord,
)
from streams.models.control import latest, serving_event, switch
from tests.examples import EXAMPLES, TRANSCRIBED


def result(
    job: str, index: int, text: str, model: str, took: float = 0.5, p: float = 0.8
) -> SegmentTranscribed:
    words = tuple(
        TranscribedWord(word=f" {w}", start=index, end=index + 0.5, probability=p)
        for w in text.split()
    )
    return replace(
        TRANSCRIBED,
        job_id=job,
        segment_id=f"{job}:0000-{index:04d}",
        index=index,
        start=float(index),
        end=float(index) + 2.0,
        text=text,
        words=words,
        model=model,
        model_version="1",
        processing_seconds=took,
    )


def test_shadow_against_primary_over_the_segments_both_transcribed() -> None:
    primary = [
        result("a", 0, "the cat sat", "tiny"),
        result("a", 1, "on the mat", "tiny"),
        result("b", 0, "hello there", "tiny"),
        result("c", 0, "only primary saw this", "tiny"),
    ]
    shadow = [
        result("a", 0, "the cat sat", "base", took=1.0, p=0.9),
        result("a", 1, "on a mat", "base", took=1.0, p=0.9),
        result("b", 0, "Hello, there!", "base", took=1.0, p=0.9),
        result("z", 0, "only the shadow saw this", "base"),
    ]
    [found] = compare(primary, shadow, references={"a": "the cat sat on the mat"})
    assert found.shadow == "base@1"
    assert found.groups == ("a", "b")  # c and z: one side only
    assert found.primary.segments == found.candidate.segments == 3
    # 1 substitution over 8 primary words (punctuation and case do not count)
    assert found.wer_vs_primary == pytest.approx(1 / 8)
    assert found.primary.speed == pytest.approx(1.5 / 6.0)
    assert found.candidate.speed == pytest.approx(3.0 / 6.0)
    assert found.candidate.confidence == pytest.approx(0.9)
    assert found.primary.wer_vs_references == 0.0
    assert found.candidate.wer_vs_references == pytest.approx(1 / 6)
    assert found.references == 1
    assert found.primary.models == ("tiny@1",)
    assert compare(primary, shadow, only=("b",))[0].groups == ("b",)


def test_two_shadow_models_are_compared_each_and_repeats_count_once() -> None:
    primary = [result("a", 0, "one two", "tiny"), result("a", 0, "one two", "tiny")]
    shadow = [
        result("a", 0, "one too", "base"),
        result("a", 0, "one two", "small"),
        result("a", 0, "one two", "small"),  # replayed again: the last counts
    ]
    found = {c.shadow: c for c in compare(primary, shadow)}
    assert set(found) == {"base@1", "small@1"}
    assert found["base@1"].wer_vs_primary == 0.5
    assert found["small@1"].wer_vs_primary == 0.0
    assert found["small@1"].candidate.segments == 1


def test_live_phrases_compare_finals_only() -> None:
    live = EXAMPLES["LiveTranscript"]
    assert isinstance(live, LiveTranscript)
    final = replace(live, kind=LiveKind.FINAL, text="good morning")
    interim = replace(live, kind=LiveKind.INTERIM, seq=3)
    assert list(latest_by_unit([final, interim])) == ["s#2"]
    shadow = replace(final, text="good mourning", model="base")
    [found] = compare([final, interim], [shadow])
    assert found.groups == ("s",) and found.wer_vs_primary == 0.5


def test_no_reference_words_give_no_rate() -> None:
    assert error_rate([""], ["words"]) is None
    assert error_rate(["a b"], ["a c"]) == 0.5


def test_the_last_switch_of_a_stage_wins_and_only_switchable_stages_take_one() -> None:
    first, other, second = (
        switch("transcribe", "base"),
        switch("transcribe-live", "x"),
        switch("transcribe", "tiny.en"),
    )
    assert latest([first, other, second], "transcribe") == second
    assert latest([first, other], "transcribe-live") == other
    assert latest([other], "transcribe") is None
    assert first.request_id != second.request_id
    with pytest.raises(ValueError, match="no switchable model"):
        switch("cues", "base")


def test_a_serving_report_is_keyed_by_worker_and_stage() -> None:
    event = serving_event("h:1", "transcribe", "base@1", ModelState.FAILED, "x", "r", "bad")
    assert event.instance == "h:1/transcribe" and event.reason == "bad"
