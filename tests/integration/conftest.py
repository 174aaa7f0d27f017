"""One broker per test session, a fresh topic set and worker per test module.

The broker is Apache Kafka: external when KAFKA_BOOTSTRAP_SERVERS is set, Testcontainers' Kafka
where a Docker engine answers, and otherwise a single local KRaft node started from the jars
`make kafka` fetched (streams/broker/local.py). Tansu keeps a smoke lane of its own
(test_tansu.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clients.jobs import JobClient, JobResult
from streams.broker.admin import apply_topics
from streams.broker.local import local_kafka
from streams.runtime.processes import worker_process
from streams.settings import KaptionSettings

pytestmark = pytest.mark.integration


def docker_engine() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    elif docker_engine():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:  # KRaft, as the local broker runs
            yield kafka.get_bootstrap_server()
    else:
        settings = KaptionSettings()
        state = tmp_path_factory.mktemp("kafka")
        with local_kafka(state, settings.kafka_home, heap=settings.kafka_heap) as kafka:
            yield kafka.bootstrap


# A job that is provably mid-way for a while: the 29 s sample cut into several segments (10 s
# windows, no merging across pauses), transcribed one at a time (no batch takes them all at once)
# and a status for every result (none held back), so a test can act between two results.
ONE_SEGMENT_AT_A_TIME: dict[str, Any] = {
    "audio_window_s": 10.0,
    "max_merge_gap_s": 0.0,
    "transcribe_batch_size": 1,
    "status_interval_s": 0.0,
}


# Tests kill workers on purpose: their groups move on after 10 s instead of Kafka's 45 s (the
# heartbeat stays 3 s; brokers accept sessions from 6 s).
TEST_SESSION_TIMEOUT_S = 10.0


def fresh_settings(bootstrap: str, data_dir: Path, **overrides: Any) -> KaptionSettings:
    """Settings with a topic prefix (so topics and consumer groups) no other test shares."""
    prefix = f"it{uuid.uuid4().hex[:8]}."
    overrides.setdefault("session_timeout_s", TEST_SESSION_TIMEOUT_S)
    return KaptionSettings(
        bootstrap_servers=bootstrap, topic_prefix=prefix, data_dir=data_dir, **overrides
    )


def create_topics(settings: KaptionSettings) -> None:
    report = apply_topics(settings)
    assert not report.drifted, report.drifted


def run_job(
    settings: KaptionSettings,
    source: str,
    timeout_s: float = 180.0,
    alive: Callable[[], bool] = lambda: True,
) -> JobResult:
    with JobClient(settings) as client:
        job_id = client.submit(source)
        return client.wait(job_id, timeout_s, alive=alive)


@dataclass
class Cluster:
    settings: KaptionSettings
    process: subprocess.Popen[bytes]
    log: Path

    def run(self, source: str, timeout_s: float = 180.0) -> JobResult:
        return run_job(self.settings, source, timeout_s, self.alive)

    def alive(self) -> bool:
        return self.process.poll() is None


@pytest.fixture(scope="module")
def cluster(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Topics plus one `kaption worker --role all` process, for the tests of one module."""
    data_dir = tmp_path_factory.mktemp("kaption")
    settings = fresh_settings(bootstrap, data_dir)
    create_topics(settings)
    log = data_dir / "worker.log"
    with worker_process(settings, "all", log) as process:
        yield Cluster(settings, process, log)
        assert process.poll() is None, "the worker died:\n" + log.read_text()[-4000:]
