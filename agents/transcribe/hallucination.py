"""Screening one clip's transcript for text Whisper makes up where nobody speaks.

faster-whisper's BatchedInferencePipeline, which kaption uses, takes ``no_speech_threshold``,
``log_prob_threshold`` and ``compression_ratio_threshold`` but applies none of them and forces
``hallucination_silence_threshold`` off (1.2.1: only the sequential ``WhisperModel.transcribe``
checks them). Each clip comes back as one result with the scores those checks read, so they are
applied here to that result and its words. Where the sequential path would decode again (at a
higher temperature, or from a suspect word on), a batched result can only be trimmed: a loop is
kept once, and only runs of words that are anomalous on average are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from faster_whisper.transcribe import Word

# The sequential path's rules (faster-whisper 1.2.1, generate_segments).
_PUNCTUATION = "\"'“¿([{-\"'.。,，!！?？:：”)]}、"  # noqa: RUF001 (Whisper's own list)
_ANOMALY_WORDS = 8
_EDGE_S = 2.0  # within this of a clip's edge counts as silence there
_SENTENCE_ENDS = (".", "?", "!", "。", "？", "！")  # noqa: RUF001 (Whisper's full-width marks)


@dataclass(frozen=True)
class Screening:
    """Thresholds (None turns a check off): kaption's defaults, which its settings repeat and
    document (whisper_*_threshold)."""

    no_speech_threshold: float | None = 0.6
    log_prob_threshold: float | None = -0.5
    compression_ratio_threshold: float | None = 2.4
    hallucination_silence_threshold: float | None = 2.0


NO_SCREENING = Screening(None, None, None, None)
DEFAULT_SCREENING = Screening()
# What faster-whisper's sequential transcribe would check by default (for comparison).
FASTER_WHISPER_DEFAULTS = Screening(0.6, -1.0, 2.4, None)


def no_speech(no_speech_prob: float, avg_logprob: float, screening: Screening) -> bool:
    """Whisper's own verdict: the no-speech token is likely and the text improbable."""
    if screening.no_speech_threshold is None or screening.log_prob_threshold is None:
        return False
    return (
        no_speech_prob > screening.no_speech_threshold
        and avg_logprob < screening.log_prob_threshold
    )


def word_anomaly(word: Word) -> float:
    """faster-whisper's score of an improbable, very short or very long word."""
    duration = word.end - word.start
    score = 1.0 if word.probability < 0.15 else 0.0
    if duration < 0.133:
        score += (0.133 - duration) * 15
    if duration > 2.0:
        score += duration - 2.0
    return score


def anomalous(words: Sequence[Word]) -> bool:
    """Every word anomalous on average. faster-whisper also flags a total of 3 over the first
    8 words, but it then decodes again from there, while a batched result can only be dropped:
    that rule dropped "No, no, no, no, not that one." (short aligned words, tests/media/paused)."""
    spoken = [w for w in words if w.word.strip() not in _PUNCTUATION][:_ANOMALY_WORDS]
    if not spoken:
        return False
    return sum(word_anomaly(w) for w in spoken) + 0.01 >= len(spoken)


def islands(words: Sequence[Word], gap_s: float) -> list[list[Word]]:
    """Runs of words separated by pauses longer than ``gap_s``."""
    runs: list[list[Word]] = []
    for word in words:
        if runs and word.start - runs[-1][-1].end <= gap_s:
            runs[-1].append(word)
        else:
            runs.append([word])
    return runs


def sentences(words: Sequence[Word]) -> list[list[Word]]:
    """Runs of words each ending at a sentence's end (the last run may not)."""
    runs: list[list[Word]] = [[]]
    for word in words:
        runs[-1].append(word)
        if word.word.rstrip().endswith(_SENTENCE_ENDS):
            runs.append([])
    return [run for run in runs if run]


def drop_silent_anomalies(
    words: Sequence[Word], clip_start: float, clip_end: float, threshold: float
) -> list[Word]:
    """``hallucination_silence_threshold`` for one clip: an anomalous sentence with silence (or
    the clip's edge, or another dropped or anomalous sentence) on both sides is dropped. Judged
    per sentence, as the sequential path judges its segments: a batched clip can hold 30 s of
    speech, and judged whole by its first words, six made-up "Hello."s at its start dropped
    the 71 real words after them (pyannote.audio's sample conversation)."""
    runs = [run for island in islands(words, threshold) for run in sentences(island)]
    bad = [anomalous(run) for run in runs]
    kept: list[Word] = []
    dropped_before = False
    for i, run in enumerate(runs):
        before = run[0].start - (runs[i - 1][-1].end if i else clip_start)
        after = (runs[i + 1][0].start if i + 1 < len(runs) else clip_end) - run[-1].end
        edge_before = run[0].start - clip_start < _EDGE_S
        silent_before = before > threshold or dropped_before or edge_before
        bad_next = i + 1 < len(runs) and bad[i + 1]
        silent_after = after > threshold or bad_next or clip_end - run[-1].end < _EDGE_S
        dropped_before = bad[i] and silent_before and silent_after
        if not dropped_before:
            kept.extend(run)
    return kept


def _key(word: Word) -> str:
    return re.sub(r"[^\w]", "", word.word.lower())


def collapse_loops(words: Sequence[Word], min_repeats: int = 3) -> list[Word]:
    """Whisper's decoding loop ("I'm sorry. I'm sorry. I'm sorry. ..."): a run of words said
    ``min_repeats`` or more times back to back is kept once (the first time). Used only when
    the compression ratio says the text loops; shortest repeated runs are found first."""
    out = list(words)
    i = 0
    while i < len(out):
        for size in range(1, (len(out) - i) // min_repeats + 1):
            unit = [_key(w) for w in out[i : i + size]]
            repeats = 1
            while [_key(w) for w in out[i + repeats * size : i + (repeats + 1) * size]] == unit:
                repeats += 1
            if repeats >= min_repeats:
                del out[i + size : i + repeats * size]
                break
        i += 1
    return out


def screen_words(
    words: Sequence[Word],
    no_speech_prob: float,
    avg_logprob: float,
    compression_ratio: float,
    clip_start: float,
    clip_end: float,
    screening: Screening,
) -> list[Word]:
    """The words of one clip's result that survive the checks (times in the clip's frame)."""
    if no_speech(no_speech_prob, avg_logprob, screening):
        return []
    kept = list(words)
    threshold = screening.compression_ratio_threshold
    if threshold is not None and compression_ratio > threshold:
        kept = collapse_loops(kept)
    if screening.hallucination_silence_threshold is not None:
        kept = drop_silent_anomalies(
            kept, clip_start, clip_end, screening.hallucination_silence_threshold
        )
    # Marks alone are not speech: base writes a lone "-" over pink noise.
    return kept if any(c.isalnum() for w in kept for c in w.word) else []
