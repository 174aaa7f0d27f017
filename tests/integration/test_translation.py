"""Jobs in several languages on the real broker, through the translate stage's real backends:
English speech into Spanish with Debian's Apertium, the tiny Marian model (built at test time)
through transformers and through CTranslate2, and a language whose model is missing, which
fails alone (the job PARTIAL with the reason, the other languages complete)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agents.cues.check import check_cues
from agents.cues.model import Cue
from agents.subtitles.render import parse_cues
from agents.translate.ctranslate2_backend import convert
from agents.translate.tiny import build_tiny_marian
from clients.jobs import JobClient, JobResult
from streams.events.model import JobState
from streams.runtime.processes import free_port, wait_ready, worker_process
from streams.runtime.roles import FILE_STAGES
from streams.settings import KaptionSettings
from tests.integration.conftest import create_topics, fresh_settings
from tests.paths import MEDIA

pytestmark = pytest.mark.integration
SPEECH = MEDIA / "speech.flac"


@dataclass
class Cluster:
    settings: KaptionSettings
    missing: Path


@pytest.fixture(scope="module")
def cluster(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The file stages in one worker, with a translation.yaml of four pairs."""
    data = tmp_path_factory.mktemp("translation")
    tiny = build_tiny_marian(data / "opus-mt-tiny-en-fr")
    tiny_ct2 = convert(tiny, data / "opus-mt-tiny-en-it-ct2")
    missing = data / "opus-mt-en-de"  # never made: that language fails
    config = data / "translation.yaml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "defaults": {"beam_size": 1, "max_length": 24, "threads": 1},
                "pairs": {
                    "en-es": {"backend": "apertium", "mode": "eng-spa"},
                    "en-fr": {"backend": "transformers", "model": str(tiny)},
                    "en-it": {"backend": "ctranslate2", "model": str(tiny_ct2)},
                    "en-de": {"backend": "transformers", "model": str(missing)},
                },
            }
        )
    )
    settings = fresh_settings(bootstrap, data, translation_file=config)
    create_topics(settings)
    port = free_port()
    worker = settings.model_copy(update={"metrics_port": port})
    with worker_process(worker, FILE_STAGES, data / "worker.log") as process:
        wait_ready(port, lambda: process.poll() is None, 180)
        yield Cluster(settings, missing)
        assert process.poll() is None, (data / "worker.log").read_text()[-3000:]


def submit(cluster: Cluster, *languages: str) -> JobResult:
    with JobClient(cluster.settings) as client:
        job_id = client.submit(str(SPEECH), language="en", languages=languages)
        return client.wait(job_id, 240.0)


def text_of(srt: str) -> str:
    return " ".join(cue.text.replace("\n", " ") for cue in parse_cues(srt, "srt"))


def test_english_speech_gets_spanish_subtitles_with_the_same_timing(
    cluster: Cluster, tmp_path: Path
) -> None:
    result = submit(cluster, "es")
    assert result.state == JobState.COMPLETED, result.status.reason
    assert [(t.language, t.state) for t in result.status.translations] == [("es", "COMPLETED")]
    assert result.subtitles is not None
    [spanish] = result.translations
    assert (spanish.name, spanish.language, spanish.translated) == ("speech.es", "es", True)
    words = text_of(spanish.srt).lower()
    assert "zorro" in words and "perro" in words, words  # "the quick brown fox ... lazy dog"
    assert spanish.vtt.startswith("WEBVTT\nLanguage: es\n")
    source, target = parse_cues(result.subtitles.srt, "srt"), parse_cues(spanish.srt, "srt")
    # Starts keep the transcript's; an end may stay on for the translation's reading time.
    assert target[0].start == source[0].start and target[-1].end >= source[-1].end
    assert check_cues([Cue.from_text(c.start, c.end, c.text) for c in target]) == []
    written = sorted(p.name for p in result.write(tmp_path))
    assert written == ["speech.es.srt", "speech.es.vtt", "speech.srt", "speech.vtt"]


def test_one_language_failing_leaves_the_others_and_marks_the_job_partial(
    cluster: Cluster,
) -> None:
    result = submit(cluster, "fr", "it", "de")
    assert result.state == JobState.PARTIAL
    states = {t.language: (t.state, t.reason) for t in result.status.translations}
    assert states["fr"] == ("COMPLETED", None) and states["it"] == ("COMPLETED", None)
    state, why = states["de"]
    assert state == "FAILED" and why is not None and str(cluster.missing) in why
    assert result.status.reason is not None and result.status.reason.startswith("de: ")
    # The tiny models' words are random but real output of each path, in cues of their own.
    by_language = {t.language: t for t in result.translations}
    assert set(by_language) == {"fr", "it"}
    for ready in by_language.values():
        assert ready.cue_count > 0 and text_of(ready.srt).strip()
    assert result.subtitles is not None and result.subtitles.language == "en"


def test_the_spoken_language_as_a_target_is_the_transcript(cluster: Cluster) -> None:
    result = submit(cluster, "en")
    assert result.state == JobState.COMPLETED, result.status.reason
    [same] = result.translations
    assert result.subtitles is not None
    assert (same.name, same.srt) == ("speech.en", result.subtitles.srt)
