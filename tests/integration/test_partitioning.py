"""A job's request lands on the partition of its later events: the CLI and API's producer
(librdkafka) hashes keys as the agents' aiokafka and Java do (murmur2), so the orchestrator
worker that owns the job's partition sees every event of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner

from clients.jobs import JobClient
from streams.broker.topics import load_registry
from tests.integration.conftest import create_topics, fresh_settings
from tests.integration.helpers import read
from tests.paths import SAMPLES

pytestmark = pytest.mark.integration


def test_job_requests_are_partitioned_by_the_agents_key_hash(
    bootstrap: str, tmp_path: Path
) -> None:
    settings = fresh_settings(bootstrap, tmp_path)
    create_topics(settings)
    with JobClient(settings) as client:  # no worker: the requests stay as sent
        job_ids = {client.submit(str(SAMPLES / "demo.mp4")) for _ in range(12)}
    messages = read(settings, "jobs.requested", len(job_ids))
    registry = load_registry(settings.topics_file, settings.topic_prefix)
    partitions = list(range(registry.specs["jobs.requested"].partitions))
    keys = [message.key() or b"" for message in messages]
    assert {key.decode() for key in keys} == job_ids
    for key, message in zip(keys, messages, strict=True):
        assert message.partition() == DefaultPartitioner()(key, partitions, partitions), key
    assert len({message.partition() for message in messages}) > 1  # real choices were compared
