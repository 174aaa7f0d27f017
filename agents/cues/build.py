"""Cue building and timing: from cleaned word timestamps to a sorted list of subtitle cues.

`build_cues` repairs word timings (identical starts, overlaps, words wider than a line), groups
words greedily into cues by pause, sentence, line and duration rules, places a marker cue in
each untranscribed span, splits cues that would still read too fast, and finally extends cue
ends for reading time without crowding the next cue. Start times are never moved; only ends are
extended into silence or clamped so that cues never overlap.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from agents.cues.cleanup import clean_words
from agents.cues.layout import binds_forward, break_penalty, chars, fits, layout, wrap
from agents.cues.model import DEFAULT_RULES, Cue, CueRules, Word
from streams.cue_rules import DIALOGUE_DASH, extended_end

# A reading-speed split must make the fastest part at least this much slower: dropping the
# space between two parts alone would otherwise justify a pointless split.
_SPEED_SPLIT_GAIN = 0.9

# How many words a full cue may give to the next one so that its own lines break well: more
# would make cues visibly shorter than the lines allow.
_LOOK_BACK = 4

# Closing quotes and brackets that may follow a sentence or clause end ('He said "no."').
_TRAILING_QUOTES = "\"'\u201d\u2019»)]}"


def build_cues(
    words: Sequence[Word],
    rules: CueRules = DEFAULT_RULES,
    gaps: Sequence[tuple[float, float]] = (),
) -> list[Cue]:
    """Group words into cues that satisfy `rules`, plus a `gap_text` cue for each gap.

    Steps: clean and repair the words, group them greedily (pause, sentence, line and duration
    rules), place gap markers in the untranscribed time, split cues that would still read too
    fast, then extend ends for reading time without crowding the next cue.
    """
    tokens = _tokens(words, rules)
    groups = _group_words(tokens, rules)
    gap_cues = _gap_cues(gaps, [(g[0].start, _base_end(g, rules)) for g in groups], rules)
    gap_starts = [cue.start for cue in gap_cues]

    word_cues: list[Cue] = []
    for i, group in enumerate(groups):
        next_start = groups[i + 1][0].start if i + 1 < len(groups) else math.inf
        at = bisect_left(gap_starts, group[0].start)
        if at < len(gap_starts):
            next_start = min(next_start, gap_starts[at])
        pieces = _split_for_breaks(group, rules)
        for j, piece in enumerate(pieces):
            piece_next = pieces[j + 1][0].start if j + 1 < len(pieces) else next_start
            for part in _split_for_speed(piece, piece_next, rules):
                speakers = (part[0].speaker,) if part[0].speaker else ()
                end, lines = _base_end(part, rules), _lines(part, rules)
                word_cues.append(Cue(part[0].start, end, lines, speakers, _language(part)))

    # Stable sort: a word cue wins a tie with a gap marker that starts where it ends.
    cues = sorted(word_cues + gap_cues, key=lambda c: c.start)
    return _extend_ends(_dialogues(cues, rules), rules)


def _language(words: Sequence[Word]) -> str:
    """The language of most of the words (the first to reach that count on a tie): words only
    carry their segment's language, and a cue rarely straddles a change of language."""
    counts = Counter(w.language for w in words)
    return max(counts, key=lambda language: counts[language])


# --- two speakers in one cue ------------------------------------------------------------------


def _dialogue(first: Cue, second: Cue, rules: CueRules) -> Cue | None:
    """Two short turns of different speakers as one two-line cue, a dash leading each line
    (broadcast style), when each is one line, the dashes fit, and together they stay within
    the pause and duration rules; None otherwise."""
    lines = (first.lines, second.lines)
    if (
        rules.max_lines < 2
        or len(first.speakers) != 1
        or len(second.speakers) != 1
        or first.speakers == second.speakers
        or any(len(cue_lines) != 1 for cue_lines in lines)
        or any(len(DIALOGUE_DASH + cue_lines[0]) > rules.max_line_chars for cue_lines in lines)
        or second.start - first.end > rules.max_pause
        or second.end - first.start > rules.max_duration
    ):
        return None
    dashed = (DIALOGUE_DASH + first.lines[0], DIALOGUE_DASH + second.lines[0])
    language = first.language if len(first.text) >= len(second.text) else second.language
    speakers = (*first.speakers, *second.speakers)
    return Cue(first.start, second.end, dashed, speakers, language)


def _dialogues(cues: Sequence[Cue], rules: CueRules) -> list[Cue]:
    """Pairs of short exchanges joined into dialogue cues, left to right; a cue never holds
    more than two speakers, and one speaker's cue never takes another's words."""
    out: list[Cue] = []
    i = 0
    while i < len(cues):
        joined = _dialogue(cues[i], cues[i + 1], rules) if i + 1 < len(cues) else None
        out.append(joined or cues[i])
        i += 2 if joined else 1
    return out


# --- word repair ------------------------------------------------------------------------------


def _tokens(words: Sequence[Word], rules: CueRules) -> list[Word]:
    repaired = _clamp_overlaps(_spread_identical_starts(clean_words(words)))
    return [piece for word in repaired for piece in _hard_cut(word, rules.max_line_chars)]


def _spread_identical_starts(words: list[Word]) -> list[Word]:
    """Spread runs of words sharing one start over the time the run is known to span.

    Without this a forced cue break inside such a run yields a zero-length cue.
    """
    out = list(words)
    i = 0
    while i < len(out):
        j = i
        while j + 1 < len(out) and out[j + 1].start == out[i].start:
            j += 1
        run_end = max(w.end for w in out[i : j + 1])
        if j + 1 < len(out):
            run_end = min(run_end, out[j + 1].start)
        step = (run_end - out[i].start) / (j - i + 1)
        if j > i and step > 0:
            for k in range(i + 1, j + 1):
                start = out[i].start + (k - i) * step
                out[k] = replace(out[k], start=start, end=max(start, out[k].end))
        i = j + 1
    return out


def _clamp_overlaps(words: list[Word]) -> list[Word]:
    """End each word no later than the next one starts, so consecutive cues cannot overlap."""
    out = list(words)
    for i in range(len(out) - 1):
        if out[i].end > out[i + 1].start:
            out[i] = replace(out[i], end=max(out[i].start, out[i + 1].start))
    return out


def _hard_cut(word: Word, width: int) -> list[Word]:
    """Cut a word wider than a line into balanced pieces, timed by character offset."""
    size = len(word.text)
    if size <= width:
        return [word]
    piece = math.ceil(size / math.ceil(size / width))
    duration = word.end - word.start
    return [
        replace(
            word,
            text=word.text[at : at + piece],
            start=word.start + duration * at / size,
            end=word.start + duration * min(at + piece, size) / size,
        )
        for at in range(0, size, piece)
    ]


# --- grouping words into cues -----------------------------------------------------------------


def _texts(words: Sequence[Word]) -> list[str]:
    return [w.text for w in words]


def _lines(words: Sequence[Word], rules: CueRules) -> tuple[str, ...]:
    # A group only exists because it fits; the fallback covers a lone over-long token.
    return layout(_texts(words), rules) or tuple(_texts(words))


def _base_end(words: Sequence[Word], rules: CueRules) -> float:
    # Only a single word can be longer than max_duration (groups are split before that).
    return min(words[-1].end, words[0].start + rules.max_duration)


def _fits(words: Sequence[Word], rules: CueRules) -> bool:
    if len(words) == 1:
        return True
    if words[-1].end - words[0].start > rules.max_duration:
        return False
    return fits(_texts(words), rules)


def _ends_sentence(text: str) -> bool:
    return text.rstrip(_TRAILING_QUOTES).endswith((".", "!", "?", "…"))


def _ends_clause(text: str) -> bool:
    return text.rstrip(_TRAILING_QUOTES).endswith((",", ";", ":", "\u2014", "\u2013"))


def _enough_text(words: Sequence[Word], rules: CueRules) -> bool:
    # Half a line: below that, breaking at a sentence end leaves a flash of "Yes." on screen.
    return chars(_texts(words)) >= rules.max_line_chars // 2


def _starts_new_cue(current: Sequence[Word], word: Word, rules: CueRules) -> bool:
    if word.start - current[-1].end > rules.max_pause or word.speaker != current[-1].speaker:
        return True
    return _ends_sentence(current[-1].text) and _enough_text(current, rules)


def _ends_phrase(text: str) -> bool:
    # A cue, like a line, should not end on a word that binds to the next one ("the / ...").
    return not binds_forward(text)


def _breaks_well(words: Sequence[Word], rules: CueRules) -> bool:
    """Whether the cue's lines avoid breaking after a function word.

    A full cue has a single layout, often a bad one; ending it a few words earlier frees a
    better break.
    """
    lines = _lines(words, rules)
    return not any(binds_forward(line.split()[-1]) for line in lines[:-1])


def _split_index(current: list[Word], word: Word, rules: CueRules) -> int:
    """Where to end the full cue `current` so that the rest plus `word` still fits.

    Prefers the latest sentence end, then the latest clause end, then, within the last
    _LOOK_BACK words, a word that does not bind forward and leaves lines that break well, then
    the latest word that does not bind forward, then simply before `word`.
    """
    n = len(current)
    tiers: list[tuple[Callable[[int], bool], int]] = [
        (lambda k: _ends_sentence(current[k - 1].text), 1),
        (lambda k: _ends_clause(current[k - 1].text), 1),
        (
            lambda k: _ends_phrase(current[k - 1].text) and _breaks_well(current[:k], rules),
            max(1, n - _LOOK_BACK),
        ),
        (lambda k: _ends_phrase(current[k - 1].text), 1),
    ]
    for is_break, lowest in tiers:
        for k in range(n, lowest - 1, -1):
            if (
                is_break(k)
                and _enough_text(current[:k], rules)
                and _fits([*current[k:], word], rules)
            ):
                return k
    return n


def _split_for_breaks(words: list[Word], rules: CueRules) -> list[list[Word]]:
    """A cue whose only layout breaks after a function word, as two cues that break well.

    A cue packed to the last character (often a whole sentence) has a single layout; two cues
    split at the best break point read better than one with "a / deep" in it.
    """
    if len(_lines(words, rules)) < 2 or _breaks_well(words, rules):
        return [words]
    texts = _texts(words)
    splits = [
        k
        for k in range(1, len(words))
        if _ends_phrase(texts[k - 1])
        and _enough_text(words[:k], rules)
        and _enough_text(words[k:], rules)
        and _breaks_well(words[:k], rules)
        and _breaks_well(words[k:], rules)
    ]
    if not splits:
        return [words]
    k = min(
        splits, key=lambda k: (break_penalty(texts, k), abs(chars(texts[:k]) - chars(texts[k:])))
    )
    return [words[:k], words[k:]]


def _group_words(tokens: Sequence[Word], rules: CueRules) -> list[list[Word]]:
    groups: list[list[Word]] = []
    current: list[Word] = []
    for word in tokens:
        if current and _starts_new_cue(current, word, rules):
            groups.append(current)
            current = []
        elif current and not _fits([*current, word], rules):
            k = _split_index(current, word, rules)
            groups.append(current[:k])
            current = current[k:]
        current.append(word)
    if current:
        groups.append(current)
    return groups


# --- reading time -----------------------------------------------------------------------------


def _speed(words: Sequence[Word], next_start: float, rules: CueRules) -> float:
    """Characters per second once the cue has been extended as far as it may be."""
    start = words[0].start
    n_chars = chars(_texts(words))
    duration = extended_end(start, _base_end(words, rules), n_chars, next_start, rules) - start
    return n_chars / duration if duration > 0 else math.inf


def _split_for_speed(words: list[Word], next_start: float, rules: CueRules) -> list[list[Word]]:
    """Split a cue that reads too fast even when extended, if that makes it clearly slower.

    A part can never extend past the next part's start, so for evenly fast speech a split only
    makes more, equally fast cues. It pays off when the whole cue is capped by max_duration
    while its second part, starting later, may run on into the silence after it.
    """
    speed = _speed(words, next_start, rules)
    if len(words) < 2 or speed <= rules.max_chars_per_second:
        return [words]
    best_speed, k = min(
        (max(_speed(words[:k], words[k].start, rules), _speed(words[k:], next_start, rules)), k)
        for k in range(1, len(words))
    )
    if best_speed > speed * _SPEED_SPLIT_GAIN:
        return [words]
    return _split_for_speed(words[:k], words[k].start, rules) + _split_for_speed(
        words[k:], next_start, rules
    )


def _extend_ends(cues: Sequence[Cue], rules: CueRules) -> list[Cue]:
    out: list[Cue] = []
    for i, cue in enumerate(cues):
        next_start = cues[i + 1].start if i + 1 < len(cues) else math.inf
        end = extended_end(cue.start, cue.end, chars(cue.lines), next_start, rules)
        out.append(replace(cue, end=min(end, next_start)))
    return out


# --- gap markers for untranscribed spans ------------------------------------------------------


def _gap_cues(
    gaps: Sequence[tuple[float, float]],
    spans: Sequence[tuple[float, float]],
    rules: CueRules,
) -> list[Cue]:
    """Marker cues for the parts of `gaps` that no word cue covers.

    Word cues keep their times; a gap is trimmed around them. Slivers no longer than min_gap
    (timestamp jitter at a segment boundary) get no marker.
    """
    lines = _gap_lines(rules)
    free = _subtract(_union(gaps), sorted(spans))
    return [
        Cue(start, min(end, start + rules.max_duration), lines)
        for start, end in free
        if end - start > rules.min_gap
    ]


def _gap_lines(rules: CueRules) -> tuple[str, ...]:
    pieces = [
        p.text
        for w in rules.gap_text.split()
        for p in _hard_cut(Word(w, 0, 0), rules.max_line_chars)
    ]
    lines = layout(pieces, rules)
    if lines is not None:
        return lines
    # Marker text too long for the rules: show what fits rather than fail a whole video.
    return tuple((wrap(pieces, rules.max_line_chars) or pieces)[: rules.max_lines])


def _union(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(
    intervals: Sequence[tuple[float, float]], covered: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Parts of sorted, disjoint `intervals` outside sorted, disjoint `covered`."""
    free: list[tuple[float, float]] = []
    for start, end in intervals:
        cursor = start
        for c_start, c_end in covered:
            if c_end <= cursor:
                continue
            if c_start >= end:
                break
            if c_start > cursor:
                free.append((cursor, c_start))
            cursor = max(cursor, c_end)
        if cursor < end:
            free.append((cursor, end))
    return free
