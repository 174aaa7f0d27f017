"""Live captions follow the file lane's cue rules (agents.cues.check) in every output.

Random streams of interim and final transcripts (random words, word times that stray outside
their phrase, phrase windows that overlap, silences, arrival out of order) go through the
live cue code (agents.cues.live_order) and then the live writers (agents.subtitles.live); the
rolling WebVTT after every final, each HLS segment and the final SRT and WebVTT are read back
and checked. Plus the two defects seen on a real stream: a final that started before the
previous one ended, and "7 o'clock" written as "7 o 'clock".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.cues import build, cleanup, live_order
from agents.cues.build import build_cues
from agents.cues.check import check_cues
from agents.cues.live_order import LiveOrderState, Policy, place_after, receive_step
from agents.cues.model import DEFAULT_RULES, Cue, Word
from agents.subtitles.live import LiveOutputs, after_written
from agents.subtitles.render import parse_cues
from streams.events.model import (
    CueRecord,
    LiveCue,
    LiveKind,
    LiveTranscript,
    TranscribedWord,
)

T0 = 1_790_000_000.0  # wall clock at media time 0
SEGMENT_S = 2.0  # short segments: many boundaries for cues to cross
# faster-whisper's word texts: a leading space starts a word; "'clock" continues "o".
VOCABULARY = (
    " By",
    " seven",
    " 7",
    " o",
    "'clock",
    " the",
    " market's",
    " stalls",
    " are",
    " full.",
    " and,",
    " ¿qué?",
    " a",
    " unbelievably-long-compound-word-that-fills-a-line",
    " I",
)


def item(
    seq: int,
    kind: LiveKind,
    start: float,
    end: float,
    words: Sequence[TranscribedWord] = (),
    revision: int = 0,
) -> LiveTranscript:
    return LiveTranscript(
        stream_id="s",
        seq=seq,
        revision=revision,
        kind=kind,
        start=start,
        end=end,
        capture_end=T0 + end,
        source_offset=0.0,
        text="".join(w.word for w in words).strip(),
        words=tuple(words),
        model="tiny.en",
        model_version="test",
        processing_seconds=0.1,
        reason="",
    )


@st.composite
def phrase_words(draw: st.DrawFn, start: float, end: float) -> list[TranscribedWord]:
    """Words in time order, some placed before or after the audio of their phrase (Whisper
    does), some of no length, some overlapping the next."""
    n = draw(st.integers(0, 14))
    times = sorted(draw(st.lists(st.floats(start - 0.3, end + 0.6), min_size=n, max_size=n)))
    return [
        TranscribedWord(
            word=draw(st.sampled_from(VOCABULARY)),
            start=t,
            end=t + draw(st.sampled_from((0.0, 0.05, 0.2, 0.4, 0.9))),
            probability=draw(st.floats(0.0, 1.0)),
        )
        for t in times
    ]


@st.composite
def streams(draw: st.DrawFn) -> list[LiveTranscript]:
    """A stream's items in arrival order, ending with END."""
    items: list[list[LiveTranscript]] = []  # per seq, in the order they were produced
    seq, at = 0, draw(st.floats(0.0, 3.0))
    for _ in range(draw(st.integers(1, 7))):
        if draw(st.booleans()):
            silence = draw(st.floats(0.1, 3.0))
            items.append([item(seq, LiveKind.SILENCE, at, at + silence)])
            seq, at = seq + 1, at + silence
        # A phrase may start before the previous one ended (overlapping windows).
        start = max(0.0, at + draw(st.floats(-0.8, 1.0)))
        end = start + draw(st.floats(0.2, 8.0))
        words = draw(phrase_words(start, end))
        versions = []
        for revision in range(draw(st.integers(0, 4))):
            heard = start + (end - start) * (revision + 1) / 5
            # An interim heard part of the phrase, and maybe different words.
            kept = [w for w in words if w.end <= heard]
            if draw(st.booleans()):
                kept = draw(phrase_words(start, heard))
            versions.append(item(seq, LiveKind.INTERIM, start, heard, kept, revision))
        versions.append(item(seq, LiveKind.FINAL, start, end, words, len(versions)))
        items.append(versions)
        seq, at = seq + 1, end
    # Arrival: each seq's items in order, seqs interleaved by a random delay of a few places.
    delays = [draw(st.integers(0, 3)) for _ in items]
    arrival = sorted(
        (
            (n + delays[n] + k, n, k)
            for n, versions in enumerate(items)
            for k in range(len(versions))
        )
    )
    out = [items[n][k] for _, n, k in arrival]
    return [*out, item(seq, LiveKind.END, at, at + 0.5)]


def cues_of(records: Sequence[CueRecord]) -> list[Cue]:
    return [Cue.from_text(r.start, r.end, r.text) for r in records]


def read(path: Path, fmt: str) -> list[CueRecord]:
    return parse_cues(path.read_text(encoding="utf-8"), fmt)


def check_outputs(out: LiveOutputs) -> None:
    """The final files and every segment against the cue rules."""
    final = read(out.srt_path, "srt")
    assert read(out.vtt_path, "vtt") == final
    assert check_cues(cues_of(final)) == []
    for number in range(out.segments_written):
        start, end = number * SEGMENT_S, (number + 1) * SEGMENT_S
        segment = read(out.segment_path(number), "vtt")
        # Exactly the final cues shown during the segment, in the final files' times ...
        # (A cue of no length, which the rules allow when the next starts at once, is in the
        # segment its instant falls in.)
        indices = [
            i
            for i, c in enumerate(final)
            if start <= c.start < end or (c.start < end and c.end > start)
        ]
        assert segment == [final[i] for i in indices]
        assert indices == list(range(indices[0], indices[-1] + 1)) if indices else True
        # ... so each passes the rules, judged with the cue that follows it in the stream
        # (whose own problems, judged without its successor, are not this segment's).
        following = final[indices[-1] + 1 : indices[-1] + 2] if indices else []
        problems = check_cues(cues_of([*segment, *following]))
        assert [p for p in problems if not p.startswith(f"cue {len(segment)} ")] == []


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(streams())
def test_every_live_output_follows_the_cue_rules(
    tmp_path_factory: pytest.TempPathFactory, arrivals: list[LiveTranscript]
) -> None:
    out = LiveOutputs(tmp_path_factory.mktemp("live"), "s", segment_s=SEGMENT_S)
    state, policy = LiveOrderState(), Policy()
    finals = 0
    for n, transcript in enumerate(arrivals):
        step = receive_step(state, transcript, T0 + transcript.end + 0.1 * n, policy)
        state = step.state
        for cue in step.cues:
            out.add(cue)
            if cue.kind is LiveKind.FINAL and not out.ended:
                finals += len(cue.cues)
                # The rolling file, as a player reads it between phrases.
                assert check_cues(cues_of(read(out.vtt_path, "vtt"))) == []
    assert out.ended
    check_outputs(out)
    assert len(read(out.srt_path, "srt")) == finals


# --- the defects seen on a real stream -------------------------------------------------------


def words(spec: str, start: float, step: float = 0.3) -> tuple[TranscribedWord, ...]:
    """'By| 7| o|'clock' -> faster-whisper words (texts as written, leading spaces kept)."""
    return tuple(
        TranscribedWord(word=w, start=start + i * step, end=start + (i + 1) * step, probability=1)
        for i, w in enumerate(spec.split("|"))
    )


def release(*transcripts: LiveTranscript) -> list[LiveCue]:
    state, out = LiveOrderState(), []
    for t in transcripts:
        step = receive_step(state, t, T0 + t.end + 1, Policy())
        state = step.state
        out += [c for c in step.cues if c.kind is LiveKind.FINAL]
    return out


def test_a_phrase_is_written_as_the_file_lane_writes_the_same_words() -> None:
    spoken = words(" By| 7| o|'clock| the| market's| stalls| are| full.", 1.0)
    (final,) = release(item(0, LiveKind.FINAL, 1.0, 4.0, spoken))
    file_lane = build_cues([Word(w.word, w.start, w.end, w.probability) for w in spoken])
    assert [c.text for c in final.cues] == [c.text for c in file_lane]
    # Live times are whole milliseconds, as the files write them.
    assert [(c.start, c.end) for c in final.cues] == [
        (round(c.start, 3), round(c.end, 3)) for c in file_lane
    ]


def test_seven_o_clock_is_one_word() -> None:
    spoken = words(" By| 7| o|'clock| the| market's| stalls| are| full.", 1.0)
    (final,) = release(item(0, LiveKind.FINAL, 1.0, 4.0, spoken))
    assert final.cues[0].text == "By 7 o'clock the market's stalls are full."


def _joining_pieces(clean_words: Callable[[Iterable[Word]], list[Word]]) -> Callable[..., Any]:
    """clean_words that also joins the pieces faster-whisper splits a word into at a
    punctuation token (no leading space: " o" + "'clock"), as the file lane needs it to."""

    def clean(words: Iterable[Word]) -> list[Word]:
        joined: list[Word] = []
        for w in sorted(words, key=lambda w: w.start):
            if joined and w.text[:1] in "',.-" and any(c.isalnum() for c in w.text):
                last = joined[-1]
                joined[-1] = Word(last.text + w.text, last.start, max(last.end, w.end))
            else:
                joined.append(w)
        return clean_words(joined)

    return clean


def test_live_cleans_raw_words_once_as_the_file_lane_does(monkeypatch: pytest.MonkeyPatch) -> None:
    # Joining depends on faster-whisper's leading spaces: the live lane joins on the raw words
    # and never again on the cleaned ones (" 'Tis" stays a word of its own).
    for module in (live_order, build):
        monkeypatch.setattr(module, "clean_words", _joining_pieces(cleanup.clean_words))
    spoken = words(" By| 7| o|'clock,| it| costs| 7|,000| or| 3|.5.| 'Tis| so.", 1.0)
    (final,) = release(item(0, LiveKind.FINAL, 1.0, 6.0, spoken))
    text = " ".join(c.text.replace("\n", " ") for c in final.cues)
    assert text == "By 7 o'clock, it costs 7,000 or 3.5. 'Tis so."


def test_a_final_that_starts_before_the_previous_cue_ends_gives_way() -> None:
    # "Hi." is extended for min_duration to 1.833 s; the next phrase's first word is at 1.5 s
    # (its window overlaps, as Whisper's times do): it starts at 1.833 s instead, not 0.3 s
    # before the written cue ends.
    first = item(0, LiveKind.FINAL, 1.0, 1.4, words(" Hi.", 1.0))
    second = item(1, LiveKind.FINAL, 1.3, 4.0, words(" The| market| opens| at| seven.", 1.5))
    cues = [c for final in release(first, second) for c in final.cues]
    assert [c.start for c in cues] == [1.0, 1.833]
    assert cues[0].end == 1.833
    assert check_cues([Cue.from_text(c.start, c.end, c.text) for c in cues]) == []


def test_a_cue_pushed_late_is_extended_again_for_its_reading_time() -> None:
    # Wholly before the floor: it starts there and is shown for its reading time.
    text = ("a line of text to read",)
    (cue,) = place_after([Cue(1.0, 1.5, text)], floor=3.0, rules=DEFAULT_RULES)
    assert cue.start == 3.0
    assert cue.end == pytest.approx(3.0 + len(text[0]) / DEFAULT_RULES.max_chars_per_second, 1e-3)


def test_a_pushed_cue_is_extended_without_moving_the_next_one_it_leaves_room_for() -> None:
    lines = ("one",), ("two",)
    placed = place_after([Cue(1.0, 1.9, lines[0]), Cue(3.0, 4.0, lines[1])], 1.5, DEFAULT_RULES)
    assert [(c.start, c.end) for c in placed] == [(1.5, 2.333), (3.0, 4.0)]


def test_cues_pushed_past_their_words_stay_on_screen() -> None:
    # The whole phrase was timed before what is written (3.0 s): each cue is still shown for
    # min_duration, one after the other, rather than squeezed to nothing.
    cues = [Cue(1.0, 1.4, ("Yes.",)), Cue(1.5, 2.0, ("And",)), Cue(2.1, 2.5, ("then.",))]
    placed = place_after(cues, floor=3.0, rules=DEFAULT_RULES)
    assert [(c.start, c.end) for c in placed] == [(3.0, 3.833), (3.833, 4.666), (4.666, 5.499)]
    assert check_cues(placed) == []


def test_the_writer_never_appends_a_cue_over_a_written_one() -> None:
    cues = [CueRecord(start=1.0, end=2.0, text="late"), CueRecord(start=1.5, end=3.0, text="b")]
    assert after_written(cues, 1.8) == [
        CueRecord(start=1.8, end=2.0, text="late"),
        CueRecord(start=2.0, end=3.0, text="b"),
    ]


def test_the_state_of_an_older_worker_is_read(tmp_path: Path) -> None:
    stored = LiveOrderState(stream_id="s").to_dict()
    del stored["cue_end"]
    assert LiveOrderState.from_dict(stored) == LiveOrderState(stream_id="s")
