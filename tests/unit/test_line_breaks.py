"""Line breaks where a reader expects them (issue 20): agents/cues/layout.py's break chooser and
the cue ends build.py picks with it."""

from __future__ import annotations

import random

import pytest

from agents.cues.build import build_cues
from agents.cues.check import check_cues
from agents.cues.layout import binds_forward, layout, wrap
from agents.cues.model import DEFAULT_RULES, CueRules, Word

R = DEFAULT_RULES


def words_from(text: str, start: float = 0.0, step: float = 0.3) -> list[Word]:
    return [
        Word(f" {t}", start + i * step, start + i * step + 0.25) for i, t in enumerate(text.split())
    ]


def tokens(text: str) -> list[str]:
    return text.split()


def breaks_well(lines: tuple[str, ...]) -> bool:
    return not any(binds_forward(line.split()[-1]) for line in lines[:-1])


def good_two_line_split_exists(texts: list[str], width: int) -> bool:
    return any(
        len(" ".join(texts[:k])) <= width
        and len(" ".join(texts[k:])) <= width
        and not binds_forward(texts[k - 1])
        for k in range(1, len(texts))
    )


@pytest.mark.parametrize(
    "text",
    [
        # A balanced cut falls right after the article, pronoun/auxiliary or name.
        "We walked for hours through a deep and silent forest at night",
        "I always knew that you would eventually agree with me on this one",
        "The meeting with John Smith has been moved to 10 percent of the time",
        "She told the players that they had done most things right in the game",
    ],
)
def test_no_break_after_a_function_word_when_another_fits(text: str) -> None:
    lines = layout(text.split(), R)
    assert lines is not None and len(lines) == 2
    assert " ".join(lines) == text
    assert all(len(line) <= R.max_line_chars for line in lines)
    assert breaks_well(lines), lines


def test_a_deep_is_never_chosen() -> None:
    # Narrowest balanced wrap gives "...through a / deep and silent..."; the chooser must not.
    lines = layout(tokens("We walked for hours through a deep and silent forest at night"), R)
    assert lines is not None
    assert not lines[0].endswith(" a")


def test_punctuation_is_the_preferred_break() -> None:
    lines = layout(tokens("When the sun went down, everybody walked back to the village"), R)
    assert lines == ("When the sun went down,", "everybody walked back to the village")


def test_names_and_numbers_stay_together() -> None:
    rules = CueRules(max_line_chars=30)
    for text in (
        "They met Maria Lopez in the old town hall",
        "Prices rose by 12 percent in one year",
    ):
        lines = layout(text.split(), rules)
        assert lines is not None
        assert lines[0].split()[-1] not in {"Maria", "12"}, lines


def test_no_single_word_line_when_a_balance_fits() -> None:
    # "Well," alone is a valid punctuation break, but leaves one word on a line.
    rules = CueRules(max_line_chars=24)
    lines = layout(tokens("Well, nobody came to the party"), rules)
    assert lines is not None and len(lines) == 2
    assert all(len(line.split()) > 1 for line in lines), lines


def test_a_line_that_cannot_avoid_it_still_breaks() -> None:
    # At 24 characters the only split that fits ends the top line on "we".
    rules = CueRules(max_line_chars=24)
    texts = tokens("Yes. I think that we should all go home now")
    lines = layout(texts, rules)
    assert lines is not None and len(lines) == 2
    assert all(len(line) <= 24 for line in lines)
    assert " ".join(lines) == " ".join(texts)


def test_hard_limits_come_first() -> None:
    # Only function words: every break is bad, the words still fit the lines that fit them.
    texts = tokens("and the of a in to for the and of with by at the from")
    for width in (10, 16, 30):
        rules = CueRules(max_line_chars=width, max_lines=3)
        greedy = wrap(texts, width)
        assert greedy is not None
        lines = layout(texts, rules)
        if len(greedy) > 3:
            assert lines is None
            continue
        assert lines is not None and len(lines) == len(greedy)
        assert all(len(line) <= width for line in lines)
        assert " ".join(lines) == " ".join(texts)


def test_a_packed_cue_is_split_rather_than_broken_after_the() -> None:
    # 79 characters: the only two-line split of this one cue is after "the".
    text = "but a group of volunteers has spent the last 20 years bringing it back to life."
    assert wrap(text.split(), 42) == [
        "but a group of volunteers has spent the",
        "last 20 years bringing it back to life.",
    ]
    cues = build_cues(words_from(text, step=0.25))
    assert check_cues(cues) == []
    assert all(breaks_well(c.lines) for c in cues), [c.lines for c in cues]
    assert " ".join(" ".join(c.lines) for c in cues) == text


def test_cues_do_not_end_on_a_function_word_when_they_need_not() -> None:
    text = (
        "we walked along the river and into the old town where the market was full of people"
        " selling fruit and bread and fish from the boats that had come in to the harbour at"
        " dawn and the smell of the sea was everywhere around us"
    )
    cues = build_cues(words_from(text, step=0.2))
    assert len(cues) > 2
    assert check_cues(cues) == []
    assert not any(binds_forward(c.lines[-1].split()[-1]) for c in cues[:-1])
    assert all(breaks_well(c.lines) for c in cues), [c.lines for c in cues]


VOCABULARY = tokens(
    "the a an of to in and but we they it is was have will "
    "river house garden children market morning Maria London 10 1965 "
    "walked quickly tonight, home. really? yes, old "
)


def random_sentence_words(rng: random.Random) -> list[Word]:
    t = 0.0
    words = []
    for _ in range(rng.randint(1, 80)):
        t += rng.uniform(0.05, 0.6) if rng.random() > 0.03 else rng.uniform(1.0, 3.0)
        words.append(Word(f" {rng.choice(VOCABULARY)}", t, t + rng.uniform(0.05, 0.4)))
    return words


@pytest.mark.parametrize("seed", range(20))
def test_random_sentences_keep_the_cue_rules_and_break_well(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(20):
        rules = CueRules(
            max_line_chars=rng.randint(16, 50),
            max_lines=rng.randint(1, 3),
            max_chars_per_second=rng.uniform(12.0, 25.0),
            max_duration=rng.uniform(3.0, 8.0),
        )
        words = random_sentence_words(rng)
        cues = build_cues(words, rules)
        assert check_cues(cues, rules) == []
        shown = " ".join(" ".join(c.lines) for c in cues)
        assert shown.split() == [w.text.strip() for w in words]
        # A two-line cue breaks after a function word only where no other split fits.
        for cue in cues:
            if len(cue.lines) == 2 and not breaks_well(cue.lines):
                texts = " ".join(cue.lines).split()
                assert not good_two_line_split_exists(texts, rules.max_line_chars), cue.lines
