"""read_statuses on a real broker: the latest status of every job, however it was batched."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from clients.jobs import JobClient
from clients.status import read_statuses, status_rows
from streams.broker.topics import Outgoing
from streams.events.model import JobState, JobStatus
from tests.examples import EXAMPLES, WHEN
from tests.integration.conftest import create_topics, fresh_settings

pytestmark = pytest.mark.integration


def example_status() -> JobStatus:
    event = EXAMPLES["JobStatus"]
    assert isinstance(event, JobStatus)
    return event


BASE = example_status()


def status(job_id: str, state: JobState, done: int, minute: int) -> JobStatus:
    return replace(
        BASE,
        job_id=job_id,
        name=f"video-{job_id}",
        state=state,
        segments_total=4,
        segments_done=done,
        segments_failed=0,
        reason=None,
        requested_at=WHEN + timedelta(minutes=ord(job_id[-1]) - ord("a")),
        updated_at=WHEN + timedelta(minutes=minute),
    )


def test_the_latest_status_of_every_job(bootstrap: str, tmp_path: Path) -> None:
    settings = fresh_settings(bootstrap, tmp_path)
    create_topics(settings)
    topic = "jobs.status"
    with JobClient(settings) as client:
        # One at a time: each its own batch.
        client.send(Outgoing(topic, status("job-a", JobState.REQUESTED, 0, 0)))
        client.send(Outgoing(topic, status("job-b", JobState.REQUESTED, 0, 1)))
        client.send(Outgoing(topic, status("job-a", JobState.DECODING, 0, 2)))

        def batch(*events: JobStatus | None, key: str = "") -> None:
            """Produced together, flushed once: one batch (a job's events share a partition)."""
            for event in events:
                value = None if event is None else client.codec.encode(event)
                client.producer.produce(
                    client.registry.name(topic),
                    value,
                    event.job_id.encode() if event is not None else key.encode(),
                )
            assert client.producer.flush(15) == 0

        # The latest status of a and c last in a batch of several: on Tansu the end offset
        # ListOffsets gives is then lower than the true end.
        batch(
            status("job-a", JobState.TRANSCRIBING, 1, 3),
            status("job-a", JobState.TRANSCRIBING, 3, 4),
            status("job-a", JobState.COMPLETED, 4, 5),
        )
        batch(
            status("job-c", JobState.REQUESTED, 0, 6),
            status("job-c", JobState.DECODING, 0, 7),
            status("job-c", JobState.TRANSCRIBING, 2, 8),
        )
        client.send(Outgoing(topic, status("job-b", JobState.DECODING, 0, 9)))
        # A job forgotten (a tombstone), and a record that is no event at all.
        client.send(Outgoing(topic, status("job-d", JobState.FAILED, 0, 10)))
        batch(None, key="job-d")
        client.producer.produce(client.registry.name(topic), b"not avro", b"job-e")
        assert client.producer.flush(15) == 0

    started = time.monotonic()
    statuses = read_statuses(settings, timeout_s=20.0)
    elapsed = time.monotonic() - started
    assert {job: (s.state, s.segments_done) for job, s in statuses.items()} == {
        "job-a": (JobState.COMPLETED, 4),
        "job-b": (JobState.DECODING, 0),
        "job-c": (JobState.TRANSCRIBING, 2),
    }
    assert elapsed < 10.0, f"reading took {elapsed:.1f} s: the end of a partition was missed"
    rows = status_rows(statuses.values(), WHEN + timedelta(hours=1))
    assert [row["job"] for row in rows] == ["job-c", "job-b", "job-a"]


def test_no_topic_no_jobs(bootstrap: str, tmp_path: Path) -> None:
    assert read_statuses(fresh_settings(bootstrap, tmp_path), timeout_s=10.0) == {}
