"""The orchestrator's decision function: transitions, fan-in, idempotency, bounded state."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from agents.orchestrator.decide import Decision, Policy, decide, needs_check
from agents.orchestrator.state import Job, Progress, Window, progress
from agents.orchestrator.tables import JobTables
from streams.events.ids import SegmentId
from streams.events.model import (
    DecodeRequested,
    Event,
    JobCheck,
    JobRequested,
    JobState,
    JobStatus,
    PlannedSegment,
    SegmentDone,
    SegmentFailed,
    SegmentsPlanned,
    SpeakersFound,
    StageFailed,
    SubtitlesPublished,
    TranscriptComplete,
    TranslationFailed,
)
from streams.job_options import Capabilities

NOW = 1_700_000_000_000
JOB = "j1"


def request(job_id: str = JOB, source: str = "/v.mp4") -> JobRequested:
    return JobRequested(
        job_id=job_id,
        source=source,
        name="v",
        language="en",
        requested_at=datetime.fromtimestamp(NOW / 1000, UTC),
    )


def sid(window: int, position: int, job_id: str = JOB) -> str:
    return str(SegmentId(job_id, window, position))


def plan(window: int, count: int, last: bool = True, job_id: str = JOB) -> SegmentsPlanned:
    return SegmentsPlanned(
        job_id=job_id,
        window=window,
        last=last,
        offset=120.0 * window,
        duration=120.0,
        segments=tuple(
            PlannedSegment(
                segment_id=sid(window, p, job_id),
                index=SegmentId(job_id, window, p).index,
                start=120.0 * window + 10 * p,
                end=120.0 * window + 10 * p + 5,
            )
            for p in range(count)
        ),
    )


def done(window: int, position: int, job_id: str = JOB) -> SegmentDone:
    return SegmentDone(job_id=job_id, segment_id=sid(window, position, job_id), attempt=1)


def failed(window: int, position: int, reason: str = "boom") -> SegmentFailed:
    return SegmentFailed(
        job_id=JOB,
        segment_id=sid(window, position),
        index=SegmentId(JOB, window, position).index,
        start=0.0,
        end=0.0,
        reason=reason,
        error_class="RuntimeError",
        attempts=3,
    )


def published() -> SubtitlesPublished:
    return SubtitlesPublished(job_id=JOB, language="en", cue_count=3)


@dataclass
class Store:
    """The orchestrator's tables in memory, written the way the agent writes them."""

    # A status per change (tests send everything at once); the throttle has its own test.
    policy: Policy = field(default_factory=lambda: Policy(status_every_ms=0))
    job: Job | None = None
    windows: dict[int, Window] = field(default_factory=dict)
    bytes_written: int = 0

    def apply(self, event: Event, now_ms: int = NOW) -> Decision:
        decision = decide(self.job, event, now_ms, self.policy, self.windows.get)
        for index, window in decision.windows.items():
            if window is None:
                self.windows.pop(index, None)
            else:
                self.windows[index] = window
                self.bytes_written += len(json.dumps(window.to_json()))
        if decision.forget:
            self.job = None
        elif decision.job is not None and decision.job != self.job:
            self.job = decision.job
            self.bytes_written += len(json.dumps(self.job.to_json()))
        return decision

    @property
    def state(self) -> JobState:
        assert self.job is not None
        return self.job.state

    @property
    def progress(self) -> Progress:
        assert self.job is not None
        return progress(self.job, self.windows.get)


def started() -> Store:
    store = Store()
    store.apply(request())
    return store


def events(decision: Decision) -> list[str]:
    return [f"{out.topic}:{out.event.SCHEMA}" for out in decision.outgoing]


def statuses(decision: Decision) -> list[JobStatus]:
    return [o.event for o in decision.outgoing if isinstance(o.event, JobStatus)]


def complete_of(decision: Decision) -> TranscriptComplete:
    found = [o.event for o in decision.outgoing if isinstance(o.event, TranscriptComplete)]
    assert len(found) == 1, events(decision)
    return found[0]


def test_a_request_creates_the_job_and_asks_for_decoding() -> None:
    store = Store()
    decision = store.apply(request())
    assert store.state == JobState.DECODING
    assert events(decision) == ["jobs.status:JobStatus", "decode.requested:DecodeRequested"]
    assert decision.outgoing[1].event == DecodeRequested(job_id=JOB, source="/v.mp4", language="en")


CAPS = Capabilities(models={"tiny.en": False, "base": True}, default_model="tiny.en")


def test_the_jobs_options_reach_decoding_and_its_language_and_models_its_status() -> None:
    store = Store(policy=Policy(status_every_ms=0, capabilities=CAPS))
    asked = replace(request(), language="auto", model="base", language_detection="segment")
    decision = store.apply(asked)
    assert decision.outgoing[1].event == DecodeRequested(
        job_id=JOB, source="/v.mp4", language="auto", model="base", language_detection="segment"
    )
    # Speech detection says what it heard; each result names its model.
    store.apply(replace(plan(0, 2), language="es"))
    store.apply(replace(done(0, 0), model="base@1"))
    last = store.apply(replace(done(0, 1), model="base@1"))
    status = statuses(last)[-1]
    assert (status.language, status.models) == ("es", ("base@1",))
    complete = complete_of(last)
    assert complete.language == "es"


def test_a_request_no_worker_can_do_fails_at_once_with_the_reason() -> None:
    store = Store(policy=Policy(status_every_ms=0, capabilities=CAPS))
    decision = store.apply(replace(request(), language="fr"))
    assert store.state == JobState.FAILED
    assert events(decision) == ["jobs.status:JobStatus"]  # nothing decoded
    reason = statuses(decision)[0].reason or ""
    assert reason.startswith("refused: language: model 'tiny.en' transcribes English only")
    store = Store(policy=Policy(status_every_ms=0, capabilities=CAPS))
    store.apply(replace(request(), model="large-v9"))
    assert store.job is not None and "unknown model 'large-v9'" in (store.job.reason or "")


def test_a_duplicate_request_changes_nothing() -> None:
    store = started()
    before = store.job
    again = store.apply(request(source="/other.mp4"))
    assert store.job == before and again.outgoing == []


def test_the_plan_is_counted_and_no_audio_goes_out() -> None:
    store = started()
    decision = store.apply(plan(0, 3))
    assert store.state == JobState.TRANSCRIBING
    assert events(decision) == ["jobs.status:JobStatus"]  # segments go out from vad, not here
    assert statuses(decision)[0].segments_total == 3
    assert store.windows[0].spans == ((0.0, 5.0), (10.0, 15.0), (20.0, 25.0))


def test_silence_goes_straight_to_cue_building_and_completes() -> None:
    store = started()
    complete = complete_of(store.apply(plan(0, 0)))
    assert store.state == JobState.BUILDING_CUES
    assert complete.segment_ids == () and complete.gaps == ()
    store.apply(published())
    assert store.state == JobState.COMPLETED and store.windows == {}


def test_fan_in_is_idempotent_and_lists_the_segments_in_media_order() -> None:
    store = started()
    store.apply(plan(0, 2))
    store.apply(done(0, 1))
    repeat = store.apply(done(0, 1))
    assert repeat.outgoing == [] and store.progress.done == 1
    complete = complete_of(store.apply(done(0, 0)))
    assert complete.segment_ids == (sid(0, 0), sid(0, 1))
    assert store.state == JobState.BUILDING_CUES


def test_results_before_their_plan_wait_in_their_window() -> None:
    store = started()
    store.apply(plan(0, 1, last=False))
    early = store.apply(done(1, 0))
    assert store.state == JobState.TRANSCRIBING and store.job is not None
    assert store.progress.done == 0 and statuses(early)[0].segments_done == 0  # not yet
    store.apply(done(0, 0))
    assert store.state == JobState.TRANSCRIBING
    complete = complete_of(store.apply(plan(1, 1, last=True)))
    assert complete.segment_ids == (sid(0, 0), sid(1, 0))


def test_a_result_the_plan_does_not_have_is_ignored() -> None:
    store = started()
    store.apply(plan(0, 1))
    foreign = store.apply(done(0, 5))
    assert foreign.outgoing == [] and store.progress.done == 0
    other_job = store.apply(done(0, 0, job_id="j2"))
    assert other_job.outgoing == []


def test_windows_out_of_order_complete_once_the_last_and_all_before_are_planned() -> None:
    store = started()
    store.apply(plan(2, 1, last=True))
    store.apply(done(2, 0))
    store.apply(plan(0, 1, last=False))
    store.apply(done(0, 0))
    assert store.state == JobState.TRANSCRIBING  # window 1 not planned yet
    complete = complete_of(store.apply(plan(1, 0, last=False)))
    assert complete.segment_ids == (sid(0, 0), sid(2, 0))


def test_a_redelivered_plan_counts_once() -> None:
    store = started()
    store.apply(plan(0, 2, last=False))
    again = store.apply(plan(0, 2, last=False))
    assert again.outgoing == [] and store.progress.planned == 2


def test_failed_segments_become_gaps_and_the_job_partial() -> None:
    store = started()
    store.apply(plan(0, 2))
    store.apply(failed(0, 0))
    complete = complete_of(store.apply(done(0, 1)))
    assert [(g.start, g.end) for g in complete.gaps] == [(0.0, 5.0)]  # times from the plan
    assert complete.segment_ids == (sid(0, 1),)
    final = store.apply(published())
    assert store.state == JobState.PARTIAL
    assert statuses(final)[0].reason == "1 of 2 segments untranscribed (marked gaps)"


def test_every_segment_failing_fails_the_job_with_the_first_cause() -> None:
    store = started()
    store.apply(plan(0, 2))
    store.apply(failed(0, 1, "model missing"))
    final = store.apply(failed(0, 0, "later"))
    assert store.state == JobState.FAILED
    assert statuses(final)[0].reason == "all 2 segments failed: model missing"
    assert store.windows == {}  # a finished job's windows are forgotten


def test_a_stage_failure_fails_the_job_with_its_reason() -> None:
    store = started()
    failure = StageFailed(job_id=JOB, stage="decode", reason="file is empty", error_class="X")
    decision = store.apply(failure)
    assert store.state == JobState.FAILED
    assert statuses(decision)[0].reason == "decode: file is empty"
    assert store.apply(plan(0, 1)).outgoing == []  # nothing moves a finished job


def test_events_of_unknown_jobs_are_ignored() -> None:
    decision = decide(None, done(0, 0), NOW)
    assert decision.job is None and decision.outgoing == []


def check(store: Store, now_ms: int) -> Decision:
    return store.apply(JobCheck(job_id=JOB, checked_at=datetime.now(UTC)), now_ms)


def test_a_stalled_job_is_redriven_without_what_is_accounted_for() -> None:
    store = Store(Policy(stall_ms=1000, max_redrives=2))
    store.apply(request())
    store.apply(plan(0, 3, last=False))
    store.apply(done(0, 1))
    assert check(store, NOW + 500).outgoing == []  # not stalled yet
    redrive = check(store, NOW + 2000)
    request_again = redrive.outgoing[-1].event
    assert isinstance(request_again, DecodeRequested)
    assert request_again.skip_segments == (sid(0, 1),)
    assert store.job is not None and store.job.redrives == 1
    assert store.apply(plan(0, 3, last=False)).outgoing == []  # the re-plan is not counted again


def test_a_job_stalled_in_cue_building_gets_its_transcript_again() -> None:
    store = Store(Policy(stall_ms=1000))
    store.apply(request())
    store.apply(plan(0, 1))
    first = complete_of(store.apply(done(0, 0)))
    assert complete_of(check(store, NOW + 5000)) == first


def test_after_the_last_redrive_a_stalled_job_fails_with_the_reason() -> None:
    store = Store(Policy(stall_ms=1000, max_redrives=1))
    store.apply(request())
    check(store, NOW + 2000)
    final = check(store, NOW + 4000)
    assert store.state == JobState.FAILED
    assert statuses(final)[0].reason == "stalled in DECODING: no progress for 2 s after 1 re-drives"


def test_overdue_segments_are_sent_again_long_before_the_job_stalls() -> None:
    """Three planned segments of 5 s, one done: the two outstanding (10 s of speech) are
    overdue after the grace plus twice their speech, and only they are sent again."""
    policy = Policy(overdue_grace_ms=1000, overdue_factor=2.0, max_redispatches=1)
    store = Store(policy)
    store.apply(request())
    store.apply(plan(0, 3))
    store.apply(done(0, 0))
    assert store.job is not None
    assert not needs_check(store.job, NOW + 20_000, policy, store.windows.get)
    assert needs_check(store.job, NOW + 22_000, policy, store.windows.get)
    redispatch = check(store, NOW + 22_000)
    request_again = redispatch.outgoing[-1].event
    assert isinstance(request_again, DecodeRequested)
    assert request_again.skip_segments == (sid(0, 0),)
    assert store.job is not None and (store.job.redispatches, store.job.redrives) == (1, 0)
    # The one re-send allowed is spent: what is left is the stall re-drive's job.
    assert not needs_check(store.job, NOW + 60_000, policy, store.windows.get)
    assert check(store, NOW + 60_000).outgoing == []


def test_overdue_needs_outstanding_planned_segments() -> None:
    policy = Policy(overdue_grace_ms=1000, overdue_factor=0.0)
    store = Store(policy)
    store.apply(request())
    assert store.job is not None
    assert not needs_check(store.job, NOW + 5_000, policy, store.windows.get)  # not planned
    store.apply(plan(0, 1, last=False))
    store.apply(done(0, 0))
    assert store.job is not None  # all planned ones accounted for; window 1 still to come
    assert not needs_check(store.job, NOW + 5_000, policy, store.windows.get)


def test_a_job_past_its_deadline_fails_with_the_reason() -> None:
    store = Store(Policy(deadline_ms=5_000))
    store.apply(request())
    store.apply(plan(0, 3))
    store.apply(done(0, 1))
    assert check(store, NOW + 4_000).outgoing == []
    final = check(store, NOW + 6_000)
    assert store.state == JobState.FAILED
    assert statuses(final)[0].reason == (
        "deadline of 5 s exceeded in TRANSCRIBING (1 of 3 segments accounted for)"
    )


def test_a_long_finished_job_is_forgotten() -> None:
    store = Store(Policy(forget_ms=10_000))
    store.apply(request())
    store.apply(plan(0, 0))
    store.apply(published())
    assert store.job is not None
    assert not needs_check(store.job, NOW + 5_000, store.policy)
    assert needs_check(store.job, NOW + 20_000, store.policy)
    assert check(store, NOW + 20_000).forget and store.job is None


def test_any_order_and_any_duplicates_give_the_same_outcome() -> None:
    """Plans and results shuffled and repeated: one TranscriptComplete, with every segment."""
    windows = [(0, 3, False), (1, 2, False), (2, 4, True)]
    for seed in range(50):
        rng = random.Random(seed)
        stream: list[Event] = [plan(w, n, last) for w, n, last in windows]
        stream += [done(w, p) for w, n, _ in windows for p in range(n)]
        stream += rng.sample(stream, 5)  # redeliveries
        rng.shuffle(stream)
        store = started()
        completes = [
            complete_of(d)
            for e in stream
            if events(d := store.apply(e))[-1:] == ["transcripts.complete:TranscriptComplete"]
        ]
        assert len(completes) == 1, seed
        expected = tuple(sid(w, p) for w, n, _ in windows for p in range(n))
        assert completes[0].segment_ids == expected


def test_state_grows_with_the_media_not_its_square() -> None:
    """Bytes written to the orchestrator's tables per segment stay flat as jobs get longer."""

    def bytes_per_segment(windows: int, per_window: int = 8) -> float:
        store = started()
        for w in range(windows):
            store.apply(plan(w, per_window, last=w == windows - 1))
            for p in range(per_window):
                store.apply(done(w, p))
        assert store.state == JobState.BUILDING_CUES
        return store.bytes_written / (windows * per_window)

    short, long = bytes_per_segment(5), bytes_per_segment(80)
    assert long < 2048  # the target: under 2 KB of changelog per segment
    assert long < short * 1.3, (short, long)


def test_statuses_carry_the_request_time_and_the_audio_seconds_done() -> None:
    store = started()
    store.apply(plan(0, 2, last=False))  # two segments of 5 s
    early = store.apply(done(1, 0))  # before its plan: not counted yet
    assert statuses(early)[0].audio_seconds_done == 0.0
    status = statuses(store.apply(done(0, 0)))[0]
    assert (status.audio_seconds_total, status.audio_seconds_done) == (10.0, 5.0)
    status = statuses(store.apply(plan(1, 1, last=True)))[0]
    assert (status.audio_seconds_total, status.audio_seconds_done) == (15.0, 10.0)
    assert status.requested_at == request().requested_at


def test_events_read_again_after_a_crash_repair_half_stored_state() -> None:
    """A worker killed between its two changelog writes leaves the job record or a window a
    step behind (its events were published first, see the agent); Faust delivers the
    uncommitted events again. Whichever record is stale, the job ends with every segment, as
    without the crash (a transcript sent twice is harmless)."""
    events: list[Event] = [plan(0, 2, last=False), done(0, 0), done(0, 1), plan(1, 1), done(1, 0)]
    expected = (sid(0, 0), sid(0, 1), sid(1, 0))
    for crash_after in range(1, len(events)):
        for stale in ("job", "windows"):
            store = started()
            for event in events[:crash_after]:
                store.apply(event)
            snapshot = Store(job=store.job, windows=dict(store.windows))
            half = store.apply(events[crash_after])  # published, then only half stored:
            completes = [o.event for o in half.outgoing if o.topic == "transcripts.complete"]
            if stale == "job":
                store.job = snapshot.job
            else:
                store.windows = snapshot.windows
            for event in events[crash_after:]:  # the uncommitted events, again
                decision = store.apply(event)
                completes += [
                    o.event for o in decision.outgoing if o.topic == "transcripts.complete"
                ]
            assert store.state == JobState.BUILDING_CUES, (crash_after, stale)
            assert completes, (crash_after, stale)
            assert {getattr(c, "segment_ids", ()) for c in completes} == {expected}


def test_tables_decode_a_stored_record_once_and_notice_a_replaced_one() -> None:
    jobs: dict[str, Any] = {}
    windows: dict[str, Any] = {}
    tables = JobTables(jobs, windows)
    decision = decide(None, request(), NOW)
    tables.store(JOB, None, decision)
    first = tables.job(JOB)
    assert first == decision.job and tables.job(JOB) is first  # decoded once
    replaced = Job.from_json(jobs[JOB]).but(state=JobState.FAILED)
    jobs[JOB] = replaced.to_json()  # written by someone else (a changelog recovery)
    assert tables.job(JOB) == replaced
    lookup = tables.windows_of(JOB)
    tables.store(JOB, replaced, Decision(replaced, windows={0: Window(planned=True)}))
    assert lookup(0) == Window(planned=True) and windows
    tables.store(JOB, replaced, Decision(replaced, windows={0: None}, forget=True))
    assert lookup(0) is None and tables.job(JOB) is None and not jobs and not windows


def test_counts_go_out_at_most_every_interval_and_the_check_sends_what_was_held() -> None:
    store = Store(Policy(status_every_ms=1000))
    store.apply(request())
    assert statuses(store.apply(plan(0, 3), NOW + 100))  # a new state: always said
    assert statuses(store.apply(done(0, 0), NOW + 1200))  # counts, a second after the last
    assert store.apply(done(0, 1), NOW + 1500).outgoing == []  # held back
    assert store.job is not None and store.progress.done == 2
    assert store.job.progress_at == NOW + 1500  # progress, though nothing was said
    assert not needs_check(store.job, NOW + 2000, store.policy, store.windows.get)
    assert needs_check(store.job, NOW + 2300, store.policy, store.windows.get)
    refreshed = statuses(check(store, NOW + 2300))
    assert refreshed[0].segments_done == 2
    assert not needs_check(store.job, NOW + 9000, store.policy, store.windows.get)
    final = statuses(store.apply(done(0, 2), NOW + 2400))  # a new state again: said at once
    assert final[0].state == JobState.BUILDING_CUES


def translated_job(*targets: str) -> Store:
    """A job asking for ``targets``, transcribed (2 segments) and its transcript's cues built."""
    store = Store()
    store.apply(replace(request(), languages=targets))
    store.apply(plan(0, 2))
    store.apply(done(0, 0))
    last = store.apply(done(0, 1))
    assert complete_of(last).languages == targets  # the cue stage fans out per language
    return store


def test_a_job_ends_once_every_target_language_is_accounted_for() -> None:
    store = translated_job("es", "de")
    after = store.apply(published())  # the transcript's own subtitles
    assert store.state == JobState.BUILDING_CUES
    [status] = statuses(after)
    assert [(t.language, t.state) for t in status.translations] == [
        ("es", "PENDING"),
        ("de", "PENDING"),
    ]
    store.apply(replace(published(), language="es", translated=True))
    assert store.state == JobState.BUILDING_CUES
    last = store.apply(
        TranslationFailed(job_id=JOB, language="de", reason="no model", error_class="X")
    )
    assert store.state == JobState.PARTIAL
    [status] = statuses(last)
    assert status.reason == "de: no model"
    assert [(t.language, t.state, t.reason) for t in status.translations] == [
        ("es", "COMPLETED", None),
        ("de", "FAILED", "no model"),
    ]
    # A late duplicate changes nothing.
    assert store.apply(replace(published(), language="de", translated=True)).outgoing == []


def test_translations_may_come_before_the_transcripts_subtitles() -> None:
    store = translated_job("es")
    store.apply(replace(published(), language="es", translated=True))
    assert store.state == JobState.BUILDING_CUES
    store.apply(published())
    assert store.state == JobState.COMPLETED and store.job is not None
    assert store.job.reason is None


def test_a_job_without_targets_completes_on_its_subtitles_as_before() -> None:
    store = translated_job()
    store.apply(published())
    assert store.state == JobState.COMPLETED


def speakers_job(num_speakers: int = 0) -> Store:
    store = Store()
    store.apply(replace(request(), speakers=True, num_speakers=num_speakers))
    return store


def speakers(window: int, error: str = "", last: bool = True) -> SpeakersFound:
    return SpeakersFound(job_id=JOB, window=window, last=last, error=error)


def test_a_speakers_job_waits_for_every_windows_speakers_in_any_order() -> None:
    store = speakers_job(num_speakers=2)
    first = store.apply(plan(1, 1))  # the second window's plan (not last: see below)
    decode = [o.event for o in store.apply(request()).outgoing]  # a duplicate: nothing
    assert decode == [] and events(first) == ["jobs.status:JobStatus"]
    store.apply(speakers(1))  # before window 0 is even planned
    store.apply(plan(0, 1, last=False))
    store.apply(done(0, 0))
    waiting = store.apply(done(1, 0))
    assert store.state == JobState.TRANSCRIBING, events(waiting)  # window 0's speakers due
    assert store.progress.speakers_pending == 1
    complete = complete_of(store.apply(speakers(0, last=False)))
    assert store.state == JobState.BUILDING_CUES
    assert complete.speakers and complete.num_speakers == 2
    assert complete.speaker_windows == (0, 1)
    assert store.apply(speakers(0)).outgoing == []  # read again: nothing new
    store.apply(published())
    assert store.state == JobState.COMPLETED


def test_the_speakers_option_reaches_decoding() -> None:
    store = Store()
    [_, decode] = store.apply(replace(request(), speakers=True)).outgoing
    assert isinstance(decode.event, DecodeRequested) and decode.event.speakers
    [_, plain] = Store().apply(request()).outgoing
    assert isinstance(plain.event, DecodeRequested) and not plain.event.speakers


def test_a_window_whose_speakers_failed_leaves_the_job_partial_with_the_reason() -> None:
    store = speakers_job()
    store.apply(plan(0, 1, last=False))
    store.apply(plan(1, 1))
    store.apply(speakers(0))
    store.apply(speakers(1, error="segmentation weights not found: /x"))
    store.apply(done(0, 0))
    complete = complete_of(store.apply(done(1, 0)))
    assert complete.speaker_windows == (0,)  # window 1's words go unlabelled
    assert complete.segment_ids == (sid(0, 0), sid(1, 0))  # every word still comes
    store.apply(published())
    assert store.state == JobState.PARTIAL and store.job is not None
    assert (
        store.job.reason == "speakers: segmentation weights not found: /x (1 window(s) unlabelled)"
    )


def test_speakers_of_a_job_that_did_not_ask_are_ignored() -> None:
    store = started()
    store.apply(plan(0, 1))
    assert store.apply(speakers(0)).outgoing == []
    store.apply(done(0, 0))
    assert store.state == JobState.BUILDING_CUES


def test_speakers_that_never_come_leave_the_words_unlabelled_not_the_job_failed() -> None:
    store = speakers_job()
    store.apply(plan(0, 1))
    store.apply(done(0, 0))  # every word is in; no diarize worker ever answers
    at = NOW
    for _ in range(store.policy.max_redrives):
        at += store.policy.stall_ms + 1
        assert "decode.requested:DecodeRequested" in events(check(store, at))
    at += store.policy.stall_ms + 1
    complete = complete_of(check(store, at))
    assert complete.speaker_windows == () and complete.segment_ids == (sid(0, 0),)
    store.apply(published())
    assert store.state == JobState.PARTIAL and store.job is not None
    assert store.job.reason is not None
    assert "no speakers found after 3 re-drives (is a diarize worker running?)" in store.job.reason
