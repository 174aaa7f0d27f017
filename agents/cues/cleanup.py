"""Text clean-up for raw faster-whisper output, before any cue is built.

Collapses whitespace, drops Whisper's non-speech artifacts (bracketed annotations such as
"[Music]", also when split over several words, and music-note tokens), tightens the space before
punctuation, and normalises word lists: sorted, deduplicated, with punctuation-only words glued
to their neighbour so that a cue never shows a lone "," or starts with ".", and without a line
the model repeats, unsure, after a pause (Whisper's echo of its last line over silence or noise).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from agents.cues.model import Word

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
# The first character of a word piece faster-whisper split off at a punctuation token.
_PIECE_STARTS = frozenset("',.-\u2019")
# A line is the words between pauses this long; a line that repeats the one before it is dropped
# when the model is unsure of it (mean word probability below this): Whisper fills silence and
# noise with its last line or a stock "Thank you." at low confidence. Measured (tiny.en,
# bench/hallucination.py, unscreened): made-up lines 0.02-0.49 (one loop fragment 0.66), real
# lines 0.37-0.87; a real line goes only if it also repeats the line before it word for word.
REPEAT_PAUSE_S = 1.0
REPEAT_MAX_PROBABILITY = 0.6


def clean_text(text: str) -> str:
    """Collapse whitespace, drop Whisper non-speech artifacts, tighten space before punctuation.

    Returns "" when nothing speakable is left.
    """
    text = _ANNOTATION.sub(" ", " ".join(text.split()))
    tokens = [token for token in text.split() if not _is_music_only(token)]
    return _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(tokens))


def clean_words(words: Iterable[Word], drop_repeats: bool = True) -> list[Word]:
    """Normalise raw faster-whisper words into a sorted, deduplicated, artifact-free list.

    Each text is stripped and cleaned; empty and artifact words are dropped; an end before the
    start is clamped to the start; exact duplicates (same text and start, as produced by
    overlapping transcription windows) are dropped; punctuation-only words are glued to their
    neighbour so that a cue never shows a lone "," or starts with "."; and, unless
    ``drop_repeats`` is off, an unsure repeated line is dropped (``drop_repeated_lines``).
    """
    ordered = _drop_annotation_runs(_join_pieces(sorted(words, key=lambda w: w.start)))
    seen: set[tuple[str, float]] = set()
    kept: list[Word] = []
    for word in ordered:
        text = clean_text(word.text)
        if not text or (text, word.start) in seen:
            continue
        seen.add((text, word.start))
        kept.append(replace(word, text=text, end=max(word.start, word.end)))
    attached = _attach_punctuation(kept)
    return drop_repeated_lines(attached) if drop_repeats else attached


def lines(words: Sequence[Word], pause_s: float = REPEAT_PAUSE_S) -> list[list[Word]]:
    """Sorted words in runs separated by pauses of at least ``pause_s``."""
    runs: list[list[Word]] = []
    for word in words:
        if runs and word.start - runs[-1][-1].end < pause_s:
            runs[-1].append(word)
        else:
            runs.append([word])
    return runs


def _line_key(line: Sequence[Word]) -> str:
    return " ".join(re.sub(r"[^\w\s]", "", " ".join(w.text for w in line).lower()).split())


def drop_repeated_lines(
    words: Sequence[Word],
    pause_s: float = REPEAT_PAUSE_S,
    max_probability: float = REPEAT_MAX_PROBABILITY,
) -> list[Word]:
    """Sorted words without each line that says again what the last kept line said, when its
    mean word probability is under ``max_probability``. Repetition inside a line ("no, no,
    no") is speech and stays; so does a clearly heard repeated line."""
    kept: list[list[Word]] = []
    for line in lines(words, pause_s):
        unsure = sum(w.probability for w in line) / len(line) < max_probability
        if kept and unsure and _line_key(line) == _line_key(kept[-1]):
            continue
        kept.append(line)
    return [word for line in kept for word in line]


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


def _join_pieces(words: Sequence[Word]) -> list[Word]:
    """Joins the pieces faster-whisper splits one written word into: it starts a new word at a
    punctuation token even inside a word, so "o'clock" comes as " o" + "'clock", "7,000" as
    " 7" + ",000", "3.5" as " 3" + ".5". A piece has no leading space (a word does), so this
    needs the raw texts: words are cleaned once, in build_cues."""
    out: list[Word] = []
    for word in words:
        piece = word.text[:1] in _PIECE_STARTS and any(c.isalnum() for c in word.text)
        if out and piece and out[-1].text.strip():
            out[-1] = _join_words(out[-1], word)
        else:
            out.append(word)
    return out


def _is_punctuation(text: str) -> bool:
    return all(c in _OPENERS or c in _CLOSERS for c in text)


def _join_words(first: Word, second: Word) -> Word:
    return Word(
        first.text + second.text,
        first.start,
        max(first.end, second.end),
        min(first.probability, second.probability),
        first.speaker,
        first.language,
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
