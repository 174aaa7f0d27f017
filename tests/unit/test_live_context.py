"""The live lane's context: a phrase heard after the stream's last final phrases keeps only its
own words, and the context stays bounded and consistent with the prompt."""

from __future__ import annotations

import json

import numpy as np

from agents.decode.media import decode_audio
from agents.transcribe.agent import (
    configured_model,
    default_spec,
    live_spec,
)
from agents.transcribe.live_agent import (
    ALONE,
    LANE,
    Context,
    Heard,
    heard_again,
    joined,
    transcribe_live,
    words_from,
)
from agents.transcribe.whisper import Clip, Transcript
from streams.events.audio import SAMPLE_RATE
from streams.events.model import LiveSegment, TranscribedWord
from streams.settings import KaptionSettings
from tests.live_media import final_phrase, final_phrases
from tests.paths import MEDIA
from tests.wer import normalise, word_error_rate

SETTINGS = KaptionSettings()


def segment(start: float, seconds: float, seq: int = 0, level: int = 1000) -> LiveSegment:
    return final_phrase(np.full(round(seconds * SAMPLE_RATE), level, dtype=np.int16), start, seq)


def word(text: str, start: float, end: float) -> TranscribedWord:
    return TranscribedWord(word=text, start=start, end=end, probability=0.9)


def test_joined_keeps_the_phrase_at_its_own_time_with_at_most_a_second_of_pause() -> None:
    before = Clip(np.ones(SAMPLE_RATE, dtype=np.int16), 10.0)  # 10-11 s
    for start, pause in ((11.4, 0.4), (13.0, 1.0)):
        clip = Clip(np.full(SAMPLE_RATE // 2, 7, dtype=np.int16), start)
        both = joined(before, clip)
        offset = round((clip.start - both.start) * SAMPLE_RATE)
        assert offset == SAMPLE_RATE + round(pause * SAMPLE_RATE)
        assert (both.pcm[offset:] == 7).all() and (both.pcm[SAMPLE_RATE:offset] == 0).all()


def test_only_the_phrases_own_words_are_kept() -> None:
    heard = Transcript(
        " one two three",
        (word(" one", 9.0, 9.5), word(" two", 10.1, 10.6), word(" three", 10.6, 11.0)),
        "en",
    )
    assert [w.word for w in words_from(heard, 10.0).words] == [" two", " three"]
    assert words_from(heard, 10.0).text == "two three"


def test_the_copy_of_the_last_word_said_marks_where_the_phrase_begins() -> None:
    """Whisper's times drift across the pause at 10.0 s: the cut follows the words."""

    def kept(said: str, *heard: tuple[str, float, float]) -> str:
        words = tuple(word(f" {text}", start, end) for text, start, end in heard)
        transcript = Transcript("".join(w.word for w in words).strip(), words, "en")
        return words_from(transcript, 10.0, said).text

    # The last word said, timed after the pause, is not said twice.
    evening = [("in", 8.0, 8.2), ("the", 8.2, 8.4), ("evening.", 9.9, 10.4), ("Your", 10.5, 10.8)]
    assert kept("at ten in the evening.", *evening) == "Your"
    assert kept("", *evening) == "evening. Your"  # by time alone
    # A word the phrase before missed, timed before the pause, is not lost.
    euros = [("is", 8.6, 8.9), ("320", 9.0, 9.4), ("euros.", 9.5, 9.9), ("The", 10.2, 10.4)]
    assert kept("the price is 320.", *euros) == "euros. The"
    # Without a copy of the last word said near the pause: by time.
    assert kept("the price is 300.", *euros) == "The"
    far = [("the", 5.0, 5.2), ("end", 5.2, 5.5), ("so", 10.1, 10.3), ("the", 10.3, 10.4)]
    assert kept("at the end", *far) == "so the"


def test_context_keeps_whole_phrases_within_its_seconds_and_prompts_with_the_rest() -> None:
    context = Context(audio_s=5.0)
    first, second, third = segment(0.0, 3.0, 0), segment(3.5, 2.0, 1), segment(6.0, 2.0, 2)
    assert context.heard(first) == ALONE
    context.remember(first, "one two")
    context.remember(second, "three")
    heard = context.heard(third)
    # 5 s hold both phrases (3 + 2 s): the prompt has no word of the audio.
    assert heard.prompt == "" and heard.before is not None and heard.said == "one two three"
    assert len(heard.before.pcm) == 5 * SAMPLE_RATE + round(0.5 * SAMPLE_RATE)
    context.remember(third, "four five")
    heard = context.heard(segment(8.2, 1.0, 3))
    assert heard.prompt == "one two"  # the first phrase left the audio: its words the prompt
    assert heard.said == "three four five"
    assert heard.before is not None and len(heard.before.pcm) == round(4.5 * SAMPLE_RATE)
    # Without audio (an interim, live_interim_context off): every word as the prompt.
    every_word = Heard("one two three four five")
    assert context.heard(segment(8.2, 1.0, 3), audio=False) == every_word
    # After a long pause the speech rarely goes on with the sentence: the prompt alone.
    assert context.heard(segment(20.0, 1.0, 4)) == every_word
    assert context.prompt("s") == "one two three four five"


def test_without_audio_seconds_the_context_is_the_prompt_alone() -> None:
    context = Context()
    context.remember(segment(0.0, 2.0), "hello there")
    assert context.heard(segment(2.5, 1.0, 1)) == Heard("hello there")


def finals(name: str) -> list[LiveSegment]:
    return final_phrases(name, SETTINGS)


def test_a_phrase_heard_after_the_one_before_gives_its_own_words_only() -> None:
    """Real model, real phrases: the second phrase, heard after the first, says what it says
    alone, none of the first phrase's words."""
    first, second = finals("speech.wav")[:2]
    alone, _ = transcribe_live(SETTINGS, second)
    context = Context(audio_s=8.0)
    context.remember(first, transcribe_live(SETTINGS, first)[0].text)
    after_first = context.heard(second)
    assert after_first.before is not None
    heard, _ = transcribe_live(SETTINGS, second, after_first)
    assert normalise(alone.text) and word_error_rate(alone.text, heard.text) <= 0.25
    assert len(heard.words) >= len(alone.words) - 1
    assert all(w.start >= first.end - 0.3 for w in heard.words)


def test_a_call_without_words_is_made_again_without_its_prompt() -> None:
    calls: list[str] = []

    def call(prompt: str) -> Transcript:
        calls.append(prompt)
        words = () if prompt == "looped" else (word(" yes", 0.0, 0.5),)
        return Transcript(" yes" if words else "", words, "en")

    assert heard_again(call, "looped").text == " yes" and calls == ["looped", ""]
    calls.clear()
    assert heard_again(call, "fine").text == " yes" and calls == ["fine"]
    calls.clear()
    assert heard_again(call, "").text == " yes" and calls == [""]  # no prompt: nothing to drop


def test_a_phrase_whose_prompt_whisper_repeated_keeps_its_words() -> None:
    """Real model: given this prompt, tiny.en repeated a sentence of it over the context and
    the phrase on the machine the file was made on (the screening dropped the loop, and the
    call gave no words); on others it does not. Either way the phrase keeps its words."""
    known = json.loads((MEDIA / "prompt_loop.json").read_text())
    pcm = decode_audio(str(MEDIA / "prompt_loop.wav")).pcm
    cut = round(known["phrase_start"] * SAMPLE_RATE)
    before = Clip(pcm[: cut - SAMPLE_RATE // 10], 0.0)  # the 0.1-s pause comes back in between
    phrase = final_phrase(pcm[cut:], known["phrase_start"], seq=2)
    model = configured_model(SETTINGS, LANE)
    spec = default_spec(SETTINGS)
    context = Heard(known["prompt"], before)
    transcript, _ = transcribe_live(SETTINGS, phrase, context, (spec, model))
    assert word_error_rate(known["text"], transcript.text) < 0.3, transcript.text


def test_a_streams_language_is_fixed_by_its_first_final_phrase_of_enough_words() -> None:
    context = Context()
    context.remember(segment(0.0, 1.0), "Hola.", "es")  # too short to tell a language by
    assert context.language("s") == ""
    context.remember(segment(2.0, 3.0, 1), "We meet at the station.", "en")
    context.remember(segment(6.0, 3.0, 2), "Nous partons demain matin.", "fr")
    assert context.language("s") == "en"  # kept: a broadcast keeps its language
    assert context.heard(segment(9.5, 1.0, 3)).language == "en"
    assert context.language("other") == ""


def spanish_phrase() -> LiveSegment:
    return final_phrase(decode_audio(str(MEDIA / "lang_es.mp4")).pcm, 0.0, stream_id="es")


def test_the_live_lane_hears_the_streams_language_with_a_multilingual_model() -> None:
    """Real models: the live default (base) detects Spanish until the stream's language is
    fixed, then hears that language; the deployment's language and an English-only model come
    first."""
    phrase = spanish_phrase()
    assert live_spec(SETTINGS).multilingual
    detected, _ = transcribe_live(SETTINGS, phrase)
    assert detected.language == "es" and "estación" in detected.text.lower()
    spanish = Heard(language="es")
    fixed, _ = transcribe_live(SETTINGS, phrase, spanish)
    assert fixed.language == "es" and word_error_rate(detected.text, fixed.text) < 0.2
    english = SETTINGS.model_copy(update={"language": "en"})
    assert transcribe_live(english, phrase, spanish)[0].language == "en"
    tiny = SETTINGS.model_copy(update={"live_whisper_model": "tiny.en"})
    assert transcribe_live(tiny, phrase, spanish)[0].language == "en"
