"""A broker outage loses nothing: every connection of the worker and the client goes through a
loopback TCP proxy that is cut for 60 s while a job is in flight."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clients.jobs import JobClient, JobResult
from streams.events.model import JobState, JobStatus
from streams.runtime.processes import worker_process
from streams.settings import KaptionSettings
from tests.integration.conftest import ONE_SEGMENT_AT_A_TIME, create_topics, fresh_settings
from tests.integration.helpers import read
from tests.integration.tcp_proxy import TcpProxy, proxied_broker
from tests.paths import SAMPLES

pytestmark = pytest.mark.integration

OUTAGE_S = 60.0
RECOVERY_LIMIT_S = 30.0  # the requirement: done within 30 s of the broker's return
# Words of a worker that relied on the safety nets rather than on its retries.
RESCUES = ("re-driven", "sent again")


def rescue_events(settings: KaptionSettings, jobs: int) -> int:
    """Events only the safety nets send: a second decode request or transcript for a job (a
    stall re-drive or an overdue re-send). JobChecks alone are no evidence: the timer also
    sends one to publish counts held back while a job was quiet."""
    requests = read(settings, "decode.requested", count=jobs + 1, timeout_s=3.0)
    transcripts = read(settings, "transcripts.complete", count=jobs + 1, timeout_s=3.0)
    return len(requests) + len(transcripts) - 2 * jobs


@dataclass
class ProxiedCluster:
    """A dedicated broker that advertises the proxy's address, so every client (worker, job
    client, admin) reaches it only through the proxy; topics and one `--role all` worker."""

    settings: KaptionSettings
    proxy: TcpProxy
    worker: subprocess.Popen[bytes]
    worker_log: Path

    def alive(self) -> bool:
        return self.worker.poll() is None


@contextlib.contextmanager
def proxied_cluster(data_dir: Path, **overrides: Any) -> Iterator[ProxiedCluster]:
    with contextlib.ExitStack() as stack:
        proxy = stack.enter_context(proxied_broker(data_dir / "broker"))
        settings = fresh_settings(proxy.address, data_dir, **overrides)
        create_topics(settings)
        log = data_dir / "worker.log"
        worker = stack.enter_context(worker_process(settings, "all", log, graceful=False))
        yield ProxiedCluster(settings, proxy, worker, log)


def outage_settings() -> dict[str, Any]:
    """A job that is mid-way for a while, and safety nets far out of reach, so only the retries
    can carry it through the outage."""
    return {
        **ONE_SEGMENT_AT_A_TIME,
        "job_stall_s": 3600.0,
        "segment_overdue_grace_s": 3600.0,
    }


@dataclass(frozen=True)
class OutageRun:
    result: JobResult
    at_cut: JobStatus  # the last status seen before the cut
    finished_before_restore: bool
    recovered_s: float  # the broker's return to the final status


def job_through_outage(
    cluster: ProxiedCluster, source: str, outage_s: float, timeout_s: float = 600.0
) -> OutageRun:
    """Submits ``source``, cuts the proxy once some but not all segments are done, restores it
    after ``outage_s`` and waits for the job to end."""
    statuses: list[JobStatus] = []
    # A user's client that waits out the outage rather than give up on it.
    patient = {"client_unreachable_timeout_s": outage_s + timeout_s}
    with JobClient(cluster.settings.model_copy(update=patient)) as client:
        job_id = client.submit(source)
        while not any(0 < s.segments_done < s.segments_total for s in statuses):
            client.wait_for_status(job_id, 120, statuses.append)
        cluster.proxy.cut()
        cut_at = time.monotonic()
        while time.monotonic() - cut_at < outage_s:  # the client keeps reading, as a user's
            client.poll(job_id, statuses.append)
        finished_early = any(s.state in (JobState.COMPLETED, JobState.FAILED) for s in statuses)
        cluster.proxy.restore()
        restored_at = time.monotonic()
        result = client.wait(job_id, timeout_s, alive=cluster.alive)
        recovered_s = time.monotonic() - restored_at
    at_cut = next(s for s in reversed(statuses) if 0 < s.segments_done < s.segments_total)
    return OutageRun(result, at_cut, finished_early, recovered_s)


def rescues_in(log: Path) -> list[str]:
    return [
        line
        for line in log.read_text(errors="replace").splitlines()
        if any(word in line for word in RESCUES)
    ]


def test_a_job_in_flight_survives_a_60_s_broker_outage(tmp_path: Path) -> None:
    """The proxy cuts every connection for 60 s after some but not all segment results; the job
    completes within 30 s of the broker's return with subtitles identical to an undisturbed
    run, the worker never exits, and neither the stall re-drive nor a segment re-dispatch
    happened."""
    sample = str(SAMPLES / "demo.mp4")
    with proxied_cluster(tmp_path, **outage_settings()) as cluster:
        with JobClient(cluster.settings) as client:
            reference = client.wait(client.submit(sample), 180, alive=cluster.alive)
        assert reference.state == JobState.COMPLETED and reference.status.segments_total >= 4
        # Waits at most three times the limit after the return: a lost event fails it fast.
        run = job_through_outage(cluster, sample, OUTAGE_S, 3 * RECOVERY_LIMIT_S)
        assert cluster.alive(), cluster.worker_log.read_text()[-4000:]
        rescued = rescue_events(cluster.settings, jobs=2)
    assert cluster.proxy.cuts == 1
    assert 0 < run.at_cut.segments_done < run.at_cut.segments_total
    assert not run.finished_before_restore
    assert run.result.state == JobState.COMPLETED, run.result.status
    assert run.recovered_s < RECOVERY_LIMIT_S, run.recovered_s
    assert run.result.subtitles is not None and reference.subtitles is not None
    assert run.result.subtitles.srt == reference.subtitles.srt
    assert run.result.subtitles.vtt == reference.subtitles.vtt
    assert rescued == 0, "the job relied on a re-drive or a re-send"
    assert rescues_in(cluster.worker_log) == []


def test_a_worker_that_cannot_publish_by_its_deadline_exits_and_loses_nothing(
    tmp_path: Path,
) -> None:
    """With KAPTION_PUBLISH_DEADLINE_S=5 and the broker gone, the worker logs CRITICAL and
    exits 75 instead of skipping the event it could not publish; once the broker is back, a
    new worker reads that event again and the job's subtitles match an undisturbed run."""
    sample = str(SAMPLES / "demo.mp4")
    settings = {**outage_settings(), "publish_deadline_s": 5.0}
    statuses: list[JobStatus] = []
    with proxied_cluster(tmp_path, **settings) as cluster, JobClient(cluster.settings) as client:
        reference = client.wait(client.submit(sample), 180, alive=cluster.alive)
        job_id = client.submit(sample)
        while not any(0 < s.segments_done < s.segments_total for s in statuses):
            client.wait_for_status(job_id, 120, statuses.append)
        cluster.proxy.cut()
        cut_at = time.monotonic()
        while cluster.alive() and time.monotonic() - cut_at < 120:
            client.poll(job_id, statuses.append)
        assert cluster.worker.poll() == 75, cluster.worker_log.read_text()[-4000:]
        log = cluster.worker_log.read_text(errors="replace")
        [critical] = [line for line in log.splitlines() if " CRITICAL " in line]
        assert "past KAPTION_PUBLISH_DEADLINE_S=5: exiting without skipping it" in critical
        cluster.proxy.restore()
        replacement_log = tmp_path / "replacement.log"
        with worker_process(cluster.settings, "all", replacement_log, graceful=False) as worker:
            result = client.wait(job_id, 180, alive=lambda: worker.poll() is None)
    assert result.state == JobState.COMPLETED, result.status
    assert result.subtitles is not None and reference.subtitles is not None
    assert result.subtitles.srt == reference.subtitles.srt
