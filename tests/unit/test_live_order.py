"""Live cue ordering, stabilising and latency (agents.cues.live_order): pure, no broker.

Every call goes through `Stream`, which stores the state as JSON between calls, as the agent's
table does, and checks that it round-trips unchanged.
"""

from __future__ import annotations

import itertools

import pytest

from agents.cues.check import check_cues
from agents.cues.live_agent import confident_commit
from agents.cues.live_order import (
    AGREEMENT,
    ConfidentCommit,
    LiveOrderState,
    PhraseLatency,
    Policy,
    normalise,
    receive,
    receive_step,
    tick,
    tick_step,
)
from agents.cues.model import Cue
from streams.events.model import LiveCue, LiveKind, LiveTranscript, TranscribedWord
from streams.settings import KaptionSettings

T0 = 1_790_000_000.0  # wall clock at media time 0
INTERIM, FINAL, SILENCE, GAP, END = (
    LiveKind.INTERIM,
    LiveKind.FINAL,
    LiveKind.SILENCE,
    LiveKind.GAP,
    LiveKind.END,
)


def words_at(spec: str, probabilities: tuple[float, ...] = ()) -> tuple[TranscribedWord, ...]:
    """'hello@0.1-0.5 world@0.6-1.0' -> words with faster-whisper's leading space (and the
    given word probabilities, else 0.9)."""
    out = []
    for i, token in enumerate(spec.split()):
        text, times = token.split("@")
        start, end = times.split("-")
        p = probabilities[i] if probabilities else 0.9
        out.append(
            TranscribedWord(word=f" {text}", start=float(start), end=float(end), probability=p)
        )
    return tuple(out)


def evenly(text: str, start: float, step: float = 0.3) -> tuple[TranscribedWord, ...]:
    return tuple(
        TranscribedWord(
            word=f" {w}", start=start + i * step, end=start + i * step + 0.25, probability=0.9
        )
        for i, w in enumerate(text.split())
    )


def item(
    seq: int,
    kind: LiveKind,
    start: float,
    end: float,
    words: tuple[TranscribedWord, ...] = (),
    *,
    revision: int = 0,
    capture_end: float | None = None,
    reason: str = "",
    stream_id: str = "s",
) -> LiveTranscript:
    return LiveTranscript(
        stream_id=stream_id,
        seq=seq,
        revision=revision,
        kind=kind,
        start=start,
        end=end,
        capture_end=T0 + end if capture_end is None else capture_end,
        source_offset=10.0,
        text=" ".join(w.word.strip() for w in words),
        words=words,
        model="tiny.en",
        model_version="test",
        processing_seconds=0.1,
        reason=reason,
    )


def final(
    seq: int, start: float, end: float, text: str = "", *, stream_id: str = "s"
) -> LiveTranscript:
    return item(seq, FINAL, start, end, evenly(text, start) if text else (), stream_id=stream_id)


def interim(seq: int, revision: int, start: float, end: float, text: str) -> LiveTranscript:
    return item(seq, INTERIM, start, end, evenly(text, start), revision=revision)


DEFAULT_POLICY = Policy()


class Stream:
    """Drives the functions like the agent: the state lives as JSON between calls."""

    def __init__(
        self,
        order_timeout_s: float = 10.0,
        max_held: int = 64,
        agreement: int = AGREEMENT,
        confident: ConfidentCommit | None = DEFAULT_POLICY.confident,
    ) -> None:
        self.stored = LiveOrderState().to_json()
        self.policy = Policy(
            order_timeout_s=order_timeout_s,
            max_held=max_held,
            agreement=agreement,
            confident=confident,
        )
        self.phrases: list[PhraseLatency] = []

    def _load(self) -> LiveOrderState:
        state = LiveOrderState.from_json(self.stored)
        assert state.to_json() == self.stored  # round-trips exactly
        return state

    def _store(self, state: LiveOrderState) -> None:
        self.stored = state.to_json()
        assert LiveOrderState.from_json(self.stored) == state

    def receive(self, t: LiveTranscript, now: float) -> list[LiveCue]:
        step = receive_step(self._load(), t, now, self.policy)
        self._store(step.state)
        self.phrases += step.phrases
        return step.cues

    def tick(self, now: float) -> list[LiveCue]:
        step = tick_step(self._load(), now, self.policy)
        self._store(step.state)
        self.phrases += step.phrases
        return step.cues

    @property
    def state(self) -> LiveOrderState:
        return self._load()


def order(cues: list[LiveCue]) -> list[tuple[int, LiveKind]]:
    return [(c.seq, c.kind) for c in cues]


# --- ordering --------------------------------------------------------------------------------


def test_an_in_order_stream_is_released_as_it_comes() -> None:
    s = Stream()
    out = s.receive(final(0, 0.0, 1.0, "hello there"), T0 + 1.5)
    out += s.receive(item(1, SILENCE, 1.0, 3.0), T0 + 3.1)
    out += s.receive(final(2, 3.0, 4.0, "good morning"), T0 + 4.6)
    out += s.receive(item(3, END, 4.0, 4.2, reason="source ended"), T0 + 4.7)
    assert order(out) == [(0, FINAL), (1, SILENCE), (2, FINAL), (3, END)]
    assert [c.watermark for c in out] == [1.0, 3.0, 4.0, 4.2]
    assert [c.published_at for c in out] == [T0 + 1.5, T0 + 3.1, T0 + 4.6, T0 + 4.7]
    assert [w.word for w in out[0].words] == ["hello", "there"]
    assert [c.text for c in out[2].cues] == ["good morning"]
    assert out[3].reason == "source ended"
    assert all(c.source_offset == 10.0 and c.stream_id == "s" for c in out)


def test_out_of_order_finals_are_released_in_seq_order() -> None:
    s = Stream()
    assert s.receive(final(2, 3.0, 4.0, "third"), T0 + 5.0) == []
    assert s.receive(item(1, SILENCE, 1.0, 3.0), T0 + 5.1) == []
    assert s.state.next_seq == 0 and sorted(s.state.held) == [1, 2]
    out = s.receive(final(0, 0.0, 1.0, "first"), T0 + 5.2)
    assert order(out) == [(0, FINAL), (1, SILENCE), (2, FINAL)]
    assert [c.watermark for c in out] == [1.0, 3.0, 4.0]
    assert s.state.held == {} and s.state.waiting_since is None


def test_duplicates_after_a_restart_are_dropped() -> None:
    s = Stream()
    records = [
        interim(0, 0, 0.0, 0.5, "hello"),
        final(0, 0.0, 1.0, "hello"),
        item(1, SILENCE, 1.0, 2.0),
        final(3, 2.5, 3.0, "later"),
    ]
    first = [c for i, r in enumerate(records) for c in s.receive(r, T0 + 3 + i)]
    assert order(first) == [(0, INTERIM), (0, FINAL), (1, SILENCE)]
    # A restarted worker publishes everything again: nothing new comes out.
    assert [c for r in records for c in s.receive(r, T0 + 10)] == []
    assert sorted(s.state.held) == [3]
    out = s.receive(item(2, GAP, 2.0, 2.5, reason="source dropped"), T0 + 11)
    assert order(out) == [(2, GAP), (3, FINAL)]
    assert out[0].gap_s == pytest.approx(0.5) and out[0].reason == "source dropped"


def test_a_stream_id_mismatch_is_refused() -> None:
    state, _ = receive(LiveOrderState(), final(0, 0.0, 1.0, "a"), T0)
    with pytest.raises(ValueError, match="stream 'other'"):
        receive(state, final(1, 1.0, 2.0, "b", stream_id="other"), T0)


def test_the_given_state_is_not_modified() -> None:
    state, _ = receive(LiveOrderState(), interim(0, 0, 0.0, 1.0, "one two"), T0 + 1)
    before = state.to_json()
    receive(state, interim(0, 1, 0.0, 1.5, "one two three"), T0 + 2)
    receive(state, final(1, 2.0, 3.0, "x"), T0 + 3)
    assert state.to_json() == before


# --- interims --------------------------------------------------------------------------------


HYPOTHESES = [
    "the cat",
    "the cat sad",
    "the cat sat on",
    "a cat sat on the mat",  # re-words the stable "the": stable must not change
    "the cat sat on the mat",
]


def interims_of(s: Stream, hypotheses: list[str]) -> list[LiveCue]:
    """Phrase 0's hypotheses as interims a second apart, each heard 0.3 s further."""
    return [
        c
        for rev, text in enumerate(hypotheses)
        for c in s.receive(interim(0, rev, 0.0, 0.5 + rev * 0.3, text), T0 + 1 + rev)
    ]


def test_stable_text_grows_by_local_agreement_and_never_changes() -> None:
    s = Stream(agreement=2)
    out = interims_of(s, HYPOTHESES)
    assert [(c.stable, c.unstable) for c in out] == [
        ("", "the cat"),
        ("the cat", "sad"),
        ("the cat", "sat on"),
        ("the cat sat on", "the mat"),
        ("the cat sat on the mat", ""),
    ]
    assert all(c.kind is INTERIM and c.seq == 0 for c in out)
    assert [c.revision for c in out] == [0, 1, 2, 3, 4]
    for before, after in itertools.pairwise(out):
        assert after.stable.startswith(before.stable)
    assert all(c.watermark == 0.0 for c in out)  # interims do not advance the watermark
    s.receive(final(0, 0.0, 2.0, "the cat sat on the mat."), T0 + 7)
    (phrase,) = s.phrases
    assert phrase.interims == 5
    assert phrase.flickered == 1  # "sad"
    assert phrase.committed == 6


def test_three_agreeing_hypotheses_make_a_word_stable_by_default() -> None:
    s = Stream()
    out = interims_of(s, HYPOTHESES)
    assert [(c.stable, c.unstable) for c in out] == [
        ("", "the cat"),
        ("", "the cat sad"),
        ("the cat", "sat on"),  # three hypotheses begin "the cat"
        ("the cat", "sat on the mat"),
        ("the cat sat on", "the mat"),
    ]
    with pytest.raises(ValueError, match="at least 2"):
        Policy(agreement=1)


def test_hypotheses_are_compared_without_case_and_punctuation() -> None:
    s = Stream(agreement=2)
    s.receive(interim(0, 0, 0.0, 1.0, "Hello world"), T0 + 1)
    (cue,) = s.receive(interim(0, 1, 0.0, 1.2, "hello, World! again"), T0 + 2)
    assert (cue.stable, cue.unstable) == ("hello, World!", "again")
    assert normalise(" Don't!") == "dont"


def test_an_identical_interim_is_not_repeated_and_stale_ones_are_dropped() -> None:
    s = Stream(agreement=2)
    assert len(s.receive(interim(0, 0, 0.0, 1.0, "one two"), T0 + 1)) == 1
    assert len(s.receive(interim(0, 1, 0.0, 1.0, "one two"), T0 + 2)) == 1  # all stable now
    assert s.receive(interim(0, 2, 0.0, 1.1, "one two"), T0 + 3) == []  # nothing new
    assert s.receive(interim(0, 1, 0.0, 1.0, "one two three"), T0 + 4) == []  # stale revision
    assert s.receive(interim(0, 2, 0.0, 1.0, "one two three"), T0 + 4) == []  # seen revision
    assert s.receive(interim(0, 0, 0.0, 0.5, "none"), T0 + 4) == []
    assert s.receive(item(0, INTERIM, 0.0, 0.3), T0 + 4.5) == []  # an empty first hypothesis
    (cue,) = s.receive(interim(0, 3, 0.0, 1.2, "one two three"), T0 + 5)
    assert (cue.stable, cue.unstable) == ("one two", "three")


def test_an_empty_first_hypothesis_is_not_published() -> None:
    s = Stream()
    assert s.receive(item(0, INTERIM, 0.0, 0.3), T0 + 1) == []
    assert s.state.head is not None and s.state.head.revision == 0


def test_an_interim_after_its_final_is_dropped() -> None:
    s = Stream()
    s.receive(final(0, 0.0, 1.0, "done"), T0 + 2)
    assert s.receive(interim(0, 3, 0.0, 0.8, "don"), T0 + 3) == []
    # ... also when the final is still waiting for an earlier item.
    s.receive(final(2, 2.0, 3.0, "later"), T0 + 4)
    assert s.receive(interim(2, 1, 2.0, 2.5, "lay"), T0 + 4.1) == []
    assert s.state.held_interims == {}


def test_interims_of_a_future_phrase_are_held_latest_only_until_it_is_the_head() -> None:
    s = Stream(agreement=2)
    s.receive(interim(0, 0, 0.0, 1.0, "first phrase"), T0 + 1)
    assert s.receive(interim(1, 1, 2.0, 2.6, "second one"), T0 + 2.7) == []
    assert s.receive(interim(1, 0, 2.0, 2.3, "sec"), T0 + 2.8) == []  # older: not kept
    assert s.receive(interim(1, 2, 2.0, 2.9, "second one is"), T0 + 3.0) == []
    assert list(s.state.held_interims) == [1]
    assert s.state.held_interims[1].revision == 2
    out = s.receive(final(0, 0.0, 1.5, "first phrase"), T0 + 3.2)
    assert order(out) == [(0, FINAL), (1, INTERIM)]
    assert (out[1].revision, out[1].stable, out[1].unstable) == (2, "", "second one is")
    assert out[1].watermark == 1.5 and out[1].published_at == T0 + 3.2
    assert s.state.held_interims == {} and s.state.head is not None and s.state.head.seq == 1
    (cue,) = s.receive(interim(1, 3, 2.0, 3.2, "second one is here"), T0 + 3.6)
    assert (cue.stable, cue.unstable) == ("second one is", "here")


# Heard 0-3.0 s: "far" ends 2.4 s (0.6 s before the end), "near" 2.9 s.
SPOKEN = "one@0.1-0.4 two@0.5-0.9 three@1.0-1.4 four@1.5-1.9 far@2.0-2.4 near@2.6-2.9"


@pytest.mark.parametrize(
    ("heard", "probabilities", "stable"),
    [
        (3.0, (0.9, 0.8, 0.9, 0.9, 0.9, 0.9), "one two three four far"),  # "near": < 0.5 s left
        (3.0, (0.9, 0.8, 0.9, 0.2, 0.9, 0.9), "one two three"),  # unsure of "four": it waits
        (3.0, (0.1, 0.9, 0.9, 0.9, 0.9, 0.9), ""),  # ... and so does everything after it
    ],
)
def test_confident_words_well_inside_the_audio_are_final_on_one_hypothesis(
    heard: float, probabilities: tuple[float, ...], stable: str
) -> None:
    s = Stream()
    words = words_at(SPOKEN, probabilities)
    (cue,) = s.receive(item(0, INTERIM, 0.0, heard, words, revision=0), T0 + heard + 0.5)
    assert cue.stable == stable
    assert f"{cue.stable} {cue.unstable}".split() == [w.word.strip() for w in words]
    (fin,) = s.receive(item(0, FINAL, 0.0, 3.2, words, revision=1), T0 + 4.0)
    committed = len(stable.split())
    assert s.phrases[0].committed == committed
    # A committed word is final when its interim was published: 0.5 s after the audio's end.
    latencies = [w.final_latency_s for w in fin.words[:committed]]
    assert latencies == pytest.approx([heard + 0.5 - w.end for w in words[:committed]])


def test_a_short_hypothesis_or_a_policy_without_the_rule_commits_nothing_alone() -> None:
    confident = words_at(SPOKEN)
    short = Stream()
    (cue,) = short.receive(item(0, INTERIM, 0.0, 1.9, confident[:4], revision=0), T0 + 2.4)
    assert (cue.stable, cue.unstable) == ("", "one two three four")  # heard < 2 s
    agreement_only = Stream(confident=None)
    (cue,) = agreement_only.receive(item(0, INTERIM, 0.0, 3.0, confident, revision=0), T0 + 3.5)
    assert cue.stable == ""


def test_after_a_confident_commit_the_rest_must_agree_afresh() -> None:
    s = Stream()
    first = words_at(SPOKEN, (0.9, 0.9, 0.2, 0.9, 0.9, 0.9))
    (a,) = s.receive(item(0, INTERIM, 0.0, 3.0, first, revision=0), T0 + 3.5)
    assert (a.stable, a.unstable) == ("one two", "three four far near")
    # The next two hypotheses are unsure of "three" too; with the first, three agree on it.
    again = words_at(SPOKEN + " more@3.1-3.2", (0.9, 0.9, 0.2, 0.9, 0.9, 0.9, 0.9))
    (b,) = s.receive(item(0, INTERIM, 0.0, 3.3, again, revision=1), T0 + 3.8)
    assert b.stable == "one two"
    (c,) = s.receive(item(0, INTERIM, 0.0, 3.3, again, revision=2), T0 + 4.1)
    assert c.stable == "one two three four far near"


# --- latency ---------------------------------------------------------------------------------


def test_latencies_are_measured_from_the_capture_of_each_word_end() -> None:
    s = Stream(agreement=2)
    # rev 0 at +1.2 s: audio 0-1.0 captured by T0+1.0.
    (a,) = s.receive(
        item(0, INTERIM, 0.0, 1.0, words_at("hello@0.1-0.5 word@0.6-0.9"), revision=0), T0 + 1.2
    )
    # rev 1 at +2.0 s: "hello" agreed -> stable (final) now; "word" became "world" (a flicker).
    (b,) = s.receive(
        item(
            0, INTERIM, 0.0, 1.8, words_at("hello@0.1-0.5 world@0.6-1.0 again@1.2-1.6"), revision=1
        ),
        T0 + 2.0,
    )
    assert (a.stable, a.unstable, b.stable, b.unstable) == (
        "",
        "hello word",
        "hello",
        "world again",
    )
    # The final was captured 0.1 s later than the interims' clock (its own capture_end counts).
    fin = item(
        0,
        FINAL,
        0.0,
        2.0,
        words_at("Hello,@0.1-0.5 world@0.6-1.0 again.@1.2-1.7"),
        revision=2,
        capture_end=T0 + 2.1,
    )
    (cue,) = s.receive(fin, T0 + 2.6)
    # The stable word takes the final's casing and punctuation.
    assert [w.word for w in cue.words] == ["Hello,", "world", "again."]
    # "hello" was final when it became stable, at +2.0 s, captured at T0+0.5 per rev 1 -> 1.5 s;
    # the others count from the final: captured(end) = capture_end - (2.0 - end) = T0+0.1+end.
    assert [w.final_latency_s for w in cue.words] == pytest.approx([1.5, 1.5, 0.8])
    # First publication, stable or not: hello shown at +1.2 (captured T0+0.5 per rev 0) -> 0.7;
    # world shown at +2.0, captured T0+1.0 -> 1.0; again shown at +2.0, captured T0+1.6 -> 0.4.
    assert [w.first_latency_s for w in cue.words] == pytest.approx([0.7, 1.0, 0.4])
    (phrase,) = s.phrases
    assert [w.first_latency_s for w in phrase.words] == pytest.approx([0.7, 1.0, 0.4])
    assert [w.final_latency_s for w in phrase.words] == pytest.approx([1.5, 1.5, 0.8])
    assert (phrase.interims, phrase.flickered, phrase.committed) == (2, 1, 1)


def test_the_final_keeps_the_stable_words_even_where_it_heard_them_differently() -> None:
    s = Stream(agreement=2)
    s.receive(
        item(0, INTERIM, 0.0, 1.0, words_at("grate@0.1-0.4 day@0.5-0.8"), revision=0), T0 + 1.1
    )
    (cue,) = s.receive(
        item(0, INTERIM, 0.0, 1.2, words_at("grate@0.1-0.4 day@0.5-0.8"), revision=1), T0 + 1.4
    )
    assert (cue.stable, cue.unstable) == ("grate day", "")
    (cue,) = s.receive(
        item(
            0,
            FINAL,
            0.0,
            1.3,
            words_at("great@0.1-0.4 day.@0.5-0.8 today@0.9-1.2"),
            revision=2,
        ),
        T0 + 1.9,
    )
    # Published stable text never changes: "grate" stays, "day" takes the final's full stop,
    # and only "today" comes from the final.
    assert [w.word for w in cue.words] == ["grate", "day.", "today"]
    assert [c.text for c in cue.cues] == ["grate day. today"]
    # Stable at +1.4 s: grate captured at T0+0.4 -> 1.0, day at T0+0.8 -> 0.6; today: +1.9 s
    # against its capture at T0+1.2 -> 0.7. First shown at +1.1 s (captured per rev 0).
    assert [w.final_latency_s for w in cue.words] == pytest.approx([1.0, 0.6, 0.7])
    assert [w.first_latency_s for w in cue.words] == pytest.approx([0.7, 0.3, 0.7])
    assert s.phrases[0].committed == 2


def test_a_word_placed_past_the_audio_heard_counts_from_the_audios_end() -> None:
    s = Stream()
    # The interim heard 0-1.0 s (captured by T0+1.0) but placed "there" at 0.9-1.4.
    s.receive(
        item(0, INTERIM, 0.0, 1.0, words_at("hi@0.1-0.5 there@0.9-1.4"), revision=0), T0 + 1.2
    )
    (cue,) = s.receive(
        item(0, FINAL, 0.0, 1.5, words_at("hi@0.1-0.5 there@0.9-1.3"), revision=1), T0 + 2.0
    )
    # Shown at +1.2 s, its audio heard by T0+1.0 -> 0.2 s, not 1.2 - 1.4 = -0.2.
    assert [w.first_latency_s for w in cue.words] == pytest.approx([0.7, 0.2])
    assert [w.final_latency_s for w in cue.words] == pytest.approx([1.5, 0.7])


def test_a_held_final_counts_its_wait_in_its_latency() -> None:
    s = Stream()
    s.receive(final(1, 1.0, 2.0, "b"), T0 + 2.5)
    (_, cue) = s.receive(final(0, 0.0, 1.0, "a"), T0 + 3.0)
    assert (cue.seq, cue.published_at) == (1, T0 + 3.0)
    # "b" ends at 1.25 s, captured at T0 + 1.25; it arrived at +2.5 but is published at +3.0.
    assert cue.words[0].final_latency_s == pytest.approx(1.75)


def test_a_missing_head_is_skipped_with_a_gap_after_the_order_timeout() -> None:
    s = Stream(order_timeout_s=10.0)
    s.receive(final(0, 0.0, 1.0, "zero"), T0 + 1)
    assert s.receive(final(2, 3.0, 4.0, "two"), T0 + 100) == []
    assert s.tick(T0 + 105) == []
    assert s.receive(item(3, SILENCE, 4.0, 5.0), T0 + 106) == []  # the clock does not restart
    assert s.tick(T0 + 110) == []  # exactly the timeout: still waiting
    out = s.tick(T0 + 110.5)
    assert order(out) == [(1, GAP), (2, FINAL), (3, SILENCE)]
    gap = out[0]
    # Nothing of phrase 1 was seen: from the watermark to the next item's start.
    assert (gap.start, gap.end, gap.gap_s) == (1.0, 3.0, 2.0)
    assert gap.reason == "phrase 1 lost" and gap.watermark == 3.0
    assert s.state.waiting_since is None and s.state.next_seq == 4
    assert s.receive(final(1, 1.0, 3.0, "late"), T0 + 111) == []  # too late now


def test_a_lost_head_with_interims_gets_their_span() -> None:
    s = Stream(order_timeout_s=5.0)
    s.receive(interim(0, 0, 0.5, 1.5, "almost"), T0 + 2)
    s.receive(interim(1, 0, 3.0, 3.5, "next"), T0 + 4)
    assert s.tick(T0 + 8.9) == []
    out = tick(s.state, T0 + 9.1, Policy(order_timeout_s=5.0))[1]
    assert order(out) == [(0, GAP), (1, INTERIM)]
    assert (out[0].start, out[0].end, out[0].reason) == (0.5, 3.0, "phrase 0 lost")
    assert out[1].unstable == "next"


def test_too_many_waiting_items_give_up_the_head_at_once() -> None:
    s = Stream(max_held=3)
    for seq in range(1, 4):
        assert s.receive(item(seq, SILENCE, seq, seq + 1.0), T0 + seq) == []
    out = s.receive(item(4, SILENCE, 4.0, 5.0), T0 + 4.5)
    assert order(out) == [(0, GAP), (1, SILENCE), (2, SILENCE), (3, SILENCE), (4, SILENCE)]


# --- end of stream ---------------------------------------------------------------------------


def test_end_releases_then_resets_the_stream() -> None:
    s = Stream()
    s.receive(final(0, 0.0, 1.0, "bye"), T0 + 1)
    s.receive(interim(2, 0, 2.0, 2.5, "ghost"), T0 + 2)
    out = s.receive(item(1, END, 1.0, 1.5, reason="stopped"), T0 + 2)
    assert order(out) == [(1, END)]
    assert (out[0].reason, out[0].watermark, out[0].gap_s) == ("stopped", 1.5, 0.0)
    assert s.state == LiveOrderState(stream_id="s")
    # A new stream with the same id starts at seq 0.
    (cue,) = s.receive(final(0, 0.0, 1.0, "again"), T0 + 50)
    assert (cue.seq, cue.watermark) == (0, 1.0)


# --- cues and state size ---------------------------------------------------------------------


def test_final_cues_follow_the_cue_rules() -> None:
    text = (
        "this is a rather long phrase spoken at a steady pace so that the cue rules have to split "
        "it over several cues of two lines each. and here is a second sentence to finish"
    )
    (cue,) = Stream().receive(final(0, 5.0, 20.0, text), T0 + 21)
    cues = [Cue.from_text(c.start, c.end, c.text) for c in cue.cues]
    assert len(cues) > 2
    assert check_cues(cues) == []
    assert " ".join(c.text.replace("\n", " ") for c in cue.cues) == text
    assert all(5.0 <= c.start < 20.0 for c in cue.cues)


def test_the_state_stays_bounded_over_a_long_stream() -> None:
    s = Stream()
    sizes = {}
    for n in range(1000):
        seq, start, now = 2 * n, 3.0 * n, T0 + 3.0 * n
        s.receive(interim(seq, 0, start, start + 1.0, "words of a phrase"), now + 1.2)
        s.receive(interim(seq + 1, 0, start + 2.0, start + 2.5, "next"), now + 2.6)  # held
        s.receive(interim(seq, 1, start, start + 1.5, "words of a phrase that"), now + 1.8)
        s.receive(item(seq + 1, SILENCE, start + 1.5, start + 2.0), now + 2.0)  # held
        if n + 1 in (10, 1000):
            sizes[n + 1] = len(s.stored)  # mid-phrase: a head with words, an item waiting
        s.receive(final(seq, start, start + 1.5, "words of a phrase that ends"), now + 2.9)
    assert s.state.next_seq == 2000
    assert s.state.held == {} and s.state.held_interims == {}
    assert sizes[1000] <= sizes[10] * 1.1  # only the numbers' digits grow


def test_a_stable_word_timed_after_the_finals_next_word_keeps_its_place() -> None:
    # "the market" is final on one confident hypothesis; the final hears "a marquee opens" and
    # times "opens" just before the stable "market" began. The words keep their spoken order
    # (file-lane cue building sorts words by start).
    s = Stream()
    s.receive(item(0, INTERIM, 0.0, 3.0, words_at("the@1.0-1.25 market@1.30-1.35")), T0 + 3.1)
    assert s.state.head is not None and [w.text for w in s.state.head.stable] == ["the", "market"]
    spoken = words_at("a@1.0-1.2 marquee@1.2-1.3 opens@1.26-1.5")
    (cue,) = s.receive(item(0, FINAL, 0.0, 3.5, spoken), T0 + 3.6)
    assert [c.text for c in cue.cues] == ["the market opens"]


def test_a_final_that_rewords_the_start_keeps_what_follows_the_last_stable_word() -> None:
    # Two interims agree on "crash involving three lorries." and time "lorries." over the
    # words they had not heard yet; the final begins "a crash ..." and goes on: everything
    # after "lorries" is kept, not only what starts after the interims' late end of it.
    s = Stream(agreement=2)
    heard = "crash@0.1-0.4 involving@0.5-0.9 three@1.0-1.2 lorries.@1.3-3.8"
    s.receive(item(0, INTERIM, 0.0, 3.0, words_at(heard), revision=0), T0 + 3.1)
    s.receive(item(0, INTERIM, 0.0, 4.0, words_at(heard), revision=1), T0 + 4.1)
    assert s.state.head is not None and len(s.state.head.stable) == 4
    spoken = words_at(
        "a@0.0-0.1 crash@0.1-0.4 involving@0.5-0.9 three@1.0-1.2 lorries,@1.3-1.7"
        " drivers@1.8-2.2 heading@2.3-2.7 south.@2.8-3.2 Expect@4.0-4.4"
    )
    (cue,) = s.receive(item(0, FINAL, 0.0, 4.5, spoken, revision=2), T0 + 4.6)
    assert " ".join(w.word for w in cue.words) == (
        "crash involving three lorries, drivers heading south. Expect"
    )


def test_the_settings_give_the_rule_for_words_final_on_one_interim() -> None:
    settings = KaptionSettings(
        live_confident_min_probability=0.4,
        live_confident_margin_s=0.7,
        live_confident_min_heard_s=1.5,
    )
    assert confident_commit(settings) == ConfidentCommit(0.4, 0.7, 1.5)
    assert confident_commit(settings.model_copy(update={"live_confident_commit": False})) is None
