"""The orchestrator's decision function: state transitions, fan-out/fan-in, idempotency."""

from __future__ import annotations

from typing import Any

from streams.jobs import Decision, JobState, Policy, decide, expected

NOW = 1_700_000_000_000


def request(job_id: str = "j1") -> dict[str, Any]:
    return {
        "job_id": job_id,
        "source": "/v.mp4",
        "name": "v",
        "language": "en",
        "requested_at": NOW,
    }


def segment(index: int, job_id: str = "j1") -> dict[str, Any]:
    return {
        "job_id": job_id,
        "segment_id": f"{job_id}:{index:05d}",
        "index": index,
        "start": 10.0 * index,
        "end": 10.0 * index + 5,
        "sample_rate": 16000,
        "pcm": b"\0\0",
    }


def transcribed(index: int, job_id: str = "j1") -> dict[str, Any]:
    seg = segment(index, job_id)
    return {
        **{k: seg[k] for k in ("job_id", "segment_id", "index", "start", "end")},
        "text": f"word{index}",
        "words": [
            {
                "word": f" word{index}",
                "start": seg["start"],
                "end": seg["start"] + 1,
                "probability": 0.9,
            }
        ],
        "language": "en",
        "model": "tiny.en",
        "model_version": "x",
        "attempt": 1,
        "processing_seconds": 0.1,
    }


def failed(index: int, job_id: str = "j1") -> dict[str, Any]:
    return {
        "job_id": job_id,
        "segment_id": f"{job_id}:{index:05d}",
        "index": index,
        "start": 0.0,
        "end": 0.0,
        "reason": "boom",
        "error_class": "RuntimeError",
        "attempts": 3,
    }


def topics(decision: Decision) -> list[str]:
    return [out.topic for out in decision.outgoing]


def plan(indexes: range, window: int = 0, last: bool = True) -> dict[str, Any]:
    return {
        "job_id": "j1",
        "window": window,
        "last": last,
        "offset": 120.0 * window,
        "duration": 120.0,
        "segments": [segment(i) for i in indexes],
    }


def planned(n: int) -> Decision:
    job = decide(None, "JobRequested", request(), NOW).job
    return decide(job, "SegmentsPlanned", plan(range(n)), NOW)


def test_request_creates_job_and_asks_for_decoding() -> None:
    decision = decide(None, "JobRequested", request(), NOW)
    assert decision.job is not None and decision.job["state"] == JobState.DECODING
    assert topics(decision) == ["jobs.status", "decode.requested"]
    assert decision.outgoing[1].record == {"job_id": "j1", "source": "/v.mp4"}


def test_duplicate_request_changes_nothing() -> None:
    job = decide(None, "JobRequested", request(), NOW).job
    again = decide(job, "JobRequested", {**request(), "source": "/other.mp4"}, NOW)
    assert again.job == job and again.outgoing == []


def test_plan_fans_out_every_segment() -> None:
    decision = planned(3)
    assert decision.job is not None and decision.job["state"] == JobState.TRANSCRIBING
    assert topics(decision) == ["segments"] * 3 + ["jobs.status"]
    assert [o.key for o in decision.outgoing[:3]] == ["j1:00000", "j1:00001", "j1:00002"]
    assert decision.outgoing[-1].record["segments_total"] == 3


def test_silence_goes_straight_to_cue_building_and_completes() -> None:
    decision = planned(0)
    assert decision.job is not None and decision.job["state"] == JobState.BUILDING_CUES
    transcript = decision.outgoing[-1]
    assert transcript.topic == "transcripts.ready" and transcript.record["segments"] == []
    done = decide(decision.job, "SubtitlesReady", {"job_id": "j1"}, NOW)
    assert done.job is not None and done.job["state"] == JobState.COMPLETED


def test_fan_in_is_idempotent_and_ordered() -> None:
    job = planned(2).job
    first = decide(job, "SegmentTranscribed", transcribed(1), NOW)
    assert first.job is not None and first.job["state"] == JobState.TRANSCRIBING
    duplicate = decide(first.job, "SegmentTranscribed", transcribed(1), NOW)
    assert duplicate.job == first.job and duplicate.outgoing == []
    last = decide(first.job, "SegmentTranscribed", transcribed(0), NOW)
    assert last.job is not None and last.job["state"] == JobState.BUILDING_CUES
    transcript = last.outgoing[-1].record
    assert [s["index"] for s in transcript["segments"]] == [0, 1]
    assert transcript["gaps"] == []
    # A redelivery after the job moved on changes nothing either.
    late = decide(last.job, "SegmentTranscribed", transcribed(0), NOW)
    assert late.job == last.job and late.outgoing == []


def test_failed_segment_makes_a_partial_job_with_a_gap_from_the_plan() -> None:
    job = planned(2).job
    job = decide(job, "SegmentTranscribed", transcribed(0), NOW).job
    decision = decide(job, "SegmentFailed", failed(1), NOW)
    assert decision.job is not None and decision.job["state"] == JobState.BUILDING_CUES
    assert decision.outgoing[-1].record["gaps"] == [{"start": 10.0, "end": 15.0}]
    final = decide(decision.job, "SubtitlesReady", {"job_id": "j1"}, NOW)
    assert final.job is not None and final.job["state"] == JobState.PARTIAL
    assert final.job["reason"] == "1 of 2 segments untranscribed (marked gaps)"
    assert final.outgoing[0].record["segments_failed"] == 1


def test_all_segments_failed_fails_the_job_with_the_cause() -> None:
    job = planned(1).job
    decision = decide(job, "SegmentFailed", failed(0), NOW)
    assert decision.job is not None and decision.job["state"] == JobState.FAILED
    assert decision.job["reason"] == "all 1 segments failed: boom"


def test_stage_failure_fails_the_job_and_later_events_are_ignored() -> None:
    job = decide(None, "JobRequested", request(), NOW).job
    reason = {
        "job_id": "j1",
        "stage": "decode",
        "reason": "file is empty: /v.mp4",
        "error_class": "MediaError",
    }
    decision = decide(job, "StageFailed", reason, NOW)
    assert decision.job is not None and decision.job["state"] == JobState.FAILED
    assert decision.job["reason"] == "decode: file is empty: /v.mp4"
    assert decision.outgoing[0].record["reason"] == "decode: file is empty: /v.mp4"
    after = decide(decision.job, "SegmentsPlanned", plan(range(0)), NOW)
    assert after.job == decision.job and after.outgoing == []


def test_events_for_unknown_jobs_and_foreign_segments_are_ignored() -> None:
    assert decide(None, "SegmentTranscribed", transcribed(0), NOW) == Decision(None)
    job = planned(1).job
    foreign = decide(
        job, "SegmentTranscribed", transcribed(0, job_id="other") | {"job_id": "j1"}, NOW
    )
    assert foreign.job == job and foreign.outgoing == []


def test_windows_complete_only_when_every_window_is_planned() -> None:
    job = decide(None, "JobRequested", request(), NOW).job
    # Window 1 (the last) arrives before window 0, and its segment is done before 0 is planned.
    job = decide(job, "SegmentsPlanned", plan(range(2, 3), window=1, last=True), NOW).job
    job = decide(job, "SegmentTranscribed", transcribed(2), NOW).job
    assert job is not None and job["state"] == JobState.TRANSCRIBING and expected(job) == 1
    decision = decide(job, "SegmentsPlanned", plan(range(2), window=0, last=False), NOW)
    assert decision.job is not None and expected(decision.job) == 3
    assert topics(decision) == ["segments", "segments", "jobs.status"]
    assert decision.job["duration"] == 240.0
    job = decide(decision.job, "SegmentTranscribed", transcribed(0), NOW).job
    done = decide(job, "SegmentTranscribed", transcribed(1), NOW)
    assert done.job is not None and done.job["state"] == JobState.BUILDING_CUES
    assert [s["index"] for s in done.outgoing[-1].record["segments"]] == [0, 1, 2]


def test_a_redelivered_plan_fans_out_nothing() -> None:
    decision = planned(2)
    again = decide(decision.job, "SegmentsPlanned", plan(range(2)), NOW)
    assert again.job == decision.job and again.outgoing == []


def test_silent_windows_still_count_towards_completion() -> None:
    job = decide(None, "JobRequested", request(), NOW).job
    first = decide(job, "SegmentsPlanned", plan(range(0), window=0, last=False), NOW)
    assert first.job is not None and first.job["state"] == JobState.TRANSCRIBING
    assert topics(first) == ["jobs.status"]
    last = decide(first.job, "SegmentsPlanned", plan(range(0), window=1, last=True), NOW)
    assert last.job is not None and last.job["state"] == JobState.BUILDING_CUES


POLICY = Policy(stall_ms=10_000, max_redrives=2)
CHECK = {"job_id": "j1", "checked_at": NOW}


def test_a_job_with_recent_progress_is_not_redriven() -> None:
    job = planned(2).job
    assert decide(job, "JobCheck", CHECK, NOW + 5_000, POLICY) == Decision(job)


def test_a_stalled_transcription_is_redriven_and_only_missing_segments_go_out_again() -> None:
    job = decide(planned(3).job, "SegmentTranscribed", transcribed(0), NOW).job
    redrive = decide(job, "JobCheck", CHECK, NOW + 11_000, POLICY)
    assert redrive.job is not None and redrive.job["redrives"] == 1
    assert topics(redrive) == ["jobs.status", "decode.requested"]
    assert redrive.job["windows"] == [] and redrive.job["progress_at"] == NOW + 11_000
    # The re-decoded plan is accepted again; segment 0 is done, so 1 and 2 go out.
    replanned = decide(redrive.job, "SegmentsPlanned", plan(range(3)), NOW + 12_000, POLICY)
    assert [o.key for o in replanned.outgoing if o.topic == "segments"] == ["j1:00001", "j1:00002"]
    assert replanned.job is not None and expected(replanned.job) == 3


def test_a_stalled_cue_build_gets_its_transcript_again() -> None:
    job = decide(planned(1).job, "SegmentTranscribed", transcribed(0), NOW).job
    assert job is not None and job["state"] == JobState.BUILDING_CUES
    redrive = decide(job, "JobCheck", CHECK, NOW + 11_000, POLICY)
    assert topics(redrive) == ["jobs.status", "transcripts.ready"]


def test_a_job_that_stays_stalled_fails_with_the_reason() -> None:
    job = planned(1).job
    for attempt in (1, 2):
        job = decide(job, "JobCheck", CHECK, NOW + attempt * 11_000, POLICY).job
        assert job is not None and job["redrives"] == attempt
    failed = decide(job, "JobCheck", CHECK, NOW + 33_000, POLICY)
    assert failed.job is not None and failed.job["state"] == JobState.FAILED
    assert failed.job["reason"] == "stalled in TRANSCRIBING: no progress for 11 s after 2 re-drives"


def test_finished_jobs_are_never_checked() -> None:
    job = decide(planned(0).job, "SubtitlesReady", {"job_id": "j1"}, NOW).job
    assert decide(job, "JobCheck", CHECK, NOW + 999_000, POLICY) == Decision(job)
