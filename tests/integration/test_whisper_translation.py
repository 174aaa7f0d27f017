"""English subtitles by Whisper's own translate task (the shipped translation.yaml's
``*-en: {backend: whisper}``) on the real broker with the real multilingual model: Spanish
speech gets NAME.en in English while NAME.srt stays Spanish; in speech that switches language
only the other language is translated (into Spanish by Apertium too: the Spanish part is kept);
an English-only model is refused with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agents.subtitles.render import parse_cues
from clients.cli import main
from clients.jobs import JobClient, JobResult
from clients.status import read_topic
from streams.events.codec import AvroCodec
from streams.events.model import CuesReady, JobState
from streams.models.catalog import load_catalog
from tests.integration.conftest import Cluster
from tests.integration.test_languages import ENGLISH, LANGUAGES, mixed_speech, transcripts
from tests.paths import MEDIA
from tests.wer import normalise, word_error_rate

pytestmark = pytest.mark.integration

# Whisper base's English of the espeak-ng Spanish clip, against its reference translation:
# 0.57 (0.53 over bench/translation_wer.py's three Spanish clips). The bound leaves room, and
# still fails text that is not an English rendering of it (the Spanish transcript scores 1.0).
ENGLISH_WER_BOUND = 0.75
# Words every English sentence is full of, and Spanish text is not ("a" is both).
STOP_WORDS = frozenset(
    {"the", "an", "of", "to", "in", "on", "at", "and", "is", "are", "was", "we", "you", "i"}
    | {"it", "for", "with", "this", "that", "be", "have", "my", "your", "they", "where", "going"}
)


def submit(cluster: Cluster, source: Path, english: str = "en", **asked: Any) -> JobResult:
    """A job with English as its target language."""
    with JobClient(cluster.settings) as client:
        job_id = client.submit(str(source), languages=[english], **asked)
        return client.wait(job_id, 240.0, alive=cluster.alive)


def text_of(srt: str) -> str:
    return " ".join(cue.text.replace("\n", " ") for cue in parse_cues(srt, "srt"))


def english_share(text: str) -> float:
    words = normalise(text).split()
    return sum(w in STOP_WORDS for w in words) / max(1, len(words))


def cues_ready(cluster: Cluster, job_id: str) -> dict[str, CuesReady]:
    """The job's CuesReady by language (each partition read to its end)."""
    codec = AvroCodec(cluster.settings.schemas_dir)
    found: dict[str, CuesReady] = {}

    def take(key: bytes | None, value: bytes | None) -> None:
        event = codec.decode(value) if value else None
        if isinstance(event, CuesReady) and event.job_id == job_id:
            found[event.name] = event

    read_topic(cluster.settings, "cues.ready", take, "cues")
    return found


def test_spanish_speech_gets_english_subtitles_from_whisper(
    cluster: Cluster, tmp_path: Path
) -> None:
    clip = LANGUAGES["lang_es.mp4"]
    result = submit(
        cluster,
        MEDIA / "lang_es.mp4",
        language="auto",
        model="base",
    )
    assert result.state == JobState.COMPLETED, result.status.reason
    assert [(t.language, t.state) for t in result.status.translations] == [("en", "COMPLETED")]
    assert result.subtitles is not None and result.subtitles.language == "es"
    [english] = result.translations
    assert (english.name, english.language, english.translated) == ("lang_es.en", "en", True)
    assert english.vtt.startswith("WEBVTT\nLanguage: en\n")
    heard, said = text_of(english.srt), text_of(result.subtitles.srt)
    assert english_share(heard) > 0.4, heard
    assert word_error_rate(clip["english"], heard) < ENGLISH_WER_BOUND, heard
    # The transcript stays Spanish.
    assert word_error_rate(clip["text"], said) < 0.5 and english_share(said) < 0.1, said
    assert word_error_rate(clip["english"], said) > ENGLISH_WER_BOUND
    # Each segment carries its English; the cues name the model that translated them.
    segments = transcripts(cluster, result.status.job_id)
    assert segments and all(
        s.language == "es" and s.whisper_translate and s.english_words and not s.translation_error
        for s in segments
    )
    base = load_catalog(cluster.settings).get("base")
    made = cues_ready(cluster, result.status.job_id)["lang_es.en"]
    assert made.model == f"{base.label} (task: translate)" and made.translated
    source, target = parse_cues(result.subtitles.srt, "srt"), parse_cues(english.srt, "srt")
    assert abs(target[0].start - source[0].start) < 1.0  # the same speech, timed by its words
    assert all(len(line) <= 42 for cue in target for line in cue.text.split("\n"))
    written = sorted(p.name for p in result.write(tmp_path))
    assert written == ["lang_es.en.srt", "lang_es.en.vtt", "lang_es.srt", "lang_es.vtt"]


def test_only_speech_in_another_language_is_translated(cluster: Cluster, tmp_path: Path) -> None:
    """The target is the detected language (English, the first speech): the English part is
    kept as transcribed, the Spanish part translated."""
    source = mixed_speech(tmp_path / "mixed.wav")
    result = submit(
        cluster,
        source,
        language="auto",
        model="base",
        language_detection="segment",
    )
    assert result.state == JobState.COMPLETED, result.status.reason
    assert result.status.language == "en" and result.subtitles is not None
    [english] = result.translations
    segments = transcripts(cluster, result.status.job_id)
    assert {s.language for s in segments} == {"en", "es"}
    spanish_from = min(s.start for s in segments if s.language == "es")
    cues = parse_cues(english.srt, "srt")
    before = " ".join(c.text for c in cues if c.start < spanish_from)
    after = " ".join(c.text for c in cues if c.start >= spanish_from)
    transcript = parse_cues(result.subtitles.srt, "srt")
    assert before == " ".join(c.text for c in transcript if c.start < spanish_from)
    assert word_error_rate(ENGLISH["text"], before) < 0.3, before
    assert word_error_rate(LANGUAGES["lang_es.mp4"]["english"], after) < ENGLISH_WER_BOUND, after
    said = " ".join(c.text for c in transcript if c.start >= spanish_from)
    assert english_share(after) > 0.4 and english_share(said) < 0.1, (after, said)


def test_a_machine_translated_target_keeps_the_speech_already_in_it(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Speech that switches from English to Spanish into Spanish (Apertium's en-es): the
    Spanish part is kept as transcribed, only the English part is translated."""
    source = mixed_speech(tmp_path / "mixed.wav")
    result = submit(
        cluster,
        source,
        english="es",
        language="auto",
        model="base",
        language_detection="segment",
    )
    assert result.state == JobState.COMPLETED, result.status.reason
    assert [(t.language, t.state) for t in result.status.translations] == [("es", "COMPLETED")]
    assert result.status.language == "en" and result.subtitles is not None
    [spanish] = result.translations
    assert (spanish.name, spanish.language) == ("mixed.es", "es")
    segments = transcripts(cluster, result.status.job_id)
    assert {s.language for s in segments} == {"en", "es"}
    spanish_from = min(s.start for s in segments if s.language == "es")
    cues, transcript = parse_cues(spanish.srt, "srt"), parse_cues(result.subtitles.srt, "srt")

    def said(of: list[Any], spanish_part: bool) -> str:
        return " ".join(
            " ".join(c.text.split()) for c in of if (c.start >= spanish_from) == spanish_part
        )

    # The Spanish part: the transcript's words, cue for cue (only re-wrapped).
    assert said(cues, True) == said(transcript, True) and said(cues, True)
    assert [c.start for c in cues if c.start >= spanish_from] == [
        c.start for c in transcript if c.start >= spanish_from
    ]
    # The English part: Apertium's Spanish of it, at the transcript's times.
    english, translated = said(transcript, False), said(cues, False)
    assert word_error_rate(ENGLISH["text"], english) < 0.3, english
    assert english_share(english) > 0.2 and english_share(translated) < 0.05, translated
    assert {"zorro", "perro"} <= set(normalise(translated).split()), translated
    assert word_error_rate(english, translated) > 0.6, translated
    assert cues[0].start == transcript[0].start
    made = cues_ready(cluster, result.status.job_id)["mixed.es"]
    assert made.model.startswith("apertium") and made.translated


def test_an_english_only_model_cannot_translate_into_english(cluster: Cluster) -> None:
    settings = cluster.settings
    flags = ["--bootstrap-servers", settings.bootstrap_servers, "--topic-prefix"]
    args = ["submit", str(MEDIA / "lang_es.mp4"), "--translate", "en", *flags]
    refused = CliRunner().invoke(main, [*args, settings.topic_prefix])
    assert refused.exit_code == 2
    reason = "model 'tiny.en' is English-only and cannot translate speech into English"
    assert reason in " ".join(refused.output.split()), refused.output
    # A producer that skips the CLI's checks: the orchestrator refuses it the same way.
    result = submit(
        cluster,
        MEDIA / "lang_es.mp4",
        language="auto",
    )
    assert result.state == JobState.FAILED
    assert result.status.reason is not None and reason in result.status.reason
    assert result.status.segments_total == 0


def test_english_speech_into_english_is_the_transcript(cluster: Cluster) -> None:
    result = submit(
        cluster,
        MEDIA / "speech.flac",
        language="en",
    )
    assert result.state == JobState.COMPLETED, result.status.reason
    [same] = result.translations
    assert result.subtitles is not None
    assert (same.name, same.srt) == ("speech.en", result.subtitles.srt)
