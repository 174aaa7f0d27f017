"""Job state: the orchestrator's pure decision function.

``decide(job, event_name, record, now_ms)`` takes a job's current state (a JSON-able dict kept in
the orchestrator's Faust table) and one incoming event, and returns the new state plus the events
to publish. It is idempotent: a duplicated or late event changes nothing and publishes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Record = dict[str, Any]
Job = dict[str, Any]


class JobState(StrEnum):
    # DECODING covers decoding and speech detection: both happen before the plan comes back.
    REQUESTED = "REQUESTED"
    DECODING = "DECODING"
    TRANSCRIBING = "TRANSCRIBING"
    BUILDING_CUES = "BUILDING_CUES"
    COMPLETED = "COMPLETED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"


TERMINAL = frozenset({JobState.COMPLETED, JobState.PARTIAL, JobState.FAILED})


@dataclass(frozen=True)
class Outgoing:
    topic: str  # logical topic name (topics.yaml)
    key: str
    schema: str
    record: Record


@dataclass(frozen=True)
class Policy:
    """When a job counts as stalled, and how often it is re-driven before it fails."""

    stall_ms: int = 600_000
    max_redrives: int = 3


@dataclass
class Decision:
    job: Job | None
    outgoing: list[Outgoing] = field(default_factory=list)


def expected(job: Job) -> int:
    """Segments planned so far (final once every window is planned). Segment ids are stable,
    so a re-planned window adds nothing."""
    return len(job["planned"])


def status_record(job: Job, now_ms: int) -> Record:
    return {
        "job_id": job["job_id"],
        "name": job["name"],
        "source": job["source"],
        "state": job["state"],
        "segments_total": expected(job),
        "segments_done": len(job["done"]),
        "segments_failed": len(job["failed"]),
        "reason": job["reason"],
        "updated_at": now_ms,
    }


def _status(job: Job, now_ms: int) -> Outgoing:
    return Outgoing("jobs.status", job["job_id"], "JobStatus", status_record(job, now_ms))


def new_job(request: Record) -> Job:
    return {
        "job_id": request["job_id"],
        "name": request["name"],
        "source": request["source"],
        "language": request["language"],
        "state": JobState.DECODING.value,
        "duration": 0.0,
        "windows": [],  # audio windows whose plan arrived
        "last_window": None,  # index of the final window, once its plan arrived
        "planned": {},  # segment_id -> [index, start, end]
        "done": {},  # segment_id -> SegmentTranscribed record
        "failed": {},  # segment_id -> SegmentFailed record
        "reason": None,
        "progress_at": 0,  # ms; set by decide() on every change
        "redrives": 0,
    }


def _fail(job: Job, reason: str, now_ms: int) -> Decision:
    job = {**job, "state": JobState.FAILED.value, "reason": reason}
    return Decision(job, [_status(job, now_ms)])


def _transcript(job: Job) -> Outgoing:
    segments = sorted(job["done"].values(), key=lambda s: s["index"])
    # Times come from the plan: a failure reported from a bare message key carries none.
    gaps = sorted(
        ({"start": job["planned"][sid][1], "end": job["planned"][sid][2]} for sid in job["failed"]),
        key=lambda g: g["start"],
    )
    record = {
        "job_id": job["job_id"],
        "name": job["name"],
        "language": job["language"],
        "duration": job["duration"],
        "segments": segments,
        "gaps": gaps,
    }
    return Outgoing("transcripts.ready", job["job_id"], "TranscriptReady", record)


def _fully_planned(job: Job) -> bool:
    return job["last_window"] is not None and len(job["windows"]) == job["last_window"] + 1


def _after_segment(job: Job, now_ms: int) -> Decision:
    """Progress after a plan or a segment result; once every window is planned and every
    segment accounted for, hand over to cue building."""
    accounted = len(job["done"]) + len(job["failed"])
    if not _fully_planned(job) or accounted < expected(job):
        return Decision(job, [_status(job, now_ms)])
    if expected(job) and not job["done"]:
        first = next(iter(job["failed"].values()))
        return _fail(job, f"all {expected(job)} segments failed: {first['reason']}", now_ms)
    job = {**job, "state": JobState.BUILDING_CUES.value}
    return Decision(job, [_status(job, now_ms), _transcript(job)])


def _on_requested(job: Job | None, record: Record, now_ms: int) -> Decision:
    if job is not None:
        return Decision(job)  # a resubmitted job id: the first request wins
    job = new_job(record)
    request = {"job_id": job["job_id"], "source": job["source"]}
    return Decision(
        job,
        [
            _status(job, now_ms),
            Outgoing("decode.requested", job["job_id"], "DecodeRequested", request),
        ],
    )


def _on_planned(job: Job, record: Record, now_ms: int) -> Decision:
    window = record["window"]
    if job["state"] not in (JobState.DECODING, JobState.TRANSCRIBING) or window in job["windows"]:
        return Decision(job)  # a redelivered plan: its segments went out already
    segments = record["segments"]
    planned = {s["segment_id"]: [s["index"], s["start"], s["end"]] for s in segments}
    job = {
        **job,
        "state": JobState.TRANSCRIBING.value,
        "duration": max(job["duration"], record["offset"] + record["duration"]),
        "windows": [*job["windows"], window],
        "last_window": window if record["last"] else job["last_window"],
        "planned": {**job["planned"], **planned},
    }
    fan_out = [
        Outgoing("segments", s["segment_id"], "SpeechSegment", s)
        for s in segments
        if s["segment_id"] not in job["done"] and s["segment_id"] not in job["failed"]
    ]  # after a re-drive, only what is still missing goes out again
    decision = _after_segment(job, now_ms)  # silence everywhere goes straight to cues
    return Decision(decision.job, [*fan_out, *decision.outgoing])


def _on_segment_result(job: Job, record: Record, failed: bool, now_ms: int) -> Decision:
    segment_id = record["segment_id"]
    if (
        job["state"] != JobState.TRANSCRIBING
        or segment_id not in job["planned"]
        or segment_id in job["done"]
        or segment_id in job["failed"]
    ):
        return Decision(job)  # duplicate, late or foreign: nothing changes
    bucket = "failed" if failed else "done"
    job = {**job, bucket: {**job[bucket], segment_id: record}}
    return _after_segment(job, now_ms)


def _on_subtitles(job: Job, record: Record, now_ms: int) -> Decision:
    if job["state"] != JobState.BUILDING_CUES:
        return Decision(job)
    if job["failed"]:
        reason = f"{len(job['failed'])} of {expected(job)} segments untranscribed (marked gaps)"
        job = {**job, "state": JobState.PARTIAL.value, "reason": reason}
    else:
        job = {**job, "state": JobState.COMPLETED.value}
    return Decision(job, [_status(job, now_ms)])


def stalled(job: Job, now_ms: int, policy: Policy) -> bool:
    return job["state"] not in TERMINAL and now_ms - job["progress_at"] > policy.stall_ms


def _on_check(job: Job, now_ms: int, policy: Policy) -> Decision:
    """Re-drives a stalled job from its current stage; an event lost or skipped anywhere
    downstream is produced again (duplicates are harmless: fan-in is idempotent)."""
    if not stalled(job, now_ms, policy):
        return Decision(job)
    idle_s = (now_ms - job["progress_at"]) / 1000
    if job["redrives"] >= policy.max_redrives:
        reason = (
            f"stalled in {job['state']}: no progress for {idle_s:.0f} s "
            f"after {job['redrives']} re-drives"
        )
        return _fail(job, reason, now_ms)
    job = {**job, "redrives": job["redrives"] + 1}
    if job["state"] == JobState.BUILDING_CUES:
        return Decision(job, [_status(job, now_ms), _transcript(job)])
    # Decoding again re-plans every window; segments already accounted for are not re-sent.
    job = {**job, "windows": [], "last_window": None}
    request = {"job_id": job["job_id"], "source": job["source"]}
    return Decision(
        job,
        [
            _status(job, now_ms),
            Outgoing("decode.requested", job["job_id"], "DecodeRequested", request),
        ],
    )


def decide(
    job: Job | None, event: str, record: Record, now_ms: int, policy: Policy = Policy()
) -> Decision:
    """The orchestrator's whole logic: (state, event) -> (state, events to publish)."""
    decision = _decide(job, event, record, now_ms, policy)
    if decision.job is not None and decision.job is not job:
        decision.job["progress_at"] = now_ms  # a re-drive counts too: the next waits its turn
    return decision


def _decide(job: Job | None, event: str, record: Record, now_ms: int, policy: Policy) -> Decision:
    if event == "JobRequested":
        return _on_requested(job, record, now_ms)
    if job is None or job["state"] in TERMINAL:
        return Decision(job)  # events for unknown or finished jobs are ignored
    if event == "StageFailed":
        return _fail(job, f"{record['stage']}: {record['reason']}", now_ms)
    if event == "SegmentsPlanned":
        return _on_planned(job, record, now_ms)
    if event == "SegmentTranscribed":
        return _on_segment_result(job, record, False, now_ms)
    if event == "SegmentFailed":
        return _on_segment_result(job, record, True, now_ms)
    if event == "SubtitlesReady":
        return _on_subtitles(job, record, now_ms)
    if event == "JobCheck":
        return _on_check(job, now_ms, policy)
    return Decision(job)
