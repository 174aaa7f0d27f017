"""Video files to subtitles through a real broker, real agents and the real tiny.en model."""

from __future__ import annotations

import asyncio
import json

import jiwer
import pytest

from streams.client import JobClient
from streams.codec import AvroCodec
from streams.cues import check_cues
from streams.jobs import JobState
from streams.settings import REPO_ROOT
from streams.subtitles import parse_cues
from tests.integration.conftest import Cluster
from tests.integration.helpers import normalise, read

pytestmark = pytest.mark.integration
MEDIA = REPO_ROOT / "tests" / "media"
REFERENCE = json.loads((MEDIA / "speech.json").read_text())
# Measured: bare faster-whisper (tiny.en, int8, same VAD) on this espeak-ng voice scores WER
# 0.107 (speech.mp4) to 0.286 (speech.wav, offset.mkv: "round-fark" for "brown fox"), and kaption
# gives the same text on each. 0.35 admits that model noise; losing one of the three sentences
# (a third of the words) or misplacing the audio still fails.
MAX_WER = 0.35
# Word timestamps from Whisper are approximate, and cues are held on screen after speech ends
# for reading time; cue edges may drift this far outside the measured speech.
SLACK_S = 0.6


def word_error_rate(hypothesis: str) -> float:
    return float(jiwer.wer(normalise(REFERENCE["text"]), normalise(hypothesis)))


def assert_inside_speech(cues_: list, offset: float) -> None:
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
    srt, vtt = result.subtitles["srt"], result.subtitles["vtt"]
    assert srt.startswith("1\n") and vtt.startswith("WEBVTT")
    for text, fmt in ((srt, "srt"), (vtt, "vtt")):
        cues = parse_cues(text, fmt)
        assert len(cues) == result.subtitles["cue_count"] > 0
        assert check_cues(cues) == []
        assert word_error_rate(" ".join(c.text for c in cues)) < MAX_WER
        assert_inside_speech(cues, offset)


def test_silence_completes_with_zero_cues(cluster: Cluster) -> None:
    result = cluster.run(str(MEDIA / "silence.mp4"))
    assert result.state == JobState.COMPLETED, result.status
    assert result.subtitles is not None and result.subtitles["cue_count"] == 0
    assert result.status["segments_total"] == 0
    assert parse_cues(result.subtitles["vtt"], "vtt") == []


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
    assert result.status["reason"].startswith(reason), result.status
    assert result.subtitles is None
    assert cluster.run(str(MEDIA / "speech.wav")).state == JobState.COMPLETED


def test_undecodable_event_is_dead_lettered_and_the_agent_goes_on(cluster: Cluster) -> None:
    settings = cluster.settings
    topic = f"{settings.topic_prefix}jobs.requested"

    async def publish_garbage() -> None:
        async with JobClient(settings) as client:
            await client.producer.send_and_wait(topic, b"not avro at all", key=b"garbage-job")

    asyncio.run(publish_garbage())
    dead = read(settings, f"{topic}.dlq", 1, 1)
    assert len(dead) == 1 and dead[0].value == b"not avro at all"
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert headers["kaption.error.stage"] == "orchestrator"
    assert headers["kaption.error.class"] == "DecodeError"
    assert headers["kaption.error.topic"] == topic
    assert "unknown encoding" in headers["kaption.error.message"]
    assert cluster.run(str(MEDIA / "speech.flac")).state == JobState.COMPLETED


def test_corrupt_segment_is_retried_then_reported_failed(cluster: Cluster) -> None:
    """A segment whose audio cannot be used fails K times, then becomes a SegmentFailed value
    and a dead letter with its cause; the worker keeps going."""
    settings = cluster.settings
    segment = {
        "job_id": "corrupt-job",
        "segment_id": "corrupt-job:00000",
        "index": 0,
        "start": 0.0,
        "end": 1.0,
        "sample_rate": 16000,
        "pcm": b"\x01\x02\x03",  # odd length: not int16 PCM
    }

    async def publish() -> None:
        async with JobClient(settings) as client:
            await client.send("segments", segment["segment_id"], "SpeechSegment", segment)

    asyncio.run(publish())
    prefix = settings.topic_prefix
    dead = read(settings, f"{prefix}segments.dlq", 1, 1)
    assert len(dead) == 1
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert headers["kaption.error.attempt"] == str(settings.transcribe_attempts)
    assert "odd length" in headers["kaption.error.message"]
    failed = read(settings, f"{prefix}segments.failed", 4, 1)
    assert len(failed) == 1
    record = AvroCodec(settings.schemas_dir).decode_as("SegmentFailed", failed[0].value)
    assert record["segment_id"] == "corrupt-job:00000"
    assert record["attempts"] == settings.transcribe_attempts
