"""Replaying a live stream through the file lane: the job request both the subtitles-live stage
(when a stream ends) and ``kaption streams replay`` publish, and how its result is recognised.

The job's source is ``stream:<id>`` (streams/sources.py), which the decode stage reads from
the live.audio topic instead of opening media; its name is the stream's file name, so its
SubtitlesReady says which stream's files it replaces. Replay jobs have ids that start with
REPLAY_PREFIX: the subtitles-live stage takes no other job's result for a stream's files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from streams.events.model import JobRequested
from streams.operations.live_files import file_name
from streams.sources import stream_source

REPLAY_PREFIX = "replay-"


class ReplayError(ValueError):
    """A replay that cannot be requested; the message says why."""


def is_replay(job_id: str) -> bool:
    return job_id.startswith(REPLAY_PREFIX)


def replay_job_id(stream_id: str, run: str | None = None) -> str:
    """A fresh id, or (``run``: what tells this run of the stream from another, such as its end
    mark's publication time) the same id every time, so that a redelivered end asks once: the
    orchestrator keeps the first request of a job id."""
    if run is None:
        return REPLAY_PREFIX + uuid.uuid4().hex
    digest = hashlib.sha256(f"{stream_id}\n{run}".encode()).hexdigest()[:32]
    return REPLAY_PREFIX + digest


def replay_request(
    stream_id: str,
    language: str,
    model: str = "",
    job_id: str | None = None,
    speakers: bool = False,
) -> JobRequested:
    """The file-lane job that replays ``stream_id`` (UnsafeSource for an id it cannot name;
    ReplayError for a model while jobs cannot choose one); ``speakers``: labelled by the file
    lane's diarization, as the live captions it replaces were."""
    request = JobRequested(
        job_id=job_id or replay_job_id(stream_id),
        source=stream_source(stream_id),
        name=file_name(stream_id),
        language=language,
        requested_at=datetime.now(UTC),
        speakers=speakers,
    )
    if not model:
        return request
    if "model" not in {f.name for f in dataclasses.fields(request)}:
        raise ReplayError(
            "this version's jobs cannot choose a model: the replay uses the file lane's"
        )
    chosen: dict[str, Any] = {"model": model}  # a field this version's schema may lack
    return dataclasses.replace(request, **chosen)
