"""A worker killed mid-job loses nothing: job state is in Kafka, the next worker finishes it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from streams.client import JobClient, JobResult
from streams.jobs import JobState
from streams.processes import worker_process
from streams.settings import REPO_ROOT
from tests.integration.conftest import create_topics, fresh_settings

pytestmark = pytest.mark.integration


def test_job_survives_a_killed_worker(bootstrap: str, tmp_path: Path) -> None:
    settings = fresh_settings(bootstrap, tmp_path)
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
    assert result.status["segments_done"] == result.status["segments_total"] >= 1
