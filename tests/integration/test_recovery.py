"""Nothing is lost: a killed worker, a lost event and a stalled job all end in subtitles."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import jiwer
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.client import JobClient, JobResult
from streams.jobs import JobState
from streams.kafka import client_kwargs
from streams.processes import worker_process
from streams.settings import REPO_ROOT, KaptionSettings
from streams.subtitles import parse_cues
from tests.integration.conftest import create_topics, fresh_settings
from tests.integration.helpers import normalise, read

pytestmark = pytest.mark.integration
MEDIA = REPO_ROOT / "tests" / "media"


def test_job_survives_a_killed_worker(bootstrap: str, tmp_path: Path) -> None:
    # 10 s windows: the 29 s sample travels as three audio windows, planned separately. A short
    # stall limit: should an event be lost in the crash, the re-drive finds it within the test.
    settings = fresh_settings(bootstrap, tmp_path, audio_window_s=10.0, job_stall_s=8.0)
    create_topics(settings)
    states: list[str] = []

    def track(status: dict[str, object]) -> None:
        states.append(str(status["state"]))

    async def scenario() -> JobResult:
        async with JobClient(settings) as client:
            with worker_process(settings, "all", tmp_path / "first.log", graceful=False) as first:
                job_id = await client.submit(str(REPO_ROOT / "samples" / "demo.mp4"))
                # Follow the job until transcription is under way, then kill -9 the worker.
                while JobState.TRANSCRIBING not in states:
                    await client.wait_for_status(job_id, 120, track)
                assert first.poll() is None
            assert first.returncode is not None  # killed with the segment in flight
            with worker_process(settings, "all", tmp_path / "second.log") as second:
                return await client.wait(job_id, 240, track, lambda: second.poll() is None)

    result = asyncio.run(scenario())
    assert result.state == JobState.COMPLETED, (result.status, states)
    assert result.subtitles is not None and result.subtitles["cue_count"] > 3
    assert result.status["segments_done"] == result.status["segments_total"] >= 3
    text = " ".join(c.text for c in parse_cues(result.subtitles["srt"], "srt"))
    reference = (REPO_ROOT / "samples" / "demo.txt").read_text()
    assert jiwer.wer(normalise(reference), normalise(text)) < 0.35


def test_one_process_per_role_and_a_lost_event_is_redriven(bootstrap: str, tmp_path: Path) -> None:
    """Each role in its own process (own consumer group). The decode request is consumed and
    committed by an impostor before the decode worker starts, i.e. lost; the orchestrator's
    stall check re-drives the job and it completes."""
    settings = fresh_settings(bootstrap, tmp_path, job_stall_s=10.0)
    create_topics(settings)

    async def scenario() -> JobResult:
        async with JobClient(settings) as client, contextlib.AsyncExitStack() as stack:
            stack.enter_context(worker_process(settings, "orchestrator", tmp_path / "orch.log"))
            job_id = await client.submit(str(MEDIA / "speech.mp4"))
            await swallow_one(settings, "decode.requested", group=f"{settings.topic_prefix}decode")
            workers = [
                stack.enter_context(worker_process(settings, role, tmp_path / f"{role}.log"))
                for role in ("decode", "vad", "transcribe", "postprocess", "sync")
            ]
            return await client.wait(
                job_id, 180, alive=lambda: all(w.poll() is None for w in workers)
            )

    result = asyncio.run(scenario())
    assert result.state == JobState.COMPLETED, result.status["reason"]
    assert result.subtitles is not None and result.subtitles["cue_count"] > 0
    requests = read(settings, f"{settings.topic_prefix}decode.requested", 4, 2)
    assert len(requests) >= 2  # the original (lost) and a re-drive


async def swallow_one(settings: KaptionSettings, logical: str, group: str) -> None:
    """Reads one record and commits it for ``group`` without acting on it (a manual
    assignment, so the group's own members see only the committed offset)."""
    topic = settings.topic_prefix + logical
    consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        record = await asyncio.wait_for(consumer.getone(), 30)
        await consumer.commit({TopicPartition(topic, record.partition): record.offset + 1})
    finally:
        await consumer.stop()


def test_a_broken_model_fails_the_job_with_the_cause(bootstrap: str, tmp_path: Path) -> None:
    """Every segment fails its attempts (the configured model does not exist): the job ends
    FAILED with the cause, and each segment is on the dead-letter topic."""
    settings = fresh_settings(bootstrap, tmp_path, whisper_model=str(tmp_path / "no-such-model"))
    create_topics(settings)

    async def scenario() -> JobResult:
        async with JobClient(settings) as client:
            with worker_process(settings, "all", tmp_path / "worker.log") as worker:
                job_id = await client.submit(str(MEDIA / "speech.mp4"))
                return await client.wait(job_id, 120, alive=lambda: worker.poll() is None)

    result = asyncio.run(scenario())
    assert result.state == JobState.FAILED
    reason = result.status["reason"]
    assert reason.startswith("all 1 segments failed: failed 3 times, last:"), reason
    assert "no-such-model" in reason
    dead = read(settings, f"{settings.topic_prefix}segments.dlq", 1, 1)
    assert {k: v.decode() for k, v in dead[0].headers}["kaption.error.attempt"] == "3"
