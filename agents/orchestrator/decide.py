"""The orchestrator's whole logic as one pure function: (state, event) -> (state, events).

``decide(job, event, now_ms, policy, windows)`` takes a job's stored record, one incoming event
and a lookup of the job's stored windows, and returns the new record, the windows it changed
and the events to publish. It is idempotent: a duplicated, late or foreign event changes
nothing and publishes nothing, and an event read again after a crash repairs what its first
reading left half-stored (counts are derived from the windows, see state.py). Results may arrive
before their plan: they wait in their window.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from agents.orchestrator.state import (
    DONE,
    FAILED,
    Job,
    Progress,
    Window,
    WindowLookup,
    progress,
)
from streams.broker.topics import Outgoing
from streams.events.ids import SegmentId
from streams.events.model import (
    DecodeRequested,
    Event,
    Gap,
    JobCheck,
    JobRequested,
    JobState,
    JobStatus,
    SegmentDone,
    SegmentFailed,
    SegmentsPlanned,
    SpeakersFound,
    StageFailed,
    SubtitlesPublished,
    TranscriptComplete,
    TranslationFailed,
    TranslationState,
)
from streams.job_options import AUTO, Capabilities, refusal_text, refusals, whisper_english

ACTIVE = frozenset({JobState.DECODING, JobState.TRANSCRIBING})
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Policy:
    """When a job counts as stalled, how often it is re-driven before it fails, and how long a
    finished job's record is kept (duplicates of its events are recognised meanwhile).

    Segments still outstanding once a job has made no progress for ``overdue_grace_ms`` plus
    ``overdue_factor`` times their seconds of speech are sent again, up to ``max_redispatches``
    times: a lost segment is noticed in about its own transcription time, not after the whole
    job's stall time. A job still unfinished ``deadline_ms`` after its request fails.

    A status that only reports new counts goes out at most every ``status_every_ms`` per job
    (a job of a thousand segments is not a thousand statuses); the timer's check sends the
    counts held back once the job goes quiet."""

    stall_ms: int = 600_000
    max_redrives: int = 3
    forget_ms: int = 7 * DAY_MS
    overdue_grace_ms: int = 60_000
    overdue_factor: float = 2.0
    max_redispatches: int = 3
    deadline_ms: int = 6 * 3_600_000
    status_every_ms: int = 1000
    # What a request may ask for (models, languages): a request this deployment cannot honour
    # fails at once with the reason. None: not checked.
    capabilities: Capabilities | None = None


@dataclass
class Decision:
    job: Job | None  # the record to store (None: an unknown job, nothing to store)
    outgoing: list[Outgoing] = field(default_factory=list)
    windows: dict[int, Window | None] = field(default_factory=dict)  # changed; None deletes
    forget: bool = False  # delete the job's record: it ended long ago


def _no_windows(index: int) -> Window | None:
    return None


def decide(
    job: Job | None,
    event: Event,
    now_ms: int,
    policy: Policy = Policy(),
    windows: WindowLookup = _no_windows,
) -> Decision:
    decision = _decide(job, event, now_ms, policy, windows)
    after = decision.job
    if after is None or decision.forget:
        return decision
    recent = job is not None and now_ms - job.status_at < policy.status_every_ms
    if recent and job is not None and _progress_only(job, decision):
        decision.outgoing = []  # counts only: the next status, or the timer's check, has them
    changes = {}
    if after is not job or decision.windows:
        changes["progress_at"] = now_ms  # a re-drive counts too
    if any(out.topic == "jobs.status" for out in decision.outgoing):
        changes["status_at"] = now_ms
    if changes:
        decision.job = after.but(**changes)
    return decision


def _progress_only(before: Job, decision: Decision) -> bool:
    """A status that reports new counts and nothing else (no new state, no other event)."""
    assert decision.job is not None
    return (
        bool(decision.outgoing)
        and decision.job.state == before.state
        and all(out.topic == "jobs.status" for out in decision.outgoing)
    )


def stalled(job: Job, now_ms: int, policy: Policy) -> bool:
    return not job.terminal and now_ms - job.progress_at > policy.stall_ms


def expired(job: Job, now_ms: int, policy: Policy) -> bool:
    return job.terminal and now_ms - job.progress_at > policy.forget_ms


def past_deadline(job: Job, now_ms: int, policy: Policy) -> bool:
    return not job.terminal and now_ms - job.requested_at > policy.deadline_ms


def overdue(job: Job, now_ms: int, policy: Policy, windows: WindowLookup) -> bool:
    """Planned segments without a result, and no progress for longer than their speech
    should take (a worker that lost them, or a segment event that never went out)."""
    if job.state != JobState.TRANSCRIBING or job.redispatches >= policy.max_redispatches:
        return False
    done = progress(job, windows)
    outstanding_s = done.audio_planned - done.audio_done
    if done.accounted >= done.planned or outstanding_s <= 0:
        return False
    allowed_ms = policy.overdue_grace_ms + policy.overdue_factor * outstanding_s * 1000
    return now_ms - job.progress_at > allowed_ms


def status_behind(job: Job, now_ms: int, policy: Policy) -> bool:
    """Counts changed since the last status, which is old enough for another."""
    return (
        not job.terminal
        and job.status_at < job.progress_at
        and now_ms - job.status_at >= policy.status_every_ms
    )


def needs_check(job: Job, now_ms: int, policy: Policy, windows: WindowLookup = _no_windows) -> bool:
    """Whether the timer should send the job a JobCheck."""
    return (
        stalled(job, now_ms, policy)
        or expired(job, now_ms, policy)
        or past_deadline(job, now_ms, policy)
        or overdue(job, now_ms, policy, windows)
        or status_behind(job, now_ms, policy)
    )


def _decide(
    job: Job | None, event: Event, now_ms: int, policy: Policy, windows: WindowLookup
) -> Decision:
    if isinstance(event, JobRequested):
        return _on_requested(job, event, now_ms, policy)
    if job is None:
        return Decision(None)  # events for unknown (or forgotten) jobs are ignored
    if isinstance(event, JobCheck):
        return _on_check(job, now_ms, policy, windows)
    if job.terminal:
        return Decision(job)
    if isinstance(event, StageFailed):
        return _fail(job, f"{event.stage}: {event.reason}", now_ms, windows)
    if isinstance(event, SegmentsPlanned):
        return _on_planned(job, event, now_ms, windows)
    if isinstance(event, SegmentDone):
        if event.model and event.model not in job.models:
            job = job.but(models=(*job.models, event.model))
        return _on_result(job, event.segment_id, DONE, None, now_ms, windows)
    if isinstance(event, SegmentFailed):
        return _on_result(job, event.segment_id, FAILED, event.reason, now_ms, windows)
    if isinstance(event, SubtitlesPublished):
        return _on_subtitles(job, event, now_ms, windows)
    if isinstance(event, TranslationFailed):
        return _on_translated(job, event.language, event.reason or "failed", now_ms, windows)
    if isinstance(event, SpeakersFound):
        return _on_speakers(job, event, now_ms, windows)
    return Decision(job)


def _status(job: Job, now_ms: int, done: Progress) -> Outgoing:
    status = JobStatus(
        job_id=job.job_id,
        name=job.name,
        source=job.source,
        state=job.state,
        segments_total=done.planned,
        segments_done=done.done,
        segments_failed=done.failed,
        reason=job.reason,
        audio_seconds_total=done.audio_planned,
        audio_seconds_done=done.audio_done,
        language=job.language,
        models=job.models,
        translations=tuple(_translation_state(job, target) for target in job.targets),
        requested_at=datetime.fromtimestamp(job.requested_at / 1000, UTC),
        updated_at=datetime.fromtimestamp(now_ms / 1000, UTC),
    )
    return Outgoing("jobs.status", status)


def _translation_state(job: Job, target: str) -> TranslationState:
    why = job.translated.get(target)
    if why is None:
        return TranslationState(language=target, state="PENDING")
    if why:
        return TranslationState(language=target, state="FAILED", reason=why)
    return TranslationState(language=target, state="COMPLETED")


def _decode(job: Job, skip: tuple[str, ...] = ()) -> Outgoing:
    request = DecodeRequested(
        job_id=job.job_id,
        source=job.source,
        skip_segments=skip,
        language=job.language,
        model=job.model,
        language_detection=job.language_detection,
        whisper_translate=job.whisper_translate,
        speakers=job.speakers,
    )
    return Outgoing("decode.requested", request)


def _forget_windows(job: Job) -> dict[int, Window | None]:
    return dict.fromkeys(range(job.max_window + 1))


def _fail(job: Job, reason: str, now_ms: int, windows: WindowLookup) -> Decision:
    done = progress(job, windows)
    job = job.but(state=JobState.FAILED, reason=reason)
    return Decision(job, [_status(job, now_ms, done)], _forget_windows(job))


def _on_requested(job: Job | None, request: JobRequested, now_ms: int, policy: Policy) -> Decision:
    if job is not None:
        return Decision(job)  # a resubmitted job id: the first request wins
    job = Job(
        job_id=request.job_id,
        name=request.name,
        source=request.source,
        language=request.language,
        state=JobState.DECODING,
        requested_at=int(request.requested_at.timestamp() * 1000),
        model=request.model,
        language_detection=request.language_detection,
        targets=tuple(dict.fromkeys(request.languages)),
        speakers=request.speakers,
        num_speakers=request.num_speakers,
        min_speakers=request.min_speakers,
        max_speakers=request.max_speakers,
    )
    if policy.capabilities is not None:
        problems = refusals(
            policy.capabilities,
            request.language,
            request.model,
            request.language_detection,
            request.languages,
            request.speakers,
        )
        if problems:
            return _fail(job, f"refused: {refusal_text(problems)}", now_ms, _no_windows)
        spoken = request.language if request.language not in ("", AUTO) else None
        caps = policy.capabilities
        whisper = "en" in job.targets and whisper_english(caps.whisper, spoken, caps.pairs)
        job = job.but(whisper_translate=whisper)
    return Decision(job, [_status(job, now_ms, Progress()), _decode(job)])


def _on_planned(job: Job, plan: SegmentsPlanned, now_ms: int, windows: WindowLookup) -> Decision:
    if job.state not in ACTIVE:
        return Decision(job)
    current = windows(plan.window)
    window = Window(
        planned=True,
        last=plan.last,
        spans=tuple((s.start, s.end) for s in plan.segments),
        results=current.results if current is not None else {},  # may precede the plan
        speakers=current.speakers if current is not None else None,
    )
    after = job.but(
        duration=max(job.duration, plan.offset + plan.duration),
        max_window=max(job.max_window, plan.window),
        # Speech detection says which language it found (or was told) for an "auto" job.
        language=plan.language or job.language,
    )
    return _advance(job, after, {plan.window: window}, now_ms, windows)


def _on_result(
    job: Job,
    segment_id: str,
    outcome: str,
    failure: str | None,
    now_ms: int,
    windows: WindowLookup,
) -> Decision:
    try:
        segment = SegmentId.parse(segment_id)
    except ValueError:
        return Decision(job)
    if job.state not in ACTIVE or segment.job_id != job.job_id:
        return Decision(job)
    current = windows(segment.window) or Window()
    position = segment.position
    if current.planned and position >= len(current.spans):
        return Decision(job)  # a segment the plan does not have
    # The first outcome stays (a late retry's success does not overwrite a reported failure).
    results = {position: outcome, **current.results}
    after = job
    if segment.window > job.max_window or (failure and not job.first_failure):
        after = job.but(
            max_window=max(job.max_window, segment.window),
            first_failure=job.first_failure or failure,
        )
    return _advance(
        job, after, {segment.window: replace(current, results=results)}, now_ms, windows
    )


def _on_speakers(job: Job, found: SpeakersFound, now_ms: int, windows: WindowLookup) -> Decision:
    """A window's speakers found (or why not): the first outcome stays; the job waits for every
    window's before its cues are built."""
    if job.state not in ACTIVE or not job.speakers or found.window < 0:
        return Decision(job)
    current = windows(found.window) or Window()
    outcome = current.speakers if current.speakers is not None else found.error
    after = job.but(max_window=max(job.max_window, found.window))
    return _advance(job, after, {found.window: replace(current, speakers=outcome)}, now_ms, windows)


def _without_speakers(job: Job, reason: str, now_ms: int, windows: WindowLookup) -> Decision:
    """Every window still waiting for its speakers given up on, with the reason."""
    changed = {
        index: replace(window or Window(), speakers=reason)
        for index in range(job.max_window + 1)
        if (window := windows(index)) is None or window.speakers is None
    }
    return _advance(job, job, changed, now_ms, windows)


def _advance(
    before: Job, job: Job, changed: Mapping[int, Window], now_ms: int, windows: WindowLookup
) -> Decision:
    """After a plan or a result (even one seen before, whose first reading may have been only
    partly stored): derive the progress from the windows, move the job on when every window
    is planned and every segment accounted for, and say nothing when nothing changed."""

    def lookup(index: int) -> Window | None:
        return changed[index] if index in changed else windows(index)

    done = progress(job, lookup)
    if done.any_planned and job.state == JobState.DECODING:
        job = job.but(state=JobState.TRANSCRIBING)
    unchanged = job == before and all(windows(i) == w for i, w in changed.items())
    if done.complete and done.planned and not done.done:
        return _fail(
            job, f"all {done.planned} segments failed: {job.first_failure}", now_ms, lookup
        )
    if done.complete:
        job = job.but(state=JobState.BUILDING_CUES)
        return Decision(job, [_status(job, now_ms, done), _transcript(job, lookup)], dict(changed))
    if unchanged:
        return Decision(before)  # a duplicate: nothing new to say
    return Decision(job, [_status(job, now_ms, done)], dict(changed))


def _transcript(job: Job, windows: WindowLookup) -> Outgoing:
    """Which segments to gather words from, in media order, and the gaps failures left."""
    segment_ids: list[str] = []
    gaps: list[Gap] = []
    for index in range(job.max_window + 1):
        window = windows(index)
        if window is None or not window.planned:
            continue
        for position, (start, end) in enumerate(window.spans):
            outcome = window.results.get(position)
            if outcome == DONE:
                segment_ids.append(str(SegmentId(job.job_id, index, position)))
            elif outcome == FAILED:
                gaps.append(Gap(start=start, end=end))
    complete = TranscriptComplete(
        job_id=job.job_id,
        name=job.name,
        language=job.language,
        duration=job.duration,
        segment_ids=tuple(segment_ids),
        gaps=tuple(gaps),
        languages=job.targets,
        speakers=job.speakers,
        num_speakers=job.num_speakers,
        min_speakers=job.min_speakers,
        max_speakers=job.max_speakers,
        speaker_windows=tuple(
            index
            for index in range(job.max_window + 1)
            if (windows(index) or Window()).speakers == ""
        ),
    )
    return Outgoing("transcripts.complete", complete)


def _accounted_ids(job: Job, windows: WindowLookup) -> tuple[str, ...]:
    return tuple(
        str(SegmentId(job.job_id, index, position))
        for index in range(job.max_window + 1)
        for position in sorted((windows(index) or Window()).results)
    )


def _on_subtitles(
    job: Job, published: SubtitlesPublished, now_ms: int, windows: WindowLookup
) -> Decision:
    if published.translated:
        return _on_translated(job, published.language, "", now_ms, windows)
    if job.state != JobState.BUILDING_CUES or job.subtitles_done:
        return Decision(job)
    return _finish_when_done(job.but(subtitles_done=True), now_ms, windows)


def _on_translated(
    job: Job, language: str, failure: str, now_ms: int, windows: WindowLookup
) -> Decision:
    """A target language's outcome ("" done, else why it failed); the first one stays."""
    if job.state != JobState.BUILDING_CUES or language not in job.targets:
        return Decision(job)
    if language in job.translated:
        return Decision(job)
    return _finish_when_done(
        job.but(translated={**job.translated, language: failure}), now_ms, windows
    )


def _finish_when_done(job: Job, now_ms: int, windows: WindowLookup) -> Decision:
    """The job ends once its own subtitles and every target language are accounted for:
    PARTIAL when segments or languages failed (the reason says which), else COMPLETED."""
    done = progress(job, windows)
    if not job.subtitles_done or any(t not in job.translated for t in job.targets):
        return Decision(job, [_status(job, now_ms, done)])
    missing = []
    if done.failed:
        missing.append(f"{done.failed} of {done.planned} segments untranscribed (marked gaps)")
    if done.speakers_failed:
        # Nothing lost: the words of those windows keep their place, without a label.
        failed = len(done.speakers_failed)
        missing.append(f"speakers: {done.speakers_failed[0]} ({failed} window(s) unlabelled)")
    missing += [f"{lang}: {why}" for lang, why in job.translated.items() if why]
    if missing:
        job = job.but(state=JobState.PARTIAL, reason="; ".join(missing))
    else:
        job = job.but(state=JobState.COMPLETED)
    return Decision(job, [_status(job, now_ms, done)], _forget_windows(job))


def _on_check(job: Job, now_ms: int, policy: Policy, windows: WindowLookup) -> Decision:
    """Fails a job past its deadline; sends overdue segments again; re-drives a stalled job
    from its current stage, so an event lost or skipped anywhere downstream is produced again
    (duplicates are harmless: fan-in is idempotent); forgets a job that ended long ago."""
    if expired(job, now_ms, policy):
        return Decision(job, forget=True)
    if past_deadline(job, now_ms, policy):
        done = progress(job, windows)
        reason = (
            f"deadline of {policy.deadline_ms / 1000:.0f} s exceeded in {job.state}"
            f" ({done.accounted} of {done.planned} segments accounted for)"
        )
        return _fail(job, reason, now_ms, windows)
    if overdue(job, now_ms, policy, windows):
        # Decoding again re-plans every window (a plan read again changes nothing); speech
        # detection sends again only the segments that have no result yet.
        job = job.but(redispatches=job.redispatches + 1)
        status = _status(job, now_ms, progress(job, windows))
        return Decision(job, [status, _decode(job, _accounted_ids(job, windows))])
    if not stalled(job, now_ms, policy):
        if status_behind(job, now_ms, policy):
            return Decision(job, [_status(job, now_ms, progress(job, windows))])
        return Decision(job)
    if job.redrives >= policy.max_redrives:
        done = progress(job, windows)
        if done.fully_planned and done.accounted >= done.planned and done.speakers_pending:
            # Only speakers are missing (no diarize worker, or one that never answers): the
            # words go out unlabelled rather than the job failing.
            why = f"no speakers found after {job.redrives} re-drives (is a diarize worker running?)"
            return _without_speakers(job, why, now_ms, windows)
        idle_s = (now_ms - job.progress_at) / 1000
        reason = (
            f"stalled in {job.state}: no progress for {idle_s:.0f} s after {job.redrives} re-drives"
        )
        return _fail(job, reason, now_ms, windows)
    job = job.but(redrives=job.redrives + 1)
    status = _status(job, now_ms, progress(job, windows))
    if job.state == JobState.BUILDING_CUES:
        return Decision(job, [status, _transcript(job, windows)])
    return Decision(job, [status, _decode(job, _accounted_ids(job, windows))])
