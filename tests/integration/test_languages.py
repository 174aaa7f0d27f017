"""Jobs in other languages on the real broker and the real models: multilingual Whisper base
(kaption[multilingual]) chosen per job, the language detected once from the first speech or in
every segment, or forced; a model or language the deployment cannot do refused with the reason."""

from __future__ import annotations

import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from agents.decode.media import decode_audio
from clients.cli import main
from clients.jobs import JobClient, JobResult
from clients.status import read_topic
from streams.events.audio import SAMPLE_RATE
from streams.events.codec import AvroCodec
from streams.events.model import JobState, SegmentTranscribed
from streams.models.catalog import load_catalog
from tests.integration.conftest import Cluster
from tests.paths import MEDIA
from tests.wer import word_error_rate

pytestmark = pytest.mark.integration

LANGUAGES = json.loads((MEDIA / "languages.json").read_text())
ENGLISH = json.loads((MEDIA / "speech.json").read_text())


def submit(cluster: Cluster, source: Path, **asked: Any) -> JobResult:
    with JobClient(cluster.settings) as client:
        job_id = client.submit(str(source), **asked)
        return client.wait(job_id, 240.0, alive=cluster.alive)


def transcripts(cluster: Cluster, job_id: str) -> list[SegmentTranscribed]:
    """The job's transcribed segments (every one, each partition read to its end), in order."""
    codec = AvroCodec(cluster.settings.schemas_dir)
    found: list[SegmentTranscribed] = []

    def take(key: bytes | None, value: bytes | None) -> None:
        event = codec.decode(value) if value else None
        if isinstance(event, SegmentTranscribed) and event.job_id == job_id:
            found.append(event)

    read_topic(cluster.settings, "segments.transcribed", take, "transcripts")
    return sorted(found, key=lambda w: w.start)


def test_spanish_is_detected_and_transcribed_by_the_multilingual_model(cluster: Cluster) -> None:
    clip = LANGUAGES["lang_es.mp4"]
    result = submit(cluster, MEDIA / "lang_es.mp4", language="auto", model="base")
    assert result.state == JobState.COMPLETED, result.status.reason
    base = load_catalog(cluster.settings).get("base")
    assert result.status.language == "es"
    assert result.status.models == (base.label,)
    assert result.subtitles is not None and result.subtitles.language == "es"
    assert result.subtitles.vtt.startswith("WEBVTT\nLanguage: es\n")
    heard = " ".join(line for line in result.subtitles.srt.splitlines() if line[:1].isalpha())
    assert word_error_rate(clip["text"], heard) < 0.5, heard
    words = transcripts(cluster, result.status.job_id)
    assert words and {(w.model, w.model_version, w.language) for w in words} == {
        ("base", base.version, "es")
    }


def test_a_forced_language_is_used_as_given(cluster: Cluster) -> None:
    result = submit(cluster, MEDIA / "lang_de.mp4", language="de", model="base")
    assert result.state == JobState.COMPLETED, result.status.reason
    assert result.status.language == "de"
    assert {w.language for w in transcripts(cluster, result.status.job_id)} == {"de"}


def test_english_by_default_costs_no_detection(cluster: Cluster) -> None:
    """The default model is English-only: "auto" is English without a detection call."""
    result = submit(cluster, MEDIA / "speech.flac")
    assert result.state == JobState.COMPLETED, result.status.reason
    tiny = load_catalog(cluster.settings).get("tiny.en")
    assert (result.status.language, result.status.models) == ("en", (tiny.label,))


def mixed_speech(path: Path) -> Path:
    """English, 4 s of silence (speech detection splits there), then Spanish: one file."""
    english = decode_audio(str(MEDIA / "speech.flac")).pcm
    spanish = decode_audio(str(MEDIA / "lang_es.mp4")).pcm
    silence = np.zeros(4 * SAMPLE_RATE, dtype=np.int16)
    pcm = np.concatenate([english, silence, spanish])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return path


def test_speech_that_switches_language_is_detected_per_segment(
    cluster: Cluster, tmp_path: Path
) -> None:
    source = mixed_speech(tmp_path / "mixed.wav")
    per_segment = submit(
        cluster, source, language="auto", model="base", language_detection="segment"
    )
    assert per_segment.state == JobState.COMPLETED, per_segment.status.reason
    words = transcripts(cluster, per_segment.status.job_id)
    by_language = {w.language for w in words}
    assert by_language == {"en", "es"}, [(w.start, w.language, w.text) for w in words]
    assert per_segment.status.language == "en"  # the job's: its first speech
    spanish = " ".join(w.text for w in words if w.language == "es")
    assert word_error_rate(LANGUAGES["lang_es.mp4"]["text"], spanish) < 0.5, spanish
    # Detected once per job instead, the whole file is taken as English.
    once = submit(cluster, source, language="auto", model="base")
    assert once.state == JobState.COMPLETED, once.status.reason
    assert {w.language for w in transcripts(cluster, once.status.job_id)} == {"en"}


@pytest.mark.parametrize(
    ("asked", "reason"),
    [
        ({"model": "large-v9"}, "unknown model 'large-v9': the declared models are"),
        ({"language": "de"}, "model 'tiny.en' transcribes English only"),
        ({"language": "xx", "model": "base"}, "'xx' is neither 'auto' nor a language"),
    ],
)
def test_what_no_worker_can_do_fails_the_job_with_the_reason(
    cluster: Cluster, asked: dict[str, str], reason: str
) -> None:
    """A producer that skips the CLI's checks: the orchestrator refuses the job at once."""
    result = submit(cluster, MEDIA / "speech.flac", **asked)
    assert result.state == JobState.FAILED
    assert result.status.reason is not None and reason in result.status.reason
    assert result.status.segments_total == 0  # nothing was decoded or transcribed


def test_the_cli_refuses_before_publishing(cluster: Cluster) -> None:
    settings = cluster.settings
    flags = ["--bootstrap-servers", settings.bootstrap_servers, "--topic-prefix"]
    args = ["submit", str(MEDIA / "speech.flac"), "--language", "fr", *flags]
    result = CliRunner().invoke(main, [*args, settings.topic_prefix])
    assert result.exit_code == 2
    assert "model 'tiny.en' transcribes English only" in result.output
    assert "--model base" in result.output.replace("e.g. ", "")


def test_english_reference_still_holds_with_detection(cluster: Cluster) -> None:
    """base, detecting the language of English speech, transcribes it as English."""
    result = submit(cluster, MEDIA / "speech.flac", language="auto", model="base")
    assert result.state == JobState.COMPLETED, result.status.reason
    assert result.status.language == "en"
    assert result.subtitles is not None
    heard = " ".join(line for line in result.subtitles.srt.splitlines() if line[:1].isalpha())
    assert word_error_rate(ENGLISH["text"], heard) < 0.3, heard
