"""Nothing is lost: killed workers, lost events, mixed deployments and a broken model."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from clients.jobs import JobClient, JobResult
from streams.broker.admin import consumer_lag
from streams.broker.kind import timings
from streams.broker.topics import Outgoing
from streams.events.codec import AvroCodec
from streams.events.model import JobState, JobStatus, SegmentTranscribed, StageFailed
from streams.runtime.kafka import librdkafka_config
from streams.runtime.processes import free_port, wait_ready, worker_process
from streams.runtime.roles import STAGES
from streams.settings import KaptionSettings
from tests.integration.conftest import (
    ONE_SEGMENT_AT_A_TIME,
    create_topics,
    fresh_settings,
    run_job,
)
from tests.integration.helpers import headers_of, read, value_of
from tests.paths import MEDIA, SAMPLES

pytestmark = pytest.mark.integration


def transcribed_ids(settings: KaptionSettings) -> list[str]:
    """Segment ids of every transcription result on the topic (duplicates included)."""
    codec = AvroCodec(settings.schemas_dir)
    records = read(settings, "segments.transcribed", 10**6, 3.0)
    return [codec.decode_as(SegmentTranscribed, value_of(m)).segment_id for m in records]


def small_segments(bootstrap: str, data_dir: Path, **overrides: Any) -> KaptionSettings:
    return fresh_settings(bootstrap, data_dir, **ONE_SEGMENT_AT_A_TIME, **overrides)


def test_a_worker_killed_mid_job_is_replaced_by_per_stage_processes(
    bootstrap: str, tmp_path: Path
) -> None:
    """A `--role all` worker is killed (SIGKILL) while segments are provably in flight; one
    process per stage takes over the same consumer groups and job table, and the subtitles are
    identical to those of an undisturbed run."""
    settings = small_segments(bootstrap, tmp_path, job_stall_s=60.0)
    create_topics(settings)
    sample = str(SAMPLES / "demo.mp4")
    statuses: list[JobStatus] = []
    with JobClient(settings) as client:
        with worker_process(settings, "all", tmp_path / "all.log", graceful=False) as first:
            reference = client.wait(client.submit(sample), 180, alive=lambda: first.poll() is None)
            assert reference.state == JobState.COMPLETED and reference.status.segments_total >= 4
            job_id = client.submit(sample)
            while not any(0 < s.segments_done < s.segments_total for s in statuses):
                client.wait_for_status(job_id, 120, statuses.append)
        # Killed: the results on the topic now are all it produced for this job.
        done_at_kill = {s for s in transcribed_ids(settings) if s.startswith(job_id)}
        assert 0 < len(done_at_kill) < reference.status.segments_total
        with contextlib.ExitStack() as stack:
            workers = [
                stack.enter_context(worker_process(settings, stage, tmp_path / f"{stage}.log"))
                for stage in STAGES
            ]
            result = client.wait(job_id, 240, alive=lambda: all(w.poll() is None for w in workers))
    assert result.state == JobState.COMPLETED, result.status
    assert result.status.segments_done == result.status.segments_total
    assert result.subtitles is not None and reference.subtitles is not None
    assert result.subtitles.srt == reference.subtitles.srt
    assert result.status.segments_done == reference.status.segments_done


def test_processes_running_the_same_stage_share_its_work(bootstrap: str, tmp_path: Path) -> None:
    """A `--role all` worker and a `--role transcribe` one join one transcription group, so
    every segment is transcribed once, not once per process (as when groups were named after
    the process's role)."""
    settings = small_segments(bootstrap, tmp_path)
    create_topics(settings)
    ports = free_port(), free_port()
    with (
        worker_process(
            settings.model_copy(update={"metrics_port": ports[0]}), "all", tmp_path / "all.log"
        ) as everything,
        worker_process(
            settings.model_copy(update={"metrics_port": ports[1]}),
            "transcribe",
            tmp_path / "transcribe.log",
        ) as extra,
    ):
        # Both join, then the group rebalances once (the first member hears of it at its next
        # heartbeat); waiting it out keeps at-least-once redelivery around a rebalance out of
        # the count.
        wait_ready(ports[0], lambda: everything.poll() is None, 120)
        wait_ready(ports[1], lambda: extra.poll() is None, 120)
        time.sleep(3 * timings(settings).heartbeat_interval_s)
        result = run_job(
            settings,
            str(SAMPLES / "demo.mp4"),
            alive=lambda: everything.poll() is None and extra.poll() is None,
        )
        # Counted while both run: when one leaves, the other may read again what the leaver
        # had not yet committed (at least once), which is not what is checked here.
        ids = transcribed_ids(settings)
    assert result.state == JobState.COMPLETED, result.status
    assert len(ids) == len(set(ids)) == result.status.segments_total >= 4


def test_the_job_table_survives_a_kill_right_after_a_change(bootstrap: str, tmp_path: Path) -> None:
    """Only the orchestrator runs. Once it has recorded a new job and committed the request,
    it is killed; its replacement, reading the table back from the changelog, still knows the
    job (a failure reported for it moves it to FAILED; an unknown job would be ignored).

    Kafka's own 45-s session: with the tests' 10 s, the replacement joined 9 s after it started
    and then processed nothing for 50 s in one CI run (not reproduced in two runs here; see the
    README's Known limits)."""
    settings = fresh_settings(bootstrap, tmp_path, session_timeout_s=45.0)
    create_topics(settings)
    group = f"{settings.topic_prefix}orchestrator"
    with JobClient(settings) as client:
        with worker_process(settings, "orchestrator", tmp_path / "first.log", graceful=False):
            job_id = client.submit(str(MEDIA / "speech.wav"))
            first = client.wait_for_status(job_id, 60, lambda status: None)
            assert first.state == JobState.DECODING
            wait_until(lambda: committed(settings, group, "jobs.requested") >= 1)
        with worker_process(settings, "orchestrator", tmp_path / "second.log") as second:
            failure = StageFailed(
                job_id=job_id, stage="test", reason="after the kill", error_class="X"
            )
            client.send(Outgoing("stage.failed", failure))
            result = client.wait(job_id, 120, alive=lambda: second.poll() is None)
    assert result.state == JobState.FAILED and result.status.reason == "test: after the kill"


def committed(settings: KaptionSettings, group: str, logical: str) -> int:
    topic = settings.topic_prefix + logical
    return sum(row.committed or 0 for row in consumer_lag(settings, [group], [topic]))


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_lost_event_is_redriven(bootstrap: str, tmp_path: Path) -> None:
    """The decode request is consumed and committed by an impostor before any decode worker
    starts, i.e. lost; the orchestrator's stall check re-drives the job and it completes. The
    other stages run together in one process (repeated --role)."""
    settings = fresh_settings(bootstrap, tmp_path, job_stall_s=10.0)
    create_topics(settings)
    with (
        JobClient(settings) as client,
        worker_process(settings, "orchestrator", tmp_path / "orch.log") as orchestrator,
    ):
        job_id = client.submit(str(MEDIA / "speech.mp4"))
        swallow_one(settings, "decode.requested", f"{settings.topic_prefix}decode")
        rest = [stage for stage in STAGES if stage != "orchestrator"]
        with worker_process(settings, rest, tmp_path / "rest.log") as others:
            result = client.wait(
                job_id, 180, alive=lambda: None is orchestrator.poll() is others.poll()
            )
    assert result.state == JobState.COMPLETED, result.status.reason
    assert result.subtitles is not None and result.subtitles.cue_count > 0
    assert len(read(settings, "decode.requested", 2)) >= 2  # the original (lost) and a re-drive


def swallow_one(settings: KaptionSettings, logical: str, group: str) -> None:
    """Reads one record and commits it for ``group`` without acting on it (a manual
    assignment, so the group's own members later see only the committed offset)."""
    topic = settings.topic_prefix + logical
    consumer = Consumer(
        librdkafka_config(settings, **{"group.id": group, "enable.auto.commit": False})
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        deadline = time.monotonic() + 30
        while (message := consumer.poll(0.5)) is None or message.error() is not None:
            assert time.monotonic() < deadline, "nothing to swallow"
        position = TopicPartition(topic, message.partition() or 0, (message.offset() or 0) + 1)
        consumer.commit(offsets=[position], asynchronous=False)
    finally:
        consumer.close()


def test_a_broken_model_fails_the_job_with_the_cause(bootstrap: str, tmp_path: Path) -> None:
    """The workers' model does not exist: every segment fails at once (a missing model is a
    permanent error, not retried), the job ends FAILED with the cause, and each segment is on
    the dead-letter topic."""
    settings = fresh_settings(bootstrap, tmp_path, whisper_model=str(tmp_path / "no-such-model"))
    create_topics(settings)
    with (
        worker_process(settings, "all", tmp_path / "worker.log") as worker,
        JobClient(settings) as client,
    ):
        # English named: speech detection needs no model to find the language.
        job_id = client.submit(str(MEDIA / "speech.mp4"), language="en")
        result: JobResult = client.wait(job_id, 120, alive=lambda: worker.poll() is None)
    assert result.state == JobState.FAILED
    reason = result.status.reason or ""
    assert reason.startswith("all 1 segments failed: transcribe: no model could be loaded"), reason
    assert "unknown model" in reason and "no-such-model" in reason
    dead = read(settings, "segments.dlq", 1)
    headers = headers_of(dead[0])
    assert headers["kaption.error.attempt"] == "1"
    assert headers["kaption.error.class"] == "NoModelError"


def test_a_lost_segment_is_sent_again_when_overdue(bootstrap: str, tmp_path: Path) -> None:
    """A speech segment is consumed and committed by an impostor in the transcription group,
    i.e. lost. Long before the job would count as stalled, its outstanding segment is overdue
    and sent again, and the job completes."""
    settings = fresh_settings(bootstrap, tmp_path, job_stall_s=3600.0, segment_overdue_grace_s=4.0)
    create_topics(settings)
    rest = [stage for stage in STAGES if stage != "transcribe"]
    with (
        JobClient(settings) as client,
        worker_process(settings, rest, tmp_path / "rest.log") as others,
    ):
        job_id = client.submit(str(MEDIA / "speech.mp4"))
        swallow_one(settings, "segments", f"{settings.topic_prefix}transcribe")
        with worker_process(settings, "transcribe", tmp_path / "transcribe.log") as transcribe:
            result = client.wait(
                job_id, 120, alive=lambda: None is others.poll() is transcribe.poll()
            )
    assert result.state == JobState.COMPLETED, result.status.reason
    assert result.subtitles is not None and result.subtitles.cue_count > 0
    assert len(read(settings, "decode.requested", 2)) >= 2  # the original and the re-send
    assert len(read(settings, "segments", 2)) >= 2  # the lost segment, and again


def test_the_orchestrator_killed_mid_job_resumes_it(bootstrap: str, tmp_path: Path) -> None:
    """The orchestrator runs alone and is killed (SIGKILL) while results are coming in; its
    replacement rebuilds the job from the changelogs and the subtitles are identical to an
    undisturbed run's."""
    settings = small_segments(bootstrap, tmp_path, job_stall_s=60.0)
    create_topics(settings)
    sample = str(SAMPLES / "demo.mp4")
    statuses: list[JobStatus] = []
    rest = [stage for stage in STAGES if stage != "orchestrator"]
    with (
        JobClient(settings) as client,
        worker_process(settings, rest, tmp_path / "rest.log") as others,
    ):
        orchestrator = tmp_path / "orchestrator.log"
        with worker_process(settings, "orchestrator", orchestrator, graceful=False) as first:
            alive = lambda: None is first.poll() is others.poll()  # noqa: E731
            reference = client.wait(client.submit(sample), 180, alive=alive)
            assert reference.state == JobState.COMPLETED and reference.status.segments_total >= 4
            job_id = client.submit(sample)
            while not any(0 < s.segments_done < s.segments_total for s in statuses):
                client.wait_for_status(job_id, 120, statuses.append)
        with worker_process(settings, "orchestrator", tmp_path / "second.log") as second:
            result = client.wait(job_id, 180, alive=lambda: None is second.poll() is others.poll())
    assert result.state == JobState.COMPLETED, result.status
    assert result.subtitles is not None and reference.subtitles is not None
    assert result.subtitles.srt == reference.subtitles.srt
    assert result.status.segments_done == reference.status.segments_done
