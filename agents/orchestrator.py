"""orchestrator: the only writer of job state (a changelog-backed Faust table keyed by job id).

Consumes every event that moves a job and applies :func:`streams.jobs.decide`; concurrency 1 per
partition keeps each job's events in order.
"""

from __future__ import annotations

import time

from streams.app import Pipeline, stage_agent
from streams.codec import Record
from streams.jobs import Outgoing, decide

INPUTS = (
    "jobs.requested",
    "segments.planned",
    "segments.transcribed",
    "segments.failed",
    "stage.failed",
    "subtitles.ready",
)


def register(pipeline: Pipeline) -> None:
    partitions = {pipeline.registry.specs[name].partitions for name in INPUTS}
    if len(partitions) != 1:
        raise ValueError(f"orchestrator inputs must share one partition count, got {partitions}")
    jobs = pipeline.app.Table(
        "jobs",
        default=None,
        partitions=partitions.pop(),
    )  # values are JSON dicts (the app's default value serializer)

    async def handle(name: str, record: Record) -> list[Outgoing]:
        job_id = record["job_id"]
        decision = decide(jobs.get(job_id), name, record, int(time.time() * 1000))
        if decision.job is not None and decision.job is not jobs.get(job_id):
            jobs[job_id] = decision.job
        return decision.outgoing

    stage_agent(pipeline, "orchestrator", INPUTS, handle)
