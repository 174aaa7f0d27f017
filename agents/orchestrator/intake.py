"""orchestrator intake: job requests from any producer as CloudEvents JSON (jobs.requested.json)
become JobRequested on jobs.requested, which the orchestrator then runs like any job.

In the orchestrator's stage (its own agent, the stage's consumer group): it is where every job
enters, and the request takes one short hop more. The event is checked by the platform's pure
contract (streams/events/cloudevents.py) and its source by the source policy the decode stage
applies again before opening it; anything refused is dead-lettered with the reason (``kaption
dlq list``). A refusal fails no job: the record's key is the producer's, and it may name a job
that exists.
"""

from __future__ import annotations

import logging

from streams.broker.topics import Outgoing
from streams.events.cloudevents import InvalidJobRequest, job_request
from streams.events.model import Event, JobRequested
from streams.job_options import capabilities
from streams.runtime.stage import Stage
from streams.sources import SourcePolicy, UnsafeSource, check_source

log = logging.getLogger(__name__)

INPUTS = ("jobs.requested.json",)


def register(stage: Stage) -> None:
    settings = stage.settings
    policy = SourcePolicy.from_settings(settings)
    caps = capabilities(settings)

    def decode(value: bytes | None) -> Event:
        return job_request(value, caps, settings.language)

    async def handle(request: JobRequested) -> list[Outgoing]:
        try:  # off the event loop: a URL's host name is resolved
            await stage.platform.run_blocking(check_source, request.source, policy)
        except UnsafeSource as exc:
            raise InvalidJobRequest(f"data.source refused: {exc}") from exc
        log.info(
            "job %s requested as a CloudEvent", request.job_id, extra={"job_id": request.job_id}
        )
        return [Outgoing("jobs.requested", request)]

    stage.agent(INPUTS, handle, on_failure=lambda key, error: [], decode=decode, name="intake")
