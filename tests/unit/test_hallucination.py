"""No text where nobody speaks: silence, tones, noise and the pauses of speech (real tiny.en,
real media from tests/media/generate.py), and the pure checks behind it."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
from faster_whisper.transcribe import Word as WhisperWord

from agents.cues.build import build_cues
from agents.cues.cleanup import clean_words, drop_repeated_lines
from agents.cues.model import Word
from agents.decode.media import decode_audio
from agents.transcribe.agent import configured_model, configured_screening, transcribe_segments
from agents.transcribe.hallucination import (
    DEFAULT_SCREENING,
    NO_SCREENING,
    Screening,
    collapse_loops,
    drop_silent_anomalies,
    no_speech,
    screen_words,
)
from agents.transcribe.live_agent import Heard, transcribe_live
from agents.transcribe.whisper import Clip, transcribe_batch
from agents.vad.agent import vad_options
from agents.vad.plan import speech_segments
from streams.events.audio import SAMPLE_RATE
from streams.events.model import LiveSegment
from streams.settings import KaptionSettings
from tests.live_media import final_phrase, final_phrases
from tests.paths import MEDIA
from tests.wer import normalise, word_error_rate

SETTINGS = KaptionSettings()
NO_SPEECH = ["silence.mp4", "chords.mp4", "melody.mp4", "white_noise.mp4", "pink_noise.mp4"]
MARGIN_S = 0.5  # a word this close to a phrase belongs to it


@cache
def pcm(name: str) -> np.ndarray:
    return decode_audio(str(MEDIA / name)).pcm


def pipeline_words(name: str) -> list[Word]:
    """What a job gives: the VAD plan, then the transcribe stage's own batch call."""
    segments = speech_segments(
        "job",
        0,
        pcm(name),
        SAMPLE_RATE,
        0.0,
        vad_options(SETTINGS),
        SETTINGS.max_segment_s,
        SETTINGS.max_merge_gap_s,
    )
    if not segments:
        return []
    done = transcribe_segments(SETTINGS, segments)
    return clean_words(
        Word(w.word, w.start, w.end, w.probability) for d in done for w in d.transcript.words
    )


def clips(name: str, seconds: float) -> list[Clip]:
    """The whole file in pieces: what Whisper gets when the VAD lets everything through."""
    audio, step = pcm(name), round(seconds * SAMPLE_RATE)
    return [Clip(audio[i : i + step], i / SAMPLE_RATE) for i in range(0, len(audio), step)]


def forced_words(name: str, screening: Screening) -> list[Word]:
    transcripts = transcribe_batch(
        configured_model(SETTINGS), clips(name, 8.0), SAMPLE_RATE, "en", 5, screening=screening
    )
    return clean_words(
        Word(w.word, w.start, w.end, w.probability) for t in transcripts for w in t.words
    )


def forced_phrases(name: str) -> list[LiveSegment]:
    """4-s phrases whatever the audio: Whisper hears all of it, noise too."""
    return [final_phrase(c.pcm, c.start, seq) for seq, c in enumerate(clips(name, 4.0))]


def live_words(phrases: list[LiveSegment]) -> list[Word]:
    """Phrases through transcribe-live's own call, each prompted with the text before."""
    words: list[Word] = []
    prompt = ""
    for segment in phrases:
        transcript, _ = transcribe_live(SETTINGS, segment, Heard(prompt))
        words += [Word(w.word, w.start, w.end, w.probability) for w in transcript.words]
        prompt = " ".join((prompt + " " + transcript.text).split()[-24:])
    return clean_words(words)


def in_pauses(words: list[Word], spoken: list[tuple[float, float]]) -> list[str]:
    return [
        w.text
        for w in words
        if not any(a - MARGIN_S <= (w.start + w.end) / 2 <= b + MARGIN_S for a, b in spoken)
    ]


@pytest.mark.parametrize("name", NO_SPEECH)
def test_no_speech_gives_no_cues(name: str) -> None:
    assert build_cues(pipeline_words(name)) == []
    assert forced_words(name, configured_screening(SETTINGS)) == []
    assert live_words(forced_phrases(name)) == []


@pytest.mark.parametrize("name", ["chords.mp4", "white_noise.mp4"])
def test_unscreened_whisper_makes_text_up_there(name: str) -> None:
    # The problem the screening solves: the same clips, unscreened, give words ("Thank you.").
    assert forced_words(name, NO_SCREENING) != []


def test_speech_with_long_pauses_gives_its_phrases_and_nothing_in_the_pauses() -> None:
    reference = json.loads((MEDIA / "paused.json").read_text())
    spoken = [(u["start"], u["end"]) for u in reference["utterances"]]
    # The live lane's own phrases: a 4-s piece would start in the middle of "no, no, no".
    live = live_words(final_phrases("paused.mp4", SETTINGS))
    for words in (pipeline_words("paused.mp4"), live):
        assert in_pauses(words, spoken) == []
        # Every phrase is there (tiny.en mishears the espeak-ng voice now and then).
        for start, end in spoken:
            assert any(start - MARGIN_S <= w.start <= end + MARGIN_S for w in words)
        text = " ".join(w.text for w in words)
        assert word_error_rate(reference["text"], text) < 0.4, text
        assert "no no no" in normalise(text)  # said once, kept


def test_speech_keeps_its_words() -> None:
    reference = json.loads((MEDIA / "speech.json").read_text())
    text = " ".join(w.text for w in pipeline_words("speech.mp4"))
    assert word_error_rate(reference["text"], text) < 0.2, text


def test_settings_give_the_default_screening() -> None:
    assert configured_screening(SETTINGS) == DEFAULT_SCREENING
    off = KaptionSettings(
        whisper_no_speech_threshold=None,
        whisper_log_prob_threshold=None,
        whisper_compression_ratio_threshold=None,
        whisper_hallucination_silence_threshold=None,
    )
    assert configured_screening(off) == NO_SCREENING


def test_an_empty_variable_turns_a_check_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_SPEECH", "LOG_PROB", "COMPRESSION_RATIO", "HALLUCINATION_SILENCE"):
        monkeypatch.setenv(f"KAPTION_WHISPER_{name}_THRESHOLD", "")
    assert configured_screening(KaptionSettings()) == NO_SCREENING


# --- the pure checks --------------------------------------------------------------------------


def w(text: str, start: float, end: float, probability: float = 0.9) -> Word:
    return Word(text, start, end, probability)


def ww(text: str, start: float, end: float, probability: float = 0.9) -> WhisperWord:
    return WhisperWord(start=start, end=end, word=text, probability=probability)


def test_a_repeated_unsure_line_is_dropped() -> None:
    words = [
        w("Thank", 1.0, 1.4, 0.01),
        w("you.", 1.4, 1.8, 0.95),
        w("Thank", 9.0, 9.4, 0.02),
        w("you.", 9.4, 9.8, 0.9),
        w("thank", 17.0, 17.4, 0.02),
        w("you", 17.4, 17.8, 0.9),
    ]
    assert drop_repeated_lines(words) == words[:2]


def test_repetition_in_speech_stays() -> None:
    no = [w("No,", 1.0, 1.3, 0.4), w("no,", 1.4, 1.7, 0.4), w("no.", 1.8, 2.1, 0.4)]
    assert drop_repeated_lines(no) == no
    assert clean_words(no) == no
    # A line heard clearly stays when said again; so does an unsure line that differs.
    clear = [w("Stop!", 1.0, 1.5), w("Stop!", 4.0, 4.5)]
    assert drop_repeated_lines(clear) == clear
    other = [w("Thank", 1.0, 1.4, 0.1), w("you.", 1.4, 1.8, 0.1), w("Thanks.", 5.0, 5.4, 0.1)]
    assert drop_repeated_lines(other) == other


def test_no_speech_needs_both_whisper_scores() -> None:
    assert no_speech(0.77, -0.97, DEFAULT_SCREENING)  # chords' "Thank you."
    assert not no_speech(0.77, -0.2, DEFAULT_SCREENING)  # confident text stays
    assert not no_speech(0.3, -0.97, DEFAULT_SCREENING)  # hard speech stays
    assert not no_speech(0.99, -2.0, NO_SCREENING)


def test_a_decoding_loop_is_kept_once() -> None:
    loop = [ww(t, i * 0.5, i * 0.5 + 0.4) for i, t in enumerate(["I", "don't", "know."] * 4)]
    assert [x.word for x in collapse_loops(loop)] == ["I", "don't", "know."]
    once = [ww(t, i * 0.5, i * 0.5 + 0.4) for i, t in enumerate(["No,", "no,", "wait."])]
    assert collapse_loops(once) == once
    kept = screen_words(loop, 0.1, -0.2, 3.0, 0.0, 10.0, DEFAULT_SCREENING)
    assert [x.word for x in kept] == ["I", "don't", "know."]
    # Below the compression-ratio threshold nothing is collapsed.
    assert screen_words(loop, 0.1, -0.2, 1.7, 0.0, 10.0, DEFAULT_SCREENING) == loop


def test_a_result_of_marks_alone_is_no_speech() -> None:
    # Whisper base over pink noise: one confident "-", which would be a cue of its own.
    dash = [ww(" -", 3.9, 3.9)]
    assert screen_words(dash, 0.1, -0.2, 1.0, 0.0, 4.0, DEFAULT_SCREENING) == []
    said = [ww(" -", 0.5, 0.6), ww(" 42", 0.6, 1.0)]
    assert screen_words(said, 0.1, -0.2, 1.0, 0.0, 4.0, DEFAULT_SCREENING) == said


def test_improbable_words_alone_in_silence_are_dropped() -> None:
    speech = [ww(" Please", 1.0, 1.4), ww(" open", 1.4, 1.8), ww(" it.", 1.8, 2.2)]
    made_up = [ww(" you", 12.0, 13.4, 0.03)]
    assert drop_silent_anomalies(speech + made_up, 0.0, 20.0, 2.0) == speech
    # The same word inside speech (no silence around it) stays.
    inside = [*speech, ww(" you", 2.3, 2.6, 0.03), ww(" see.", 2.6, 3.0)]
    assert drop_silent_anomalies(inside, 0.0, 20.0, 2.0) == inside


def test_short_aligned_words_of_real_speech_stay() -> None:
    # "No, no, no, no, not that one." as tiny.en aligned it in tests/media/paused.mp4: several
    # words too short to be likely (faster-whisper's total of 3), yet every one was said.
    timed = [("No,", 23.44, 0.64, 0.27), ("no,", 24.08, 0.62, 0.93), ("no,", 25.22, 0.1, 0.96)]
    timed += [("no,", 25.32, 0.08, 0.4), ("not", 25.6, 0.0, 0.63), ("that", 25.6, 0.32, 0.22)]
    timed += [("one.", 25.92, 0.32, 0.75)]
    words = [ww(" " + t, s, s + d, p) for t, s, d, p in timed]
    assert drop_silent_anomalies(words, 23.0, 26.6, 2.0) == words


def test_a_sentence_is_judged_by_its_own_words_not_the_clip_s_first_ones() -> None:
    # pyannote.audio's sample conversation as tiny.en aligned its 24-s segment: six "Hello."s,
    # three of them zero-length (anomalous), then speech. Judged as one run by its first eight
    # words the whole segment, 77 real words, was dropped.
    hellos = [ww(" Hello.", s, e) for s, e in [(3.32, 3.84), (4.82, 4.94), (4.96, 5.26)]]
    hellos += [ww(" Hello.", s, s) for s in (5.38, 5.54, 5.6)]
    speech = [ww(" I", 5.6, 5.6), ww(" didn't", 5.6, 5.82), ww(" know", 5.82, 6.02)]
    speech += [ww(" you", 6.02, 6.08, 0.73), ww(" were", 6.08, 6.24), ww(" there.", 6.24, 6.56)]
    assert drop_silent_anomalies(hellos + speech, 3.0, 26.6, 2.0) == hellos + speech
    # Made-up sentences one after another in silence still all go, each judged on its own.
    made_up = [ww(" Thank", 12.0, 12.0, 0.1), ww(" you.", 12.0, 12.0, 0.1)]
    made_up += [ww(" Bye.", 12.1, 12.1, 0.05), ww(" Bye.", 12.2, 12.2, 0.05)]
    assert drop_silent_anomalies(speech + made_up, 3.0, 26.6, 2.0) == speech


def test_the_sample_conversation_keeps_its_words() -> None:
    """pyannote.audio's own sample (the `speakers` extra, in the dev install): every sentence of
    its one 24-s segment through the stage's functions; none before sentences were judged
    alone."""
    audio = pytest.importorskip("pyannote.audio")
    from pathlib import Path

    wav = Path(audio.__file__).parent / "sample" / "sample.wav"
    segments = speech_segments(
        "job", 0, decode_audio(str(wav)).pcm, SAMPLE_RATE, 0.0, vad_options(SETTINGS),
        SETTINGS.max_segment_s, SETTINGS.max_merge_gap_s,
    )  # fmt: skip
    words = [w for d in transcribe_segments(SETTINGS, segments) for w in d.transcript.words]
    text = normalise(" ".join(w.word for w in words))
    assert len(words) > 60, text
    assert "new jersey" in text and "texas" in text, text
