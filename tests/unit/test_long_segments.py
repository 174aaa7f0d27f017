"""No speech lost inside a long segment: a result Whisper ends early is continued, one it starts
late has its start decoded (real tiny.en on tests/media/long_segment.flac and late_start.flac,
made by tests/media/generate.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import pairwise

import numpy as np
from faster_whisper.transcribe import Segment, Word

from agents.decode.media import decode_audio
from agents.transcribe.agent import transcribe_segments
from agents.transcribe.hallucination import NO_SCREENING
from agents.transcribe.whisper import Clip, Decoded, pieces, unheard_from, unheard_until
from agents.vad.agent import vad_options
from agents.vad.plan import speech_segments
from streams.events.audio import SAMPLE_RATE
from streams.events.model import SpeechSegment
from streams.settings import KaptionSettings
from tests.paths import MEDIA
from tests.wer import word_error_rate

SETTINGS = KaptionSettings()


def one_segment(name: str) -> tuple[str, list[SpeechSegment]]:
    """A committed clip's reference and its speech segments (the file lane's detector)."""
    reference = json.loads((MEDIA / f"{name}.json").read_text())["text"]
    pcm = decode_audio(str(MEDIA / f"{name}.flac")).pcm
    segments = speech_segments(
        "job",
        0,
        pcm,
        SAMPLE_RATE,
        0.0,
        vad_options(SETTINGS),
        SETTINGS.max_segment_s,
        SETTINGS.max_merge_gap_s,
    )
    assert len(segments) == 1 and segments[0].end - segments[0].start > 20
    return reference, segments


def test_a_long_segment_keeps_the_speech_after_its_pause() -> None:
    """A sentence, a 1.7-s pause and 20 s of another voice: one 22-s segment, of which tiny.en
    (no timestamp tokens) gave the first sentence only (WER 0.93); continued, about 0.23."""
    reference, segments = one_segment("long_segment")
    [done] = transcribe_segments(SETTINGS, segments)
    words = done.transcript.words
    assert word_error_rate(reference, done.transcript.text) < 0.45, done.transcript.text
    assert word_error_rate(reference, "".join(w.word for w in words)) < 0.45
    assert words[-1].end > segments[0].end - 2  # heard to the end
    assert all(a.start <= b.start for a, b in pairwise(words))  # in order, media times


def test_a_long_segment_keeps_the_speech_before_its_pause() -> None:
    """21 s of a fast voice, a 1.5-s pause and a sentence of another: one 26-s segment, of
    which tiny.en gave the last sentence only (WER 0.91); with its start decoded, about 0.3."""
    reference, segments = one_segment("late_start")
    [done] = transcribe_segments(SETTINGS, segments)
    words = done.transcript.words
    assert word_error_rate(reference, done.transcript.text) < 0.45, done.transcript.text
    assert words[0].start < segments[0].start + 2  # heard from the start
    assert all(a.start <= b.start for a, b in pairwise(words))  # in order, media times


def decoded(
    ends: list[float], offset: float = 3.0, audio_end: float = 25.0, no_speech: bool = False
) -> Decoded:
    words = [Word(end - 0.3, end, f" w{i}", 0.9) for i, end in enumerate(ends)]
    segment = Segment(
        id=1,
        seek=0,
        start=offset,
        end=audio_end,
        text="".join(w.word for w in words),
        tokens=[],
        avg_logprob=-1.0 if no_speech else -0.2,
        compression_ratio=1.0,
        no_speech_prob=0.9 if no_speech else 0.1,
        words=words,
        temperature=0.0,
    )
    return Decoded(segment, offset, audio_end, "en")


def test_only_a_result_that_stops_well_short_is_continued() -> None:
    assert unheard_from(decoded([5.0, 8.0]), 2.0) == 5.0  # from its last word, clip seconds
    assert unheard_from(decoded([5.0, 23.5]), 2.0) is None  # reaches the end
    assert unheard_from(decoded([]), 2.0) is None  # nothing heard: the same audio again
    assert unheard_from(decoded([3.2]), 2.0) is None  # would start where it started
    assert unheard_from(replace(decoded([5.0]), audio_end=7.5), 2.0) == 2.0
    # Not speech by Whisper's own verdict ("Thank you." on music): not continued, unless the
    # no-speech check is off.
    assert unheard_from(decoded([5.0], no_speech=True), 2.0) is None
    assert unheard_from(decoded([5.0], no_speech=True), 2.0, NO_SCREENING) == 2.0


def test_only_a_result_that_starts_well_into_its_clip_has_its_start_decoded() -> None:
    assert unheard_until(decoded([8.0, 9.0]), 2.0) == 4.7  # its first word's start, clip seconds
    assert unheard_until(decoded([4.5, 9.0]), 2.0) is None  # starts near the clip's start
    assert unheard_until(decoded([]), 2.0) is None
    assert unheard_until(decoded([8.0], no_speech=True), 2.0) is None


def test_a_long_start_is_cut_at_its_quiet_moments_into_short_pieces() -> None:
    rng = np.random.default_rng(0)
    pcm = (rng.standard_normal(30 * SAMPLE_RATE) * 3000).astype(np.int16)
    for quiet in (9.0, 19.5):  # pauses of 0.3 s
        pcm[round(quiet * SAMPLE_RATE) : round((quiet + 0.3) * SAMPLE_RATE)] = 0
    cut = pieces(Clip(pcm, 100.0), 12.0)
    assert len(cut) == 3 and cut[0].start == 100.0
    assert 109.0 <= cut[1].start <= 109.3 and 119.5 <= cut[2].start <= 119.8  # in the pauses
    assert sum(len(c.pcm) for c in cut) == len(pcm)
    assert all(len(c.pcm) <= 12 * SAMPLE_RATE for c in cut)
    assert pieces(Clip(pcm[: 5 * SAMPLE_RATE], 0.0), 12.0)[0].start == 0.0
