"""A file spoken in several languages (per-segment detection) into a machine-translated target:
each cue carries the language of its words' segments, the cue stage sends a task unless every
cue is in the target already, and the translate stage keeps the cues in the target and
translates the others from their own language (a real Apertium eng-spa)."""

from __future__ import annotations

import io
import shutil
from dataclasses import replace

import fastavro
import pytest

from agents.cues.build import build_cues
from agents.cues.model import DEFAULT_RULES, Word
from agents.cues.transcript import transcript, translations
from agents.translate.agent import translated
from agents.translate.config import TranslationConfigError
from streams.events.codec import SINGLE_OBJECT_MAGIC, AvroCodec, load_history
from streams.events.model import (
    CuesReady,
    SegmentTranscribed,
    SourceCue,
    TranscribedWord,
    TranscriptComplete,
    TranslateRequested,
)
from streams.resources import SCHEMAS_DIR
from streams.settings import KaptionSettings
from tests.examples import TRANSCRIBED

APERTIUM = pytest.mark.skipif(
    shutil.which("apertium") is None, reason="Debian's apertium is not installed"
)


def segment(position: int, language: str, said: str) -> SegmentTranscribed:
    start = 10.0 * position
    return replace(
        TRANSCRIBED,
        segment_id=f"j:0000-{position:04d}",
        index=position,
        start=start,
        end=start + 5,
        language=language,
        words=tuple(
            TranscribedWord(
                word=f" {w}", start=start + i * 0.4, end=start + i * 0.4 + 0.3, probability=1.0
            )
            for i, w in enumerate(said.split())
        ),
    )


def job(language: str, *targets: str, segments: int = 2) -> TranscriptComplete:
    return TranscriptComplete(
        job_id="j",
        name="talk",
        language=language,
        duration=10.0 * segments,
        segment_ids=tuple(f"j:0000-{i:04d}" for i in range(segments)),
        gaps=(),
        languages=targets,
    )


def test_each_cue_takes_the_language_of_its_words_segments() -> None:
    segments = [segment(0, "en", "The house is red."), segment(1, "es", "El perro duerme.")]
    ready, languages = transcript(job("en"), segments, DEFAULT_RULES)
    assert [c.text for c in ready.cues] == ["The house is red.", "El perro duerme."]
    assert languages == ("en", "es")
    assert ready.language == "en"  # the transcript itself stays the job's


def test_a_cue_mixing_languages_takes_that_of_most_of_its_words() -> None:
    said = [("Bueno,", "es"), ("I", "en"), ("think", "en"), ("so.", "en")]
    words = [
        Word(f" {w}", i * 0.3, i * 0.3 + 0.2, language=lang) for i, (w, lang) in enumerate(said)
    ]
    [cue] = build_cues(words, DEFAULT_RULES)
    assert (cue.text, cue.language) == ("Bueno, I think so.", "en")
    spanish = [replace(w, language="es") if i != 3 else w for i, w in enumerate(words)]
    assert build_cues(spanish, DEFAULT_RULES)[0].language == "es"


def test_the_spoken_language_gets_a_task_only_where_another_language_was_spoken() -> None:
    segments = [segment(0, "en", "The house is red."), segment(1, "es", "El perro duerme.")]
    complete = job("es", "es", "fr")
    ready, languages = transcript(complete, segments, DEFAULT_RULES)
    assert languages == ("en", "es")
    out = translations(complete, ready, None, languages)
    assert [(o.topic, getattr(o.event, "language", "")) for o in out] == [
        ("translate.requested", "es"),
        ("translate.requested", "fr"),
    ]
    spanish = out[0].event
    assert isinstance(spanish, TranslateRequested)
    assert (spanish.task_id, spanish.source_language) == ("j:es", "es")
    # The English cue says so; the Spanish one is the task's source language ("").
    assert [(c.text, c.language) for c in spanish.cues] == [
        ("The house is red.", "en"),
        ("El perro duerme.", ""),
    ]
    assert [(c.start, c.end) for c in spanish.cues] == [(c.start, c.end) for c in ready.cues]
    # Spanish throughout: NAME.es is the transcript itself, no task.
    only = [replace(s, language="es") for s in segments]
    ready, languages = transcript(complete, only, DEFAULT_RULES)
    [same, french] = translations(complete, ready, None, languages)
    assert same.topic == "cues.ready" and isinstance(same.event, CuesReady)
    assert (same.event.name, same.event.cues) == ("talk.es", ready.cues)
    assert isinstance(french.event, TranslateRequested)
    assert all(c.language == "" for c in french.event.cues)
    # No languages given (a caller of before): every cue is the job's, as before.
    assert translations(complete, ready)[0].topic == "cues.ready"


def task(source: str, target: str, *cues: SourceCue) -> TranslateRequested:
    return TranslateRequested(
        job_id="j",
        task_id=f"j:{target}",
        name="talk",
        source_language=source,
        language=target,
        cues=cues,
    )


MIXED = (
    SourceCue(start=1.0, end=3.0, text="The house is red.", language="en"),
    SourceCue(start=4.0, end=6.0, text="El perro duerme."),
    SourceCue(start=7.0, end=9.0, text="The dog is black.", language="en"),
    SourceCue(start=10.0, end=12.0, text="Buenas noches."),
)


@APERTIUM
def test_a_task_translates_the_english_cues_and_keeps_the_spanish_ones() -> None:
    cues, took = translated(KaptionSettings(), task("es", "es", *MIXED))
    assert (cues.name, cues.language, cues.translated) == ("talk.es", "es", True)
    texts = [c.text for c in cues.cues]
    assert len(texts) == 4
    assert "casa" in texts[0].lower() and "roja" in texts[0].lower()
    assert texts[1] == "El perro duerme."  # kept as transcribed, not through eng-spa
    assert "perro" in texts[2].lower() and "negro" in texts[2].lower()
    assert texts[3] == "Buenas noches."
    assert [c.start for c in cues.cues] == [1.0, 4.0, 7.0, 10.0]
    assert all(c.end <= n.start for c, n in zip(cues.cues, cues.cues[1:], strict=False))
    assert cues.model.startswith("apertium") and took > 0
    # The same cues in a task from English (the job's language): the same result.
    flipped = tuple(replace(c, language="" if c.language == "en" else "es") for c in MIXED)
    again, _ = translated(KaptionSettings(), task("en", "es", *flipped))
    assert [c.text for c in again.cues] == texts


def test_a_task_whose_cues_are_all_in_the_target_needs_no_backend() -> None:
    cues, took = translated(KaptionSettings(), task("es", "es", MIXED[1], MIXED[3]))
    assert [c.text for c in cues.cues] == ["El perro duerme.", "Buenas noches."]
    assert took == 0.0 and cues.model_version == ""


def test_a_source_language_nobody_configured_fails_the_target_naming_its_pair() -> None:
    german = SourceCue(start=13.0, end=14.0, text="Guten Tag.", language="de")
    with pytest.raises(TranslationConfigError, match="no translation backend for de-es"):
        translated(KaptionSettings(), task("es", "es", *MIXED, german))


def test_a_task_of_the_previous_version_is_read_with_the_job_s_language() -> None:
    codec = AvroCodec(SCHEMAS_DIR)
    [previous] = [s for s in load_history(SCHEMAS_DIR) if s.name == "TranslateRequested"]
    event = task("en", "es", SourceCue(start=1.0, end=2.0, text="Hi."))
    body = io.BytesIO()
    record = event.to_record()
    record["cues"] = [{k: v for k, v in c.items() if k != "language"} for c in record["cues"]]
    fastavro.schemaless_writer(body, previous.parsed, record)
    read = codec.decode(SINGLE_OBJECT_MAGIC + previous.fingerprint + body.getvalue())
    assert read == event and read.cues[0].language == ""
    assert codec.decode(codec.encode(task("es", "es", *MIXED))) == task("es", "es", *MIXED)
