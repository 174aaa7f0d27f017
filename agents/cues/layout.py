"""Line layout for subtitle cues: wrapping word texts into lines, and measuring them.

Wraps a cue's words on word boundaries into the fewest lines (at most `max_lines`, each at most
`max_line_chars` characters), choosing where to break as the Netflix Timed Text Style Guide
(line treatment) asks: after punctuation, before conjunctions and prepositions, not right after
an article, preposition, conjunction, pronoun, auxiliary or possessive ("a / deep"), not inside
a name or a number and its unit, no short word alone on a line when a better balance fits, and
a bottom-heavy shape. Line length is a hard limit; the rest are penalties, so a cue that cannot
avoid a bad break still gets one. Works on plain strings; timing is the business of
`agents.cues.build`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from agents.cues.model import CueRules

# Words a line should not end with because they bind to what follows, by language (extend per
# language; an unknown language keeps only the punctuation, orphan and balance rules).
_EN_FUNCTION_WORDS_TEXT = (
    # articles and determiners
    "a an the this that these those some any no every each either neither another such"
    # prepositions
    " about above across after against along among around as at before behind below beneath"
    " beside between beyond by despite down during except for from in inside into like near of"
    " off on onto out outside over past per since through throughout till to toward towards"
    " under until unto up upon via with within without"
    # conjunctions and relative words
    " and but or nor so yet if because although though unless whereas while whether than"
    " when where which who whom whose what how why"
    # subject pronouns and possessive determiners
    " i you he she it we they my your his her its our their"
    # auxiliaries, modals, negation and contracted forms
    " am is are was were be been being have has had do does did will would shall should can"
    " could may might must not don't doesn't didn't won't wouldn't can't couldn't shouldn't"
    " isn't aren't wasn't weren't haven't hasn't hadn't i'm i've i'll i'd you're you've you'll"
    " you'd he's he'll he'd she's she'll she'd it's it'll we're we've we'll we'd they're"
    " they've they'll they'd there's that's what's let's"
    # titles, whose full stop is not a sentence end ("Dr. / Smith")
    " mr mrs ms dr prof st mr. mrs. ms. dr. prof. st."
)
FUNCTION_WORDS: dict[str, frozenset[str]] = {"en": frozenset(_EN_FUNCTION_WORDS_TEXT.split())}

# Closing quotes and brackets that may follow punctuation ('He said "no."').
_TRAILING_QUOTES = "\"'\u201d\u2019»)]}"
_SENTENCE_END = (".", "!", "?", "…")
_CLAUSE_END = (",", ";", ":", "\u2014", "\u2013")

# Penalties, in the same units (chosen on bench/line_breaks.py's tuning set only). A break
# after punctuation is free, any other costs _PLAIN; a word binding forward costs far more than
# any imbalance, so balance decides only among equally good break points.
_CLAUSE = 0.5  # after a comma or dash: valid, but a sentence end reads better
_PLAIN = 2.0
_BEFORE_PHRASE = -1.0  # a function word opening the next line starts a phrase: a valid break
_FUNCTION = 10.0  # after a function word ("a / deep")
_BOUND_PAIR = 6.0  # inside "10 / percent" or "John / Smith"
_ORPHAN = 6.0  # a line holding a single short word while the cue has words to spare
_ORPHAN_SHARE = 0.25  # "short": under a quarter of a line ("Unfortunately," alone reads fine)
_IMBALANCE = 4.0  # per max_line_chars of difference from an even split
# Bottom-heavy rather than balanced: Netflix's guide prefers a bottom-heavy pyramid when two
# lines are needed, but not at the cost of the break rules; so a top line longer than its share
# costs extra, and always less than a bad break.
_TOP_HEAVY = 4.0


def wrap(texts: Sequence[str], width: int) -> list[str] | None:
    """Greedy wrap on word boundaries; None when a single word is wider than `width`."""
    lines: list[str] = []
    for text in texts:
        if len(text) > width:
            return None
        if lines and len(lines[-1]) + 1 + len(text) <= width:
            lines[-1] += " " + text
        else:
            lines.append(text)
    return lines


def fits(texts: Sequence[str], rules: CueRules) -> bool:
    """Whether the words fit the rules' lines (greedy wrap uses the fewest lines possible)."""
    lines = wrap(texts, rules.max_line_chars)
    return lines is not None and len(lines) <= rules.max_lines


def layout(texts: Sequence[str], rules: CueRules, language: str = "en") -> tuple[str, ...] | None:
    """Lines for a cue, or None if the words do not fit in max_lines lines.

    Uses as few lines as possible (style guides keep text on one line when it fits), then the
    break points with the lowest penalty (see the module docstring).
    """
    lines = wrap(texts, rules.max_line_chars)
    if lines is None or len(lines) > rules.max_lines:
        return None
    if len(lines) == 1:
        return tuple(lines)
    return _best_lines(texts, len(lines), rules.max_line_chars, language)


def chars(lines: Iterable[str]) -> int:
    """Reading-speed character count: every character, line breaks counted as one space."""
    return len(" ".join(lines))


def binds_forward(word: str, language: str = "en") -> bool:
    """Whether a line (or cue) should not end with `word`: a function word without punctuation."""
    bare = word.strip().lower()
    if bare.rstrip(_TRAILING_QUOTES).endswith(_SENTENCE_END + _CLAUSE_END):
        return bare in FUNCTION_WORDS.get(language, frozenset())  # only titles such as "Dr."
    return bare.strip("\"'\u201c\u2018([{") in FUNCTION_WORDS.get(language, frozenset())


def break_penalty(texts: Sequence[str], at: int, language: str = "en") -> float:
    """The cost of breaking between texts[at - 1] and texts[at] (0 < at < len(texts))."""
    left, right = texts[at - 1].strip(), texts[at].strip()
    end = left.rstrip(_TRAILING_QUOTES)
    if binds_forward(left, language):
        return _PLAIN + _FUNCTION
    if end.endswith(_SENTENCE_END):
        return 0.0
    if end.endswith(_CLAUSE_END):
        return _CLAUSE
    cost = _PLAIN
    if _bound_pair(texts, at):
        cost += _BOUND_PAIR
    elif right.lower() in FUNCTION_WORDS.get(language, frozenset()):
        cost += _BEFORE_PHRASE
    return cost


def _bound_pair(texts: Sequence[str], at: int) -> bool:
    """A number and what it counts ("10 / percent"), or a name ("John / Smith")."""
    left, right = texts[at - 1].strip(), texts[at].strip()
    if any(c.isdigit() for c in left) and right[:1].isalnum():
        return True
    # Two capitalised words, the first not merely opening a sentence: a name ("New / York").
    opens_sentence = at == 1 or texts[at - 2].rstrip(_TRAILING_QUOTES).endswith(_SENTENCE_END)
    return left[:1].isupper() and right[:1].isupper() and left != "I" and not opens_sentence


def _best_lines(texts: Sequence[str], n_lines: int, width: int, language: str) -> tuple[str, ...]:
    """The `n_lines` lines of at most `width` characters with the lowest total penalty.

    Dynamic programming over (words placed, lines used); each line's cost depends only on its
    own words and position, so the optimum is exact. The caller guarantees a solution exists.
    """
    n = len(texts)
    ends = [0]
    for text in texts:
        ends.append(ends[-1] + len(text))
    target = (ends[-1] + n - 1) / n_lines  # an even split, spaces included

    def line_cost(a: int, b: int, index: int) -> float | None:
        length = ends[b] - ends[a] + (b - a - 1)
        if length > width:
            return None
        cost = _IMBALANCE * abs(length - target) / width
        if index < n_lines - 1:
            cost += _TOP_HEAVY * max(0.0, length - target) / width
            cost += break_penalty(texts, b, language)
        if b - a == 1 and n > n_lines and length < width * _ORPHAN_SHARE:
            cost += _ORPHAN
        return cost

    # best[j][b]: (cost, start of the last line) for words[:b] on j + 1 lines.
    best: list[dict[int, tuple[float, int]]] = [{} for _ in range(n_lines)]
    for b in range(1, n - n_lines + 2):
        cost = line_cost(0, b, 0)
        if cost is not None:
            best[0][b] = (cost, 0)
    for j in range(1, n_lines):
        last = n if j == n_lines - 1 else n - (n_lines - 1 - j)
        for b in range(j + 1, last + 1):
            options = [
                (prev + cost, a)
                for a, (prev, _) in best[j - 1].items()
                if a < b and (cost := line_cost(a, b, j)) is not None
            ]
            if options:
                best[j][b] = min(options)
    lines: list[str] = []
    b = n
    for j in range(n_lines - 1, -1, -1):
        a = best[j][b][1]
        lines.append(" ".join(texts[a:b]))
        b = a
    return tuple(reversed(lines))
