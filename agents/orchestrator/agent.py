"""orchestrator: the only writer of job state (changelog-backed Faust tables keyed by job).

Consumes every event that moves a job and applies :func:`decide`; one agent per partition keeps
each job's events in order. A timer looks for stalled (or long finished) jobs and sends each a
JobCheck through Kafka, so the re-drive happens in order with the job's other events and the
tables are written from a stream, as Faust requires.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from agents.orchestrator import intake
from agents.orchestrator.decide import Policy, decide, needs_check
from agents.orchestrator.state import Job
from agents.orchestrator.tables import JobTables
from streams.broker.topics import Outgoing
from streams.events.model import Event, JobCheck, JobState
from streams.job_options import capabilities
from streams.runtime.metrics import METRICS
from streams.runtime.stage import Stage

log = logging.getLogger(__name__)

# What moves a job (Avro events, in order per job).
JOB_INPUTS = (
    "jobs.requested",
    "jobs.checks",
    "segments.planned",
    "segments.done",
    "segments.failed",
    "stage.failed",
    "subtitles.published",
    "translations.failed",
    "speakers.found",
)
# Every topic the stage reads: the job inputs and the intake's CloudEvents (agents/orchestrator/
# intake.py), which share their partition count.
INPUTS = (*JOB_INPUTS, *intake.INPUTS)


def job_of(event: Event) -> str:
    """Every orchestrator input names its job."""
    job_id = getattr(event, "job_id", None)
    if not isinstance(job_id, str):
        raise TypeError(f"{event.SCHEMA} names no job")
    return job_id


def now_ms() -> int:
    return int(time.time() * 1000)


def report(before: Job | None, after: Job | None, at_ms: int) -> None:
    """One log line per state change (with the reason when the job failed), and the metrics of
    jobs that just finished."""
    if after is None:
        return
    if before is not None and after.redispatches > before.redispatches:
        log.warning(
            "job %s: overdue segments sent again", after.job_id, extra={"job_id": after.job_id}
        )
        METRICS.retries.labels("orchestrator", "SegmentsOverdue").inc()
    if before is not None and after.redrives > before.redrives:
        log.warning(
            "job %s: stalled in %s, re-driven",
            after.job_id,
            after.state.value,
            extra={"job_id": after.job_id},
        )
        METRICS.retries.labels("orchestrator", "JobStalled").inc()
    if before is not None and before.state == after.state:
        return
    extra = {"job_id": after.job_id, "state": after.state.value}
    if after.state == JobState.FAILED:
        log.warning("job %s FAILED: %s", after.job_id, after.reason, extra=extra)
    else:
        reason = f" ({after.reason})" if after.reason else ""
        log.info("job %s %s%s", after.job_id, after.state.value, reason, extra=extra)
    if after.terminal:
        METRICS.jobs_finished.labels(after.state.value).inc()
        seconds = max(0.0, (at_ms - after.requested_at) / 1000)
        METRICS.job_duration_seconds.labels(after.state.value).observe(seconds)


def register(stage: Stage) -> None:
    settings = stage.settings
    partitions = stage.partitions(INPUTS)
    jobs = stage.table("orchestrator.jobs", partitions)
    windows = stage.table("orchestrator.windows", partitions)
    policy = Policy(
        stall_ms=int(settings.job_stall_s * 1000),
        max_redrives=settings.max_redrives,
        overdue_grace_ms=int(settings.segment_overdue_grace_s * 1000),
        overdue_factor=settings.segment_overdue_factor,
        max_redispatches=settings.max_redispatches,
        deadline_ms=int(settings.job_deadline_s * 1000),
        status_every_ms=int(settings.status_interval_s * 1000),
        capabilities=capabilities(settings),
    )

    tables = JobTables(jobs, windows)

    async def handle(event: Event) -> list[Outgoing]:
        job_id = job_of(event)
        job = tables.job(job_id)
        at = now_ms()
        decision = decide(job, event, at, policy, tables.windows_of(job_id))
        # Published before stored: a crash in between leaves the old state, and the event, read
        # again, publishes again (duplicates are harmless). Stored first, a crash could keep a
        # new state whose events never went out.
        await stage.publish_all(decision.outgoing)
        tables.store(job_id, job, decision)
        report(job, decision.job, at)
        return []

    stage.agent(JOB_INPUTS, handle)
    intake.register(stage)

    for state in JobState:
        METRICS.jobs.labels(state.value).set(0)

    @stage.app.timer(interval=5.0)
    async def count_jobs() -> None:
        counts = dict.fromkeys(JobState, 0)
        for stored in list(jobs.values()):
            if stored is not None:
                counts[JobState(stored["state"])] += 1
        for state, count in counts.items():
            METRICS.jobs.labels(state.value).set(count)

    # Every job is looked at on each tick (kept seven days after it ends), so not too often:
    # a quarter of the shortest deadline; held-back counts go out at the next tick.
    interval = min(30.0, settings.job_stall_s / 4, settings.segment_overdue_grace_s / 4)

    @stage.app.timer(interval=interval)
    async def check_jobs() -> None:
        checked_at = now_ms()
        for job_id in list(jobs.keys()):
            job = tables.job(job_id)
            if job is not None and needs_check(job, checked_at, policy, tables.windows_of(job_id)):
                check = JobCheck(job_id=job_id, checked_at=datetime.now(UTC))
                await stage.publish(Outgoing("jobs.checks", check))
