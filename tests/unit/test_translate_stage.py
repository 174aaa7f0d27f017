"""The translate stage's pure parts: cues re-flowed after translation, the cue stage's fan-out
of one task per target language, and a real task through Apertium (Debian's eng-spa)."""

from __future__ import annotations

import itertools
import shutil

import pytest

from agents.cues.check import check_cues
from agents.cues.model import DEFAULT_RULES, Cue
from agents.cues.transcript import translations
from agents.translate.agent import failed, translated
from agents.translate.backends import TranslationUnavailable
from agents.translate.reflow import reflow
from streams.events.model import (
    CueRecord,
    CuesReady,
    SourceCue,
    TranscriptComplete,
    TranslateRequested,
    TranslationFailed,
)
from streams.settings import KaptionSettings

SOURCES = (
    SourceCue(start=1.0, end=3.0, text="The house\nis red."),
    SourceCue(start=4.0, end=10.0, text="A long sentence."),
    SourceCue(start=11.0, end=12.0, text="Uh."),
)


def test_a_translation_keeps_its_cue_timing_and_the_line_width() -> None:
    long = " ".join(["palabra"] * 30)  # 239 characters: three cues of two lines
    cues = reflow(SOURCES, ["La casa es roja.", long, ""])
    assert cues[0] == CueRecord(start=1.0, end=3.0, text="La casa es roja.")
    split = cues[1:]
    assert len(split) == 3 and all(len(c.text.split("\n")) <= 2 for c in split)
    assert all(len(line) <= 42 for c in split for line in c.text.split("\n"))
    # The last part reads at 17 chars/s: it stays on after its source cue, into the silence.
    assert split[0].start == 4.0 and split[-1].end > 10.0
    assert all(a.end == b.start for a, b in itertools.pairwise(split))
    assert " ".join(c.text.replace("\n", " ") for c in split) == long  # no word lost
    # The blank translation of the last cue shows nothing.
    assert all(c.start < 11.0 for c in cues)


def test_translated_cues_keep_to_the_reading_speed_where_the_silence_allows() -> None:
    sources = (
        SourceCue(start=0.0, end=1.0, text="I agree."),
        SourceCue(start=3.0, end=4.0, text="Sure."),
        SourceCue(start=4.2, end=5.0, text="Fine."),
    )
    texts = [
        "Estoy completamente de acuerdo con todo lo que usted ha dicho.",
        "Por supuesto que sí, claro.",
        "Bien.",
    ]
    cues = reflow(sources, texts)
    first, second, third = cues
    assert first.end == pytest.approx(3.0 - DEFAULT_RULES.min_gap)  # as far as the next cue
    assert second.end == pytest.approx(4.2 - DEFAULT_RULES.min_gap)  # no room: fast, unavoidably
    assert third.end == pytest.approx(4.2 + DEFAULT_RULES.min_duration)  # the minimum duration
    assert [c.start for c in cues] == [0.0, 3.0, 4.2]  # starts never move
    as_cues = [Cue.from_text(c.start, c.end, c.text) for c in cues]
    assert check_cues(as_cues) == []


def ready(language: str = "en") -> CuesReady:
    cues = tuple(CueRecord(start=c.start, end=c.end, text=c.text) for c in SOURCES)
    return CuesReady(job_id="j", name="talk", language=language, cues=cues)


def complete(*languages: str) -> TranscriptComplete:
    return TranscriptComplete(
        job_id="j", name="talk", language="en", duration=12.0, segment_ids=(), gaps=(),
        languages=languages,
    )  # fmt: skip


def test_the_cue_stage_sends_one_task_per_target_language() -> None:
    out = translations(complete("es", "de", "en"), ready())
    topics = [(o.topic, getattr(o.event, "language", "")) for o in out]
    assert topics == [
        ("translate.requested", "es"),
        ("translate.requested", "de"),
        ("cues.ready", "en"),  # the spoken language: the transcript, under its own name
    ]
    task = out[0].event
    assert isinstance(task, TranslateRequested)
    assert (task.task_id, task.name, task.source_language) == ("j:es", "talk", "en")
    assert [c.text for c in task.cues] == [c.text for c in SOURCES]
    same = out[2].event
    assert isinstance(same, CuesReady) and same.translated and same.name == "talk.en"
    assert translations(complete(), ready()) == []


def task(language: str) -> TranslateRequested:
    return TranslateRequested(
        job_id="j", task_id=f"j:{language}", name="talk", source_language="en",
        language=language, cues=SOURCES,
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("apertium") is None, reason="Debian's apertium is not installed")
def test_a_task_through_apertium_gives_spanish_cues_named_for_the_language() -> None:
    cues, took = translated(KaptionSettings(), task("es"))
    assert (cues.name, cues.language, cues.translated) == ("talk.es", "es", True)
    assert "casa" in cues.cues[0].text.lower() and "roja" in cues.cues[0].text.lower()
    assert (cues.cues[0].start, cues.cues[0].end) == (1.0, 3.0)
    assert cues.model.startswith("apertium") and took > 0


def test_a_pair_nobody_configured_fails_that_language_with_the_reason() -> None:
    with pytest.raises(ValueError, match="no translation backend for en-de"):
        translated(KaptionSettings(), task("de"))
    [out] = failed(task("de"), TranslationUnavailable("model /m is missing"))
    assert out.topic == "translations.failed"
    assert out.event == TranslationFailed(
        job_id="j",
        language="de",
        reason="model /m is missing",
        error_class="TranslationUnavailable",
    )
