"""orchestrator: the only writer of job state (a changelog-backed Faust table keyed by job id).

Consumes every event that moves a job and applies :func:`streams.jobs.decide`; concurrency 1 per
partition keeps each job's events in order. A timer looks for stalled jobs and sends each a
JobCheck through Kafka, so the re-drive itself happens in order with the job's other events.
"""

from __future__ import annotations

import time

from streams.app import Pipeline, stage_agent
from streams.codec import Record
from streams.jobs import Outgoing, Policy, decide, stalled

INPUTS = (
    "jobs.requested",
    "jobs.checks",
    "segments.planned",
    "segments.transcribed",
    "segments.failed",
    "stage.failed",
    "subtitles.ready",
)


def now_ms() -> int:
    return int(time.time() * 1000)


def register(pipeline: Pipeline) -> None:
    settings = pipeline.settings
    partitions = {pipeline.registry.specs[name].partitions for name in INPUTS}
    if len(partitions) != 1:
        raise ValueError(f"orchestrator inputs must share one partition count, got {partitions}")
    jobs = pipeline.app.Table(
        "jobs",
        default=None,
        partitions=partitions.pop(),
    )  # values are JSON dicts (the app's default value serializer)
    policy = Policy(int(settings.job_stall_s * 1000), settings.max_redrives)

    async def handle(name: str, record: Record) -> list[Outgoing]:
        job_id = record["job_id"]
        decision = decide(jobs.get(job_id), name, record, now_ms(), policy)
        if decision.job is not None and decision.job is not jobs.get(job_id):
            jobs[job_id] = decision.job
        return decision.outgoing

    stage_agent(pipeline, "orchestrator", INPUTS, handle)

    @pipeline.app.timer(interval=min(30.0, settings.job_stall_s / 4))
    async def check_stalled_jobs() -> None:
        checked_at = now_ms()
        for job_id, job in list(jobs.items()):
            if job is not None and stalled(job, checked_at, policy):
                check = {"job_id": job_id, "checked_at": checked_at}
                await pipeline.send(Outgoing("jobs.checks", job_id, "JobCheck", check))
