"""Turn faster-whisper word timestamps into subtitle cues that follow broadcast timing rules.

Everything here is pure: no I/O, no model, no Kafka. Times are absolute media seconds and are
passed through untouched; only cue *ends* move (extended into silence for reading time, or
trimmed so that cues never overlap).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Word:
    text: str  # as faster-whisper gives it, usually with a leading space, e.g. " Hello,"
    start: float  # absolute media seconds
    end: float
    probability: float = 1.0


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]  # 1..max_lines lines

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True, slots=True)
class CueRules:
    max_line_chars: int = 42
    max_lines: int = 2
    max_chars_per_second: float = 17.0  # reading speed (broadcast practice, e.g. Netflix adult 17)
    min_duration: float = 0.833  # 5/6 s
    max_duration: float = 7.0
    min_gap: float = 0.083  # ~2 frames between cues
    max_pause: float = 1.0  # a silence longer than this between words starts a new cue
    gap_text: str = "[no transcription]"  # marker text for untranscribed spans

    def __post_init__(self) -> None:
        if self.max_line_chars < 1 or self.max_lines < 1:
            raise ValueError("max_line_chars and max_lines must be at least 1")
        if self.max_chars_per_second <= 0 or self.max_duration <= 0:
            raise ValueError("max_chars_per_second and max_duration must be positive")
        if not 0 <= self.min_duration <= self.max_duration:
            raise ValueError("min_duration must be between 0 and max_duration")
        if self.min_gap < 0 or self.max_pause < 0:
            raise ValueError("min_gap and max_pause must not be negative")
        if not self.gap_text.strip():
            raise ValueError("gap_text must not be blank")


# A module constant rather than a call in each signature (ruff B008); CueRules is immutable.
DEFAULT_RULES = CueRules()

# A reading-speed split must make the fastest part at least this much slower: dropping the
# space between two parts alone would otherwise justify a pointless split.
_SPEED_SPLIT_GAIN = 0.9

# Tolerance for comparisons in check_cues: SRT/VTT round times to whole milliseconds.
_EPS = 1e-3

# ---------------------------------------------------------------------------------------------
# Text clean-up
# ---------------------------------------------------------------------------------------------

# Whisper marks non-speech as bracketed tokens ("[BLANK_AUDIO]", "[Music]", "(music)"). Only
# groups that stand as whole tokens are dropped, so "f(x)" or "a[1]" survive.
_ANNOTATION = re.compile(r"(?<!\S)(?:(?:\[[^\[\]]*\]|\([^()]*\))[,.!?;:]*)+(?!\S)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.!?;:])")
_MUSIC_NOTES = frozenset("♪♫♬♩")
# A bracketed annotation split over several words ("(upbeat", "music)") is rarely longer.
_MAX_ANNOTATION_WORDS = 6
# Punctuation-only words that belong to the following word, and to the preceding one.
_OPENERS = frozenset("([{«\u201c\u2018¿¡")  # curly quotes as escapes: ruff RUF001
_CLOSERS = frozenset(".,!?;:…)]}»\u201d\u2019\"'%")
_TRAILING_QUOTES = "\"'\u201d\u2019»)]}"


def clean_text(text: str) -> str:
    """Collapse whitespace, drop Whisper non-speech artifacts, tighten space before punctuation.

    Returns "" when nothing speakable is left.
    """
    text = _ANNOTATION.sub(" ", " ".join(text.split()))
    tokens = [token for token in text.split() if not _is_music_only(token)]
    return _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(tokens))


def clean_words(words: Iterable[Word]) -> list[Word]:
    """Normalise raw faster-whisper words into a sorted, deduplicated, artifact-free list.

    Each text is stripped and cleaned; empty and artifact words are dropped; an end before the
    start is clamped to the start; exact duplicates (same text and start, as produced by
    overlapping transcription windows) are dropped; punctuation-only words are glued to their
    neighbour so that a cue never shows a lone "," or starts with ".".
    """
    ordered = _drop_annotation_runs(sorted(words, key=lambda w: w.start))
    seen: set[tuple[str, float]] = set()
    kept: list[Word] = []
    for word in ordered:
        text = clean_text(word.text)
        if not text or (text, word.start) in seen:
            continue
        seen.add((text, word.start))
        kept.append(replace(word, text=text, end=max(word.start, word.end)))
    return _attach_punctuation(kept)


def _is_music_only(token: str) -> bool:
    return any(c in _MUSIC_NOTES for c in token) and not any(c.isalnum() for c in token)


def _drop_annotation_runs(words: Sequence[Word]) -> list[Word]:
    """Drop bracketed annotations that faster-whisper split into several words."""
    kept: list[Word] = []
    i = 0
    while i < len(words):
        last = _annotation_run_end(words, i)
        if last is None:
            kept.append(words[i])
            i += 1
        else:
            i = last + 1
    return kept


def _annotation_run_end(words: Sequence[Word], first: int) -> int | None:
    opening = words[first].text.strip()[:1]
    if opening not in ("[", "("):
        return None
    closer = "]" if opening == "[" else ")"
    for j in range(first, min(len(words), first + _MAX_ANNOTATION_WORDS)):
        text = words[j].text.strip().rstrip(",.!?;:")
        if closer in text:
            return j if text.endswith(closer) else None
    return None


def _is_punctuation(text: str) -> bool:
    return all(c in _OPENERS or c in _CLOSERS for c in text)


def _join_words(first: Word, second: Word) -> Word:
    return Word(
        first.text + second.text,
        first.start,
        max(first.end, second.end),
        min(first.probability, second.probability),
    )


def _attach_punctuation(words: Sequence[Word]) -> list[Word]:
    out: list[Word] = []
    pending: Word | None = None  # opening punctuation waiting for the next real word
    for word in words:
        if pending is not None and not _is_punctuation(word.text):
            word, pending = _join_words(pending, word), None
        if not _is_punctuation(word.text):
            out.append(word)
        elif out and not all(c in _OPENERS for c in word.text):
            out[-1] = _join_words(out[-1], word)
        else:
            pending = word if pending is None else _join_words(pending, word)
    if pending is not None:
        if out:
            out[-1] = _join_words(out[-1], pending)
        else:
            out.append(pending)
    return out


# ---------------------------------------------------------------------------------------------
# Line layout
# ---------------------------------------------------------------------------------------------


def _wrap(texts: Sequence[str], width: int) -> list[str] | None:
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


def _layout(texts: Sequence[str], rules: CueRules) -> tuple[str, ...] | None:
    """Lines for a cue, or None if the words do not fit in max_lines lines.

    Uses as few lines as possible, then the narrowest width that keeps that line count, which
    balances the lines (a long top line over a one-word bottom line reads badly).
    """
    lines = _wrap(texts, rules.max_line_chars)
    if lines is None or len(lines) > rules.max_lines:
        return None
    if len(lines) == 1:
        return tuple(lines)
    for width in range(max(len(t) for t in texts), rules.max_line_chars):
        narrow = _wrap(texts, width)
        if narrow is not None and len(narrow) <= len(lines):
            return tuple(narrow)
    return tuple(lines)


def _chars(lines: Iterable[str]) -> int:
    """Reading-speed character count: every character, line breaks counted as one space."""
    return len(" ".join(lines))


# ---------------------------------------------------------------------------------------------
# Cue building
# ---------------------------------------------------------------------------------------------


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
        for part in _split_for_speed(group, next_start, rules):
            word_cues.append(Cue(part[0].start, _base_end(part, rules), _lines(part, rules)))

    # Stable sort: a word cue wins a tie with a gap marker that starts where it ends.
    cues = sorted(word_cues + gap_cues, key=lambda c: c.start)
    return _extend_ends(cues, rules)


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


def _texts(words: Sequence[Word]) -> list[str]:
    return [w.text for w in words]


def _lines(words: Sequence[Word], rules: CueRules) -> tuple[str, ...]:
    # A group only exists because it fits; the fallback covers a lone over-long token.
    return _layout(_texts(words), rules) or tuple(_texts(words))


def _base_end(words: Sequence[Word], rules: CueRules) -> float:
    # Only a single word can be longer than max_duration (groups are split before that).
    return min(words[-1].end, words[0].start + rules.max_duration)


def _fits(words: Sequence[Word], rules: CueRules) -> bool:
    if len(words) == 1:
        return True
    if words[-1].end - words[0].start > rules.max_duration:
        return False
    return _layout(_texts(words), rules) is not None


def _ends_sentence(text: str) -> bool:
    return text.rstrip(_TRAILING_QUOTES).endswith((".", "!", "?", "…"))


def _ends_clause(text: str) -> bool:
    return text.rstrip(_TRAILING_QUOTES).endswith((",", ";", ":", "\u2014", "\u2013"))


def _enough_text(words: Sequence[Word], rules: CueRules) -> bool:
    # Half a line: below that, breaking at a sentence end leaves a flash of "Yes." on screen.
    return _chars(_texts(words)) >= rules.max_line_chars // 2


def _starts_new_cue(current: Sequence[Word], word: Word, rules: CueRules) -> bool:
    if word.start - current[-1].end > rules.max_pause:
        return True
    return _ends_sentence(current[-1].text) and _enough_text(current, rules)


def _split_index(current: list[Word], word: Word, rules: CueRules) -> int:
    """Where to end the full cue `current` so that the rest plus `word` still fits.

    Prefers the latest sentence end, then the latest clause end, then simply before `word`.
    """
    for is_break in (_ends_sentence, _ends_clause):
        for k in range(len(current), 0, -1):
            if (
                is_break(current[k - 1].text)
                and _enough_text(current[:k], rules)
                and _fits([*current[k:], word], rules)
            ):
                return k
    return len(current)


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


def _extension_limit(start: float, next_start: float, rules: CueRules) -> float:
    return min(start + rules.max_duration, next_start - rules.min_gap)


def _extended_end(
    start: float, end: float, chars: int, next_start: float, rules: CueRules
) -> float:
    """Lengthen a cue to min_duration and to its reading time, as far as the next cue allows."""
    wanted = start + max(rules.min_duration, chars / rules.max_chars_per_second)
    if wanted <= end:
        return end
    return max(end, min(wanted, _extension_limit(start, next_start, rules)))


def _speed(words: Sequence[Word], next_start: float, rules: CueRules) -> float:
    """Characters per second once the cue has been extended as far as it may be."""
    start = words[0].start
    chars = _chars(_texts(words))
    duration = _extended_end(start, _base_end(words, rules), chars, next_start, rules) - start
    return chars / duration if duration > 0 else math.inf


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
    lines = _layout(pieces, rules)
    if lines is not None:
        return lines
    # Marker text too long for the rules: show what fits rather than fail a whole video.
    return tuple((_wrap(pieces, rules.max_line_chars) or pieces)[: rules.max_lines])


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


def _extend_ends(cues: Sequence[Cue], rules: CueRules) -> list[Cue]:
    out: list[Cue] = []
    for i, cue in enumerate(cues):
        next_start = cues[i + 1].start if i + 1 < len(cues) else math.inf
        end = _extended_end(cue.start, cue.end, _chars(cue.lines), next_start, rules)
        out.append(replace(cue, end=min(end, next_start)))
    return out


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def check_cues(cues: Sequence[Cue], rules: CueRules = DEFAULT_RULES) -> list[str]:
    """Human-readable rule violations; an empty list means the cues are fine.

    Short or fast cues are only reported when they could have been extended, i.e. they end
    before both start + max_duration and the next cue's start - min_gap.
    """
    problems: list[str] = []
    for i, cue in enumerate(cues):
        following = cues[i + 1] if i + 1 < len(cues) else None
        problems.extend(
            f"cue {i} ({cue.start:.3f}-{cue.end:.3f}): {p}"
            for p in _cue_problems(cue, following, rules)
        )
        if following is not None and following.start < cue.start - _EPS:
            problems.append(f"cue {i + 1} starts before cue {i}: cues are not sorted")
    return problems


def _cue_problems(cue: Cue, following: Cue | None, rules: CueRules) -> list[str]:
    return [
        *_text_problems(cue, rules),
        *_duration_problems(cue, following, rules),
    ]


def _text_problems(cue: Cue, rules: CueRules) -> list[str]:
    problems: list[str] = []
    if not any(line.strip() for line in cue.lines):
        problems.append("no text")
    if len(cue.lines) > rules.max_lines:
        problems.append(f"{len(cue.lines)} lines, max {rules.max_lines}")
    problems.extend(
        f"line {n} is {len(line)} chars, max {rules.max_line_chars}"
        for n, line in enumerate(cue.lines, 1)
        if len(line) > rules.max_line_chars
    )
    return problems


def _duration_problems(cue: Cue, following: Cue | None, rules: CueRules) -> list[str]:
    duration = cue.end - cue.start
    if duration < -_EPS:
        return ["ends before it starts"]
    problems: list[str] = []
    if duration > rules.max_duration + _EPS:
        problems.append(f"duration {duration:.3f}s above max {rules.max_duration}s")
    if following is not None and cue.end > following.start + _EPS:
        problems.append(f"overlaps the next cue, which starts at {following.start:.3f}")
    next_start = following.start if following is not None else math.inf
    if cue.end >= _extension_limit(cue.start, next_start, rules) - _EPS:
        return problems  # no room to extend: shortness and speed are unavoidable
    if duration + _EPS < rules.min_duration:
        problems.append(f"duration {duration:.3f}s below min {rules.min_duration}s")
    reading_time = _chars(cue.lines) / rules.max_chars_per_second
    if duration + _EPS < reading_time:
        speed = _chars(cue.lines) / duration if duration > 0 else math.inf
        problems.append(f"reading speed {speed:.1f} chars/s above {rules.max_chars_per_second}")
    return problems
