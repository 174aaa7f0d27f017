"""Whisper's translate task as the backend of English (translation.yaml ``backend: whisper``):
the configuration, the request rules, the orchestrator's mark on the job and the cue stage's
English cues. The model's own pass is tested on real speech in
tests/integration/test_whisper_translation.py."""

from __future__ import annotations

import io
import os
from dataclasses import replace
from pathlib import Path

import fastavro
import numpy as np
import pytest

from agents.cues.model import DEFAULT_RULES
from agents.cues.transcript import transcript, translations, whisper_cues
from agents.decode.media import decode_audio
from agents.orchestrator.decide import Policy, decide
from agents.transcribe.agent import (
    configured_model,
    transcribe_segments,
    transcribed,
    translate_clips,
)
from agents.transcribe.whisper import Clip
from agents.translate import TranslationConfigError, load_config
from clients.api.options import JobOptions, unavailable
from streams.events.audio import SAMPLE_RATE, pcm_to_bytes
from streams.events.codec import SINGLE_OBJECT_MAGIC, AvroCodec, load_history
from streams.events.model import (
    CuesReady,
    DecodeRequested,
    JobRequested,
    SegmentTranscribed,
    SpeechSegment,
    TranscriptComplete,
    TranslateRequested,
    TranslationFailed,
)
from streams.job_options import (
    Capabilities,
    refusals,
    translation_pairs,
    whisper_english,
    whisper_sources,
)
from streams.resources import SCHEMAS_DIR, TRANSLATION_FILE
from streams.settings import KaptionSettings
from tests.examples import TRANSCRIBED
from tests.paths import MEDIA
from tests.unit.test_cue_transcript import segment
from tests.unit.test_orchestrator import request
from tests.wer import normalise

CONFIG = """
pairs:
  en-es: {backend: apertium, mode: eng-spa}
  "*-en": {backend: whisper}
  de-en: {backend: ctranslate2, model: opus-mt-de-en-ct2}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "translation.yaml"
    path.write_text(text)
    return path


def test_whisper_serves_english_and_an_exact_pair_wins_over_the_wildcard(tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG)
    assert whisper_sources(path) == {"*"}
    assert translation_pairs(path) == {("en", "es"), ("de", "en")}
    config = load_config(path)
    assert config.for_pair("de", "en").backend == "ctranslate2"
    with pytest.raises(TranslationConfigError, match="es-en is Whisper's translate task"):
        config.for_pair("es", "en")  # never the translate stage's
    assert whisper_english(frozenset({"*"}), "es", translation_pairs(path))
    assert not whisper_english(frozenset({"*"}), "de", translation_pairs(path))
    assert whisper_english(frozenset({"es"}), "es") and not whisper_english(frozenset({"es"}), "fr")


def test_the_configured_pairs_are_read_again_when_the_file_changes(tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG)
    assert translation_pairs(path) == {("en", "es"), ("de", "en")}  # read, then cached
    path.write_text("pairs:\n  en-fr: {backend: apertium, mode: eng-fra}\n")
    later = path.stat().st_mtime_ns + 1_000_000_000  # a coarse clock may not have moved
    os.utime(path, ns=(later, later))
    assert translation_pairs(path) == {("en", "fr")} and whisper_sources(path) == frozenset()
    path.unlink()
    assert translation_pairs(path) == frozenset()
    # Unknown yet, or English itself: any whisper pair (other speech in the file).
    assert whisper_english(frozenset({"es"}), None) and whisper_english(frozenset({"es"}), "en")
    assert not whisper_english(frozenset(), None)
    assert whisper_sources(TRANSLATION_FILE) == {"*"}  # the shipped file


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('pairs: {"*-fr": {backend: whisper}}', "whisper translates into English only"),
        ("pairs: {es-de: {backend: whisper}}", "whisper translates into English only"),
        ("pairs: {es-en: {backend: whisper, model: x}}", "whisper takes no settings"),
        ('pairs: {"*-en": {backend: apertium, mode: x}}', "a pair is written source-target"),
        ("pairs: {es-en: {backend: google}}", "ctranslate2, whisper"),
    ],
)
def test_whisper_entries_are_checked(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(TranslationConfigError, match=message):
        load_config(write(tmp_path, text))


CAPS = Capabilities(
    models={"tiny.en": False, "base": True},
    default_model="tiny.en",
    pairs=frozenset({("en", "es")}),
    whisper=frozenset({"*"}),
)


def test_english_by_whisper_needs_a_multilingual_model_unless_the_speech_is_english() -> None:
    refused = dict(refusals(CAPS, "auto", "tiny.en", languages=["en"]))
    assert "model 'tiny.en' is English-only and cannot translate" in refused["languages"]
    assert "--model base" in refused["languages"]
    assert refusals(CAPS, "auto", "base", languages=["en"]) == []
    assert refusals(CAPS, "es", "base", languages=["en"]) == []  # no pair needed: Whisper's
    assert refusals(CAPS, "en", "tiny.en", languages=["en", "es"]) == []  # the transcript
    # Without a whisper pair, English from Spanish needs a pair like any language.
    plain = replace(CAPS, whisper=frozenset())
    assert (
        "no translation from es into en"
        in dict(refusals(plain, "es", "base", languages=["en"]))["languages"]
    )
    assert refusals(plain, "auto", "tiny.en", languages=["en"]) == []
    unpaired = dict(refusals(CAPS, "es", "base", languages=["de"]))["languages"]
    assert "(translation.yaml pairs: en-es, *-en (whisper))" in unpaired


def test_the_orchestrator_marks_a_job_whose_english_is_whisper_s() -> None:
    def decoding(asked: JobRequested, caps: Capabilities = CAPS) -> DecodeRequested:
        decision = decide(None, asked, 0, Policy(capabilities=caps))
        [event] = [o.event for o in decision.outgoing if isinstance(o.event, DecodeRequested)]
        assert (
            decision.job is not None and decision.job.whisper_translate == event.whisper_translate
        )
        return event

    spanish = replace(request(), language="es", model="base", languages=("en", "es"))
    assert decoding(spanish).whisper_translate
    assert not decoding(replace(spanish, languages=("es",))).whisper_translate
    paired = replace(CAPS, pairs=frozenset({("es", "en")}))  # an exact pair wins over *-en
    assert not decoding(spanish, paired).whisper_translate
    assert decoding(replace(spanish, language="auto")).whisper_translate


def result(position: int, language: str, said: str, english: str = "") -> SegmentTranscribed:
    """A segment of base's in ``language``, saying ``said``, with ``english`` as its English."""
    return replace(
        segment(position, *said.split()),
        language=language,
        model="base",
        model_version="1",
        whisper_translate=True,
        english_words=segment(position, *english.split()).words,
    )


def job(language: str, *targets: str) -> TranscriptComplete:
    ids = ("j:0000-0000", "j:0000-0001")
    return TranscriptComplete(
        job_id="j",
        name="talk",
        language=language,
        duration=20.0,
        segment_ids=ids,
        gaps=(),
        languages=targets,
    )


def text(cues: CuesReady) -> str:
    return " ".join(c.text.replace("\n", " ") for c in cues.cues)


def test_english_cues_come_from_the_translated_words_and_english_speech_as_said() -> None:
    segments = [
        result(0, "es", "El tren sale.", "The train leaves."),
        result(1, "en", "Good morning.", ""),  # English speech: its transcript
    ]
    complete = job("es", "en", "fr")
    english = whisper_cues(complete, segments, DEFAULT_RULES, frozenset({"*"}))
    assert isinstance(english, CuesReady)
    assert (english.name, english.language, english.translated) == ("talk.en", "en", True)
    assert english.model == "base@1 (task: translate)" and english.model_version == "1"
    assert text(english) == "The train leaves. Good morning."
    ready = transcript(complete, segments, DEFAULT_RULES)[0]
    assert text(ready) == "El tren sale. Good morning."  # the transcript stays as spoken
    out = translations(complete, ready, english)
    assert [(o.topic, type(o.event)) for o in out] == [
        ("cues.ready", CuesReady),
        ("translate.requested", TranslateRequested),  # French: the translate stage's
    ]
    # A job whose English is not Whisper's goes to the translate stage as before.
    assert whisper_cues(complete, segments, DEFAULT_RULES, frozenset()) is None
    assert whisper_cues(job("es", "fr"), segments, DEFAULT_RULES, frozenset({"*"})) is None
    # English speech throughout: NAME.en is the transcript itself (the spoken language's rule).
    english_only = [replace(s, language="en") for s in segments]
    assert whisper_cues(job("en", "en"), english_only, DEFAULT_RULES, frozenset({"*"})) is None
    assert isinstance(
        whisper_cues(job("en", "en"), segments, DEFAULT_RULES, frozenset({"*"})), CuesReady
    )


def test_a_segment_that_was_not_translated_fails_english_alone() -> None:
    broken = replace(result(0, "es", "Hola"), translation_error="Whisper's translation failed: x")
    segments = [broken, result(1, "es", "adiós", "goodbye")]
    complete = job("es", "en", "es")
    why = whisper_cues(complete, segments, DEFAULT_RULES, frozenset({"es"}))
    assert why == "Whisper's translation failed: x"
    ready = transcript(complete, segments, DEFAULT_RULES)[0]
    out = translations(complete, ready, why)
    assert isinstance(out[0].event, TranslationFailed) and out[0].topic == "translations.failed"
    assert (out[0].event.language, out[0].event.reason) == ("en", why)
    assert (
        isinstance(out[1].event, CuesReady) and out[1].event.name == "talk.es"
    )  # the spoken language: the transcript, untouched
    unmarked = [replace(s, whisper_translate=False) for s in segments[1:]]
    missing = whisper_cues(job("es", "en"), unmarked, DEFAULT_RULES, frozenset({"*"}))
    assert isinstance(missing, str) and "without Whisper's translation" in missing


@pytest.mark.parametrize(
    "event",
    [
        SpeechSegment(
            job_id="j",
            segment_id="j:0000-0000",
            index=0,
            start=0.0,
            end=1.0,
            sample_rate=16000,
            pcm=b"\0\0",
            language="es",
            model="base",
        ),
        DecodeRequested(job_id="j", source="a.mp4", language="es", model="base"),
        TRANSCRIBED,
    ],
)
def test_a_producer_of_the_previous_version_is_still_read(
    event: SpeechSegment | DecodeRequested | SegmentTranscribed,
) -> None:
    """The version before whisper_translate (schemas/history): read with the defaults."""
    codec = AvroCodec(SCHEMAS_DIR)
    [previous, *_] = [
        s
        for s in reversed(load_history(SCHEMAS_DIR))
        if s.name == event.SCHEMA
        and "whisper_translate" not in {f["name"] for f in s.parsed["fields"]}
    ]
    fields = {f["name"] for f in previous.parsed["fields"]}
    body = io.BytesIO()
    record = {k: v for k, v in event.to_record().items() if k in fields}
    fastavro.schemaless_writer(body, previous.parsed, record)
    read = codec.decode(SINGLE_OBJECT_MAGIC + previous.fingerprint + body.getvalue())
    assert read == event and not read.whisper_translate
    marked = replace(event, whisper_translate=True)
    assert codec.decode(codec.encode(marked)) == marked


def test_a_failed_translation_pass_is_reported_not_raised() -> None:
    """The segment keeps its transcript; its English fails with the reason (here audio at a
    rate Whisper does not take, refused before the model runs)."""
    settings = KaptionSettings()
    model = configured_model(settings)
    clip = Clip(np.zeros(8000, dtype=np.int16), 3.0)
    english, why = translate_clips(settings, model, {4: clip}, 8000, "es")
    assert english == {} and why.startswith("Whisper's translation of es speech failed: ")
    assert "16000 Hz" in why
    assert translate_clips(settings, model, {}, 16000, "es") == ({}, "")


def test_the_api_refuses_whisper_s_english_with_an_english_only_model() -> None:
    """The shipped translation.yaml (*-en: whisper) and the default tiny.en: a 422's reason."""
    settings = KaptionSettings(data_dir=Path("/tmp/unused"))
    refused = dict(unavailable(JobOptions(languages=["en"]), settings))
    assert "model 'tiny.en' is English-only" in refused["languages"]
    assert unavailable(JobOptions(languages=["en"], model="base"), settings) == []
    assert unavailable(JobOptions(languages=["en"], language="en"), settings) == []


def test_the_second_pass_gives_the_english_of_spanish_speech_and_only_where_asked() -> None:
    """Whisper base (kaption[multilingual]) on the Spanish fixture, through the stage's own
    function: English words in the segment's time; none for a job that did not ask, or for a
    shadow (translate=False)."""
    settings = KaptionSettings()
    pcm = decode_audio(str(MEDIA / "lang_es.mp4")).pcm
    spanish = SpeechSegment(
        job_id="j",
        segment_id="j:0000-0000",
        index=0,
        start=40.0,
        end=40.0 + len(pcm) / SAMPLE_RATE,
        sample_rate=SAMPLE_RATE,
        pcm=pcm_to_bytes(pcm),
        language="es",
        model="base",
        whisper_translate=True,
    )
    [done] = transcribe_segments(settings, [spanish])
    assert done.english is not None and not done.translation_error
    english = "".join(w.word for w in done.english.words)
    assert {"train", "station", "bread", "fruit"} <= set(normalise(english).split()), english
    assert all(spanish.start <= w.start <= w.end <= spanish.end for w in done.english.words)
    assert "tren" in normalise(done.transcript.text).split()  # the transcript stays Spanish
    event = transcribed(spanish, done, 1)
    assert event.whisper_translate and event.english_words == done.english.words
    [plain] = transcribe_segments(settings, [replace(spanish, whisper_translate=False)])
    [shadow] = transcribe_segments(settings, [spanish], translate=False)
    assert plain.english is None and shadow.english is None
    assert plain.transcript == shadow.transcript == done.transcript
