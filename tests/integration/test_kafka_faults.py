"""Faults on a real Apache Kafka cluster, the shortest cases that prove each point: a broker
killed or restarted in the middle of a job changes nothing in its subtitles, and a worker told
to stop without a broker exits in bounded time.

The cluster tests start three KRaft nodes of their own on loopback (replication factor 3,
min.insync.replicas 2); the single-broker ones a node of their own, killed and started again on
the same log directory (the JVM broker itself, not a proxy).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from clients.jobs import JobClient, JobResult
from streams.broker.local import LocalKafka, local_kafka
from streams.events.model import JobState, JobStatus
from streams.runtime.kafka import librdkafka_config
from streams.runtime.processes import worker_process
from streams.settings import KaptionSettings
from tests.integration.conftest import ONE_SEGMENT_AT_A_TIME, create_topics, fresh_settings
from tests.paths import SAMPLES

pytestmark = [pytest.mark.integration, pytest.mark.cluster]
SAMPLE = str(SAMPLES / "demo.mp4")
JOB_TIMEOUT_S = 240.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    home = KaptionSettings().kafka_home
    with local_kafka(tmp_path_factory.mktemp("cluster"), home, nodes=3, heap="384m") as kafka:
        yield kafka


@pytest.fixture(scope="module")
def reference(cluster: LocalKafka, tmp_path_factory: pytest.TempPathFactory) -> JobResult:
    """The sample's subtitles from an undisturbed run with the same settings."""
    settings = job_settings(cluster.bootstrap, tmp_path_factory.mktemp("reference"))
    create_topics(settings)
    with (
        worker_process(settings, "all", settings.data_dir / "worker.log") as worker,
        JobClient(settings) as client,
    ):
        result = client.wait(
            client.submit(SAMPLE), JOB_TIMEOUT_S, alive=lambda: worker.poll() is None
        )
    assert result.state == JobState.COMPLETED and result.status.segments_total >= 4
    return result


def job_settings(bootstrap: str, data_dir: Path) -> KaptionSettings:
    # Segments one at a time, so a job is provably mid-way while a broker goes down.
    return fresh_settings(bootstrap, data_dir, **ONE_SEGMENT_AT_A_TIME, job_stall_s=60.0)


def disturbed_job(settings: KaptionSettings, disturb: Callable[[], None]) -> JobResult:
    """Runs the sample through a `--role all` worker; calls ``disturb`` once the job is
    mid-way (some segments done, not all), then waits for the job's end."""
    statuses: list[JobStatus] = []
    with (
        worker_process(settings, "all", settings.data_dir / "worker.log") as worker,
        JobClient(settings) as client,
    ):
        alive = lambda: worker.poll() is None  # noqa: E731
        job_id = client.submit(SAMPLE)
        while not any(0 < s.segments_done < s.segments_total for s in statuses):
            status = client.wait_for_status(job_id, JOB_TIMEOUT_S, statuses.append)
            assert status.state not in (JobState.COMPLETED, JobState.FAILED), "ended unseen"
        disturb()
        return client.wait(job_id, JOB_TIMEOUT_S, alive=alive)


def assert_identical(result: JobResult, reference: JobResult) -> None:
    assert result.state == JobState.COMPLETED, result.status
    assert result.subtitles is not None and reference.subtitles is not None
    assert result.subtitles.srt == reference.subtitles.srt
    assert result.status.segments_done == reference.status.segments_total


def leaders(bootstrap: str, topic: str) -> dict[int, int]:
    """Partition: the node leading it."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    metadata = admin.list_topics(topic, timeout=10)
    return {p: part.leader for p, part in metadata.topics[topic].partitions.items()}


def wait_in_sync(cluster: LocalKafka, topic: str, timeout_s: float = 60.0) -> None:
    """Until every partition of ``topic`` has all its replicas in sync again."""
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap, "log_level": 0})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            parts = list(admin.list_topics(topic, timeout=5).topics[topic].partitions.values())
            if parts and all(len(p.isrs) == len(p.replicas) == len(cluster.nodes) for p in parts):
                return
        time.sleep(0.5)
    raise TimeoutError(f"{topic}: replicas not back in sync within {timeout_s:.0f} s")


def test_topics_on_three_brokers_have_three_copies_two_in_sync(
    cluster: LocalKafka, tmp_path: Path
) -> None:
    settings = job_settings(cluster.bootstrap, tmp_path)
    create_topics(settings)
    topic = f"{settings.topic_prefix}segments"
    wait_in_sync(cluster, topic)  # the new topic's partitions reach every broker's metadata
    admin = AdminClient(librdkafka_config(settings))
    parts = admin.list_topics(topic, timeout=10).topics[topic].partitions.values()
    assert len(parts) == 8 and {len(p.replicas) for p in parts} == {3}
    [future] = admin.describe_configs([ConfigResource("topic", topic)]).values()
    assert future.result()["min.insync.replicas"].value == "2"


def test_killing_the_leader_of_the_transcription_input_changes_nothing(
    cluster: LocalKafka, reference: JobResult, tmp_path: Path
) -> None:
    settings = job_settings(cluster.bootstrap, tmp_path)
    create_topics(settings)
    topic = f"{settings.topic_prefix}segments"
    killed: list[int] = []

    def kill_leader() -> None:
        led = list(leaders(cluster.bootstrap, topic).values())
        node_id = max(set(led), key=led.count)  # the node leading most of its partitions
        killed.append(node_id)
        cluster.nodes[node_id - 1].stop(graceful=False)  # SIGKILL

    result = disturbed_job(settings, kill_leader)
    assert killed and not cluster.nodes[killed[0] - 1].running()
    assert killed[0] not in leaders(cluster.bootstrap, topic).values()  # leadership moved
    assert_identical(result, reference)
    cluster.start_node(killed[0] - 1)
    wait_in_sync(cluster, topic)


def test_a_rolling_restart_of_every_broker_changes_nothing(
    cluster: LocalKafka, reference: JobResult, tmp_path: Path
) -> None:
    settings = job_settings(cluster.bootstrap, tmp_path)
    create_topics(settings)
    topic = f"{settings.topic_prefix}segments"

    def rolling_restart() -> None:
        for index, node in enumerate(cluster.nodes):
            node.stop(graceful=True)  # controlled shutdown: leadership moves first
            cluster.start_node(index)
            wait_in_sync(cluster, topic)

    assert_identical(disturbed_job(settings, rolling_restart), reference)


def test_the_single_broker_killed_and_restarted_mid_job_changes_nothing(
    reference: JobResult, tmp_path: Path
) -> None:
    home = KaptionSettings().kafka_home
    with local_kafka(tmp_path / "kafka", home, heap="384m") as kafka:
        settings = job_settings(kafka.bootstrap, tmp_path)
        create_topics(settings)
        node = kafka.nodes[0]

        def kill_and_restart() -> None:
            node.stop(graceful=False)  # SIGKILL: no controlled shutdown, no flush
            time.sleep(3)  # clients notice the broker is gone
            kafka.start_node(0)  # same log directory

        assert_identical(disturbed_job(settings, kill_and_restart), reference)


@pytest.mark.parametrize("signals", [1, 2])
def test_a_worker_stopped_without_its_broker_exits_in_bounded_time(
    signals: int, tmp_path: Path
) -> None:
    """SIGTERM to a `--role all` worker whose broker is gone: it exits within 30 s (the clean
    stop cannot reach the broker); a second SIGTERM exits at once."""
    home = KaptionSettings().kafka_home
    with local_kafka(tmp_path / "kafka", home, heap="384m") as kafka:
        settings = fresh_settings(kafka.bootstrap, tmp_path)
        create_topics(settings)
        with worker_process(settings, "all", tmp_path / "worker.log", graceful=False) as worker:
            time.sleep(12)  # the stages join their groups
            kafka.nodes[0].stop(graceful=False)
            time.sleep(3)
            started = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            if signals == 2:
                time.sleep(1)
                worker.send_signal(signal.SIGTERM)
            try:
                code = worker.wait(timeout=40)
            except subprocess.TimeoutExpired:
                pytest.fail("the worker was still running 40 s after SIGTERM")
            took = time.monotonic() - started
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert code != 0 or signals == 1, log[-3000:]
    if signals == 2:
        assert took < 5, f"{took:.1f} s after the second SIGTERM"
        assert "SIGTERM again while stopping: exiting now" in log
    else:
        assert took <= 30, f"{took:.1f} s"
