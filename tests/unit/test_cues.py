from __future__ import annotations

import itertools
import random

import pytest

from agents.cues.build import build_cues
from agents.cues.check import check_cues
from agents.cues.cleanup import clean_text, clean_words
from agents.cues.model import DEFAULT_RULES, Cue, CueRules, Word

R = DEFAULT_RULES


def words_from(text: str, start: float = 0.0, step: float = 0.3, dur: float = 0.25) -> list[Word]:
    """Evenly spaced words with faster-whisper's leading space."""
    return [
        Word(f" {token}", start + i * step, start + i * step + dur)
        for i, token in enumerate(text.split())
    ]


def all_text(cues: list[Cue]) -> str:
    return " ".join(" ".join(cue.lines) for cue in cues)


# --- clean_text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Hello   world  ", "Hello world"),
        ("Hello , world ! Is it ? Yes ; no : maybe .", "Hello, world! Is it? Yes; no: maybe."),
        ("line\none\ttab", "line one tab"),
        ("[BLANK_AUDIO]", ""),
        (" (music)", ""),
        ("[Music]", ""),
        ("♪", ""),
        ("♪ ♫", ""),
        ("[Music][Applause]", ""),
        ("Hello [BLANK_AUDIO] world", "Hello world"),
        ("(upbeat music) Welcome back.", "Welcome back."),
        ("♪ la la ♪", "la la"),
        ("f(x) and a[1]", "f(x) and a[1]"),
        ("", ""),
        ("   ", ""),
        ("café naïve", "café naïve"),
    ],
)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


# --- clean_words ------------------------------------------------------------------------------


def test_clean_words_strips_sorts_and_drops_artifacts() -> None:
    raw = [
        Word(" world", 1.0, 1.4),
        Word(" Hello", 0.0, 0.5),
        Word(" [BLANK_AUDIO]", 0.5, 1.0),
        Word("   ", 0.6, 0.7),
        Word(" ♪", 1.5, 1.6),
    ]
    assert clean_words(raw) == [Word("Hello", 0.0, 0.5), Word("world", 1.0, 1.4)]


def test_clean_words_drops_annotation_split_over_words() -> None:
    raw = [Word(" (upbeat", 0.0, 0.5), Word(" music)", 0.5, 1.0), Word(" Hi", 1.2, 1.5)]
    assert clean_words(raw) == [Word("Hi", 1.2, 1.5)]


def test_clean_words_clamps_end_before_start() -> None:
    assert clean_words([Word(" odd", 2.0, 1.5)]) == [Word("odd", 2.0, 2.0)]


def test_clean_words_drops_exact_duplicates_only() -> None:
    raw = [Word(" so", 1.0, 1.2), Word(" so", 1.0, 1.3), Word(" so", 1.5, 1.7)]
    assert [(w.text, w.start) for w in clean_words(raw)] == [("so", 1.0), ("so", 1.5)]


def test_clean_words_attaches_punctuation_only_words() -> None:
    raw = [
        Word(" .", 0.0, 0.1),  # nothing before it: goes to the next word
        Word(" Hi", 0.1, 0.3, probability=0.9),
        Word(" ,", 0.3, 0.35, probability=0.5),
        Word(" \u201c", 0.4, 0.4),  # opening quote: goes to the next word
        Word(" yes", 0.4, 0.6),
        Word(" !", 0.6, 0.7),
    ]
    assert clean_words(raw) == [
        Word(".Hi,", 0.0, 0.35, probability=0.5),
        Word("\u201cyes!", 0.4, 0.7),
    ]


def test_clean_words_empty() -> None:
    assert clean_words([]) == []
    assert clean_words([Word(" [Music]", 0, 1)]) == []


# --- build_cues: basics -----------------------------------------------------------------------


def test_no_words_no_cues() -> None:
    assert build_cues([]) == []


def test_one_word_is_extended_to_min_duration() -> None:
    cues = build_cues([Word(" Hi.", 10.0, 10.2)])
    assert cues == [Cue(10.0, 10.0 + R.min_duration, ("Hi.",))]
    assert cues[0].text == "Hi."


def test_times_are_absolute_and_passed_through() -> None:
    words = words_from("good evening everyone", start=3600.0)
    (cue,) = build_cues(words)
    assert cue.start == 3600.0
    assert cue.end >= words[-1].end


def test_cue_text_joins_lines_with_newline() -> None:
    assert Cue(0, 1, ("a", "b")).text == "a\nb"


# --- build_cues: layout -----------------------------------------------------------------------


def test_lines_respect_max_chars_and_max_lines() -> None:
    text = " ".join(["subtitle"] * 60)
    cues = build_cues(words_from(text, step=0.2, dur=0.18))
    assert len(cues) > 1
    for cue in cues:
        assert 1 <= len(cue.lines) <= R.max_lines
        assert all(len(line) <= R.max_line_chars for line in cue.lines)
    assert all_text(cues) == text


def test_short_text_stays_on_one_line() -> None:
    (cue,) = build_cues(words_from("We need to talk."))
    assert cue.lines == ("We need to talk.",)


def test_two_lines_are_balanced() -> None:
    # 59 characters: a greedy wrap would give 41 + 17; balanced is 29 + 29.
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa mu"
    (cue,) = build_cues(words_from(text))
    assert len(cue.lines) == 2
    assert abs(len(cue.lines[0]) - len(cue.lines[1])) <= 6
    assert " ".join(cue.lines) == text


def test_single_line_rule() -> None:
    rules = CueRules(max_lines=1, max_line_chars=20)
    cues = build_cues(words_from("one two three four five six seven eight"), rules)
    assert [c.lines for c in cues] == [("one two three four",), ("five six seven eight",)]
    assert check_cues(cues, rules) == []


def test_word_longer_than_a_line_is_hard_cut() -> None:
    long_word = "x" * 100
    cues = build_cues([Word(f" {long_word}", 0.0, 3.0)])
    lines = [line for cue in cues for line in cue.lines]
    assert all(len(line) <= R.max_line_chars for line in lines)
    assert "".join(lines) == long_word
    assert cues[0].start == 0.0
    assert check_cues(cues) == []


def test_word_that_fits_a_line_goes_on_its_own_line_uncut() -> None:
    long_word = "y" * 40
    (cue,) = build_cues(words_from(f"short {long_word}"))
    assert cue.lines == ("short", long_word)


def test_punctuation_only_words_are_attached() -> None:
    words = [Word(" Hello", 0.0, 0.3), Word(",", 0.3, 0.3), Word(" world", 0.4, 0.7)]
    words += [Word(" .", 0.7, 0.75)]
    (cue,) = build_cues(words)
    assert cue.lines == ("Hello, world.",)


# --- build_cues: splitting --------------------------------------------------------------------


def test_long_pause_starts_a_new_cue() -> None:
    words = [Word(" before", 0.0, 0.5), Word(" after", 1.6, 2.0)]  # 1.1 s silence
    cues = build_cues(words)
    assert [c.lines for c in cues] == [("before",), ("after",)]
    assert cues[1].start == 1.6


def test_short_pause_keeps_one_cue() -> None:
    words = [Word(" before", 0.0, 0.5), Word(" after", 1.4, 2.0)]  # 0.9 s silence
    assert [c.lines for c in build_cues(words)] == [("before after",)]


def test_sentence_end_breaks_a_cue_with_enough_text() -> None:
    cues = build_cues(words_from("Hello there my friend, how are you today. I am fine thanks."))
    assert [c.text for c in cues] == [
        "Hello there my friend, how are you today.",
        "I am fine thanks.",
    ]


def test_short_sentence_does_not_force_a_break() -> None:
    assert [c.text for c in build_cues(words_from("Yes. I think so."))] == ["Yes. I think so."]


def test_forced_break_prefers_clause_punctuation() -> None:
    text = (
        "one two three four five six seven eight, nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen"
    )
    cues = build_cues(words_from(text))
    assert cues[0].text == "one two three four five six seven eight,"
    assert all_text(cues) == text


def test_max_duration_splits_slow_speech() -> None:
    # One word every 0.9 s: no pause is long enough to split, but 7 s is the cap.
    text = " ".join("abcdefghijklmnopqrst")
    cues = build_cues(words_from(text, step=0.9))
    assert len(cues) == 3
    assert all(c.end - c.start <= R.max_duration for c in cues)
    assert all_text(cues) == text
    assert check_cues(cues) == []


def test_single_word_longer_than_max_duration_is_capped() -> None:
    (cue,) = build_cues([Word(" hmmmm", 5.0, 20.0)])
    assert (cue.start, cue.end) == (5.0, 5.0 + R.max_duration)


# --- build_cues: timing -----------------------------------------------------------------------


def test_reading_speed_extends_into_silence() -> None:
    text = "We need to talk about the thing now."  # 36 chars in 1 s
    (cue,) = build_cues(words_from(text, step=1 / 8, dur=0.12))
    assert cue.end == pytest.approx(len(text) / R.max_chars_per_second)
    assert check_cues([cue]) == []


def test_reading_speed_extension_stops_before_next_cue() -> None:
    first = words_from("We need to talk about the thing now.", step=1 / 8, dur=0.12)
    second = [Word(" Okay.", 2.0, 2.3)]  # 1.12 s pause: separate cue
    cues = build_cues(first + second)
    assert len(cues) == 2
    assert cues[0].end == pytest.approx(2.0 - R.min_gap)
    assert check_cues(cues) == []  # still too fast, but it had no room left


def test_reading_speed_split_when_capped_by_max_duration() -> None:
    rules = CueRules(max_duration=3.0)
    part1 = "alpha beta gamma delta epsilon zeta eta"
    part2 = "theta iota kappa lambda mu nu xi omicron"
    first = words_from(part1, step=0.14, dur=0.126)
    second = words_from(part2, start=first[-1].end + 0.95, step=0.12, dur=0.108)
    # Together they fit two lines and 3 s, but 80 chars in at most 3 s is 27 chars/s.
    cues = build_cues(first + second, rules)
    assert [c.text for c in cues] == [part1, part2]
    assert cues[1].end - cues[1].start > 2.0  # the second part reads into the silence
    assert check_cues(cues, rules) == []


def test_min_duration_extension() -> None:
    (cue,) = build_cues([Word(" Hi", 0.0, 0.2)])
    assert cue.end == pytest.approx(R.min_duration)


def test_min_duration_extension_bounded_by_next_cue() -> None:
    rules = CueRules(max_pause=0.2)
    cues = build_cues([Word(" Hi", 0.0, 0.2), Word(" there", 0.5, 0.7)], rules)
    assert [c.text for c in cues] == ["Hi", "there"]
    assert cues[0].end == pytest.approx(0.5 - rules.min_gap)
    assert cues[1].end == pytest.approx(0.5 + rules.min_duration)
    assert check_cues(cues, rules) == []


def test_overlapping_word_times_give_no_overlapping_cues() -> None:
    words = words_from("one two three four five six seven eight nine ten", step=0.3, dur=0.9)
    words += [Word(" Later.", 2.0, 2.5)]
    rules = CueRules(max_line_chars=12, max_lines=1)
    cues = build_cues(words, rules)
    assert len(cues) > 3
    for a, b in itertools.pairwise(cues):
        assert a.start <= b.start
        assert a.end <= b.start
    assert check_cues(cues, rules) == []


def test_identical_timestamps() -> None:
    words = [Word(" a", 1.0, 1.0), Word(" b", 1.0, 1.0), Word(" c", 1.0, 1.0)]
    assert build_cues(words) == [Cue(1.0, 1.0 + R.min_duration, ("a b c",))]


def test_identical_starts_split_across_cues_keep_order_and_time() -> None:
    rules = CueRules(max_line_chars=10, max_lines=1)
    words = [Word(f" w{i}", 1.0, 4.0) for i in range(6)]
    cues = build_cues(words, rules)
    assert all_text(cues) == "w0 w1 w2 w3 w4 w5"
    assert all(c.end > c.start for c in cues)
    assert check_cues(cues, rules) == []


# --- build_cues: gaps -------------------------------------------------------------------------


def test_gap_becomes_marker_cue() -> None:
    words = words_from("one two three", step=0.2, dur=0.1)  # 0.0 - 0.5
    cues = build_cues(words, gaps=[(0.7, 3.0)])
    assert [c.text for c in cues] == ["one two three", R.gap_text]
    assert (cues[1].start, cues[1].end) == (0.7, 3.0)
    # The word cue's min-duration extension stops min_gap before the marker.
    assert cues[0].end == pytest.approx(0.7 - R.min_gap)
    assert check_cues(cues) == []


def test_long_gap_marker_is_capped_at_max_duration() -> None:
    (cue,) = build_cues([], gaps=[(30.0, 60.0)])
    assert (cue.start, cue.end, cue.lines) == (30.0, 30.0 + R.max_duration, (R.gap_text,))


def test_short_gap_marker_extends_to_min_duration_when_room() -> None:
    (cue,) = build_cues([], gaps=[(5.0, 5.3)])
    # "[no transcription]" needs 18 / 17 s of reading time, a little more than min_duration.
    assert cue.end == pytest.approx(5.0 + len(R.gap_text) / R.max_chars_per_second)
    (cue, _next) = build_cues([Word(" next", 5.5, 6.0)], gaps=[(5.0, 5.3)])
    assert cue.end == pytest.approx(5.5 - R.min_gap)


def test_gap_marker_does_not_move_word_cues() -> None:
    words = [Word(" before", 9.0, 10.2), Word(" after", 19.9, 20.5)]
    cues = build_cues(words, gaps=[(10.0, 20.0)])
    assert [c.text for c in cues] == ["before", R.gap_text, "after"]
    assert (cues[0].start, cues[0].end) == (9.0, 10.2)
    assert cues[1].start == 10.2  # trimmed around the word that ran into the gap
    assert cues[1].end <= 19.9
    assert cues[2].start == 19.9
    assert check_cues(cues) == []


def test_gap_fully_covered_by_words_has_no_marker() -> None:
    cues = build_cues(words_from("one two three"), gaps=[(0.1, 0.4)])
    assert [c.text for c in cues] == ["one two three"]


def test_overlapping_gaps_merge_and_empty_gaps_are_ignored() -> None:
    cues = build_cues([], gaps=[(0.0, 2.0), (1.0, 3.0), (5.0, 5.0), (8.0, 7.0)])
    assert [(c.start, c.end) for c in cues] == [(0.0, 3.0)]


# --- check_cues -------------------------------------------------------------------------------


def test_check_accepts_good_cues() -> None:
    cues = [Cue(0.0, 2.0, ("Hello there.",)), Cue(2.5, 4.0, ("Bye.",))]
    assert check_cues(cues) == []


@pytest.mark.parametrize(
    ("cues", "needle"),
    [
        ([Cue(0.0, 3.0, ("x" * 43,))], "line 1 is 43 chars"),
        ([Cue(0.0, 3.0, ("a", "b", "c"))], "3 lines"),
        ([Cue(0.0, 3.0, ("",))], "no text"),
        ([Cue(0.0, 8.0, ("long",))], "above max"),
        ([Cue(0.0, 0.5, ("short",)), Cue(5.0, 6.0, ("next",))], "below min"),
        ([Cue(0.0, 1.0, ("Hi",)), Cue(0.5, 1.5, ("overlap",))], "overlaps"),
        ([Cue(5.0, 6.0, ("b",)), Cue(1.0, 2.0, ("a",))], "not sorted"),
        ([Cue(0.0, 1.0, ("x" * 40,))], "reading speed"),
        ([Cue(2.0, 1.0, ("backwards",))], "ends before it starts"),
    ],
)
def test_check_detects_each_violation(cues: list[Cue], needle: str) -> None:
    problems = check_cues(cues)
    assert any(needle in p for p in problems), problems


def test_check_allows_short_or_fast_cues_without_room() -> None:
    # Each ends within min_gap of the next cue: extending was impossible.
    cues = [
        Cue(0.0, 0.3, ("short",)),
        Cue(0.35, 1.0, ("x" * 40,)),
        Cue(1.05, 1.9, ("end",)),
    ]
    assert check_cues(cues) == []


def test_check_respects_custom_rules() -> None:
    cue = Cue(0.0, 3.0, ("twelve chars",))
    assert check_cues([cue]) == []
    assert check_cues([cue], CueRules(max_line_chars=10)) != []


def test_rules_are_validated() -> None:
    with pytest.raises(ValueError):
        CueRules(max_lines=0)
    with pytest.raises(ValueError):
        CueRules(min_duration=8.0)
    with pytest.raises(ValueError):
        CueRules(gap_text=" ")


# --- property-style ---------------------------------------------------------------------------

_VOCAB_TEXT = (
    "the a of and to in is you that it he was for on are as with they I at be this have from "
    "or one had by word but not what all were we when your can said there use each which she "
    "do how their if will up other about out many then them these so some her would make"
)
VOCAB = _VOCAB_TEXT.split()


def random_words(rng: random.Random) -> list[Word]:
    words: list[Word] = []
    t = rng.uniform(0.0, 1000.0)
    for _ in range(rng.choice([1, 2, 5, 20, 60, 150])):
        roll = rng.random()
        if roll < 0.03:
            text = "z" * rng.randint(43, 130)
        elif roll < 0.08:
            text = rng.choice([",", ".", "?", "!", "(", "\u201c", "..."])
        else:
            text = rng.choice(VOCAB) + rng.choice(["", "", "", "", "", "", ",", ".", "?"])
        step = rng.random()
        if step < 0.05:
            t += rng.uniform(1.0, 4.0)  # a pause
        elif step < 0.1:
            t -= rng.uniform(0.0, 0.3)  # out of order
        elif step > 0.15:  # else: same start as the previous word
            t += rng.uniform(0.0, 0.5)
        duration = rng.choice([0.0, rng.uniform(0.0, 0.6), rng.uniform(0.0, 0.6), 12.0])
        words.append(Word(f" {text}", t, t + duration))
    return words


def random_rules(rng: random.Random) -> CueRules:
    if rng.random() < 0.5:
        return DEFAULT_RULES
    return CueRules(
        max_line_chars=rng.randint(20, 60),
        max_lines=rng.randint(1, 3),
        max_chars_per_second=rng.uniform(10.0, 25.0),
        max_duration=rng.uniform(2.0, 8.0),
        max_pause=rng.uniform(0.2, 2.0),
    )


def squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("seed", range(40))
def test_random_words_always_give_valid_cues(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(25):
        words = random_words(rng)
        rules = random_rules(rng)
        gaps = [(s, s + rng.uniform(0.0, 40.0)) for s in (rng.uniform(0, 1100) for _ in range(2))]
        cues = build_cues(words, rules, gaps if rng.random() < 0.3 else ())
        assert check_cues(cues, rules) == []
        # Every word's text appears, in order (hard cuts may split a word across lines).
        spoken = [c for c in cues if squash(c.text) != squash(rules.gap_text)]
        expected = "".join(w.text for w in clean_words(words))
        assert squash("".join(c.text for c in spoken)) == squash(expected)
