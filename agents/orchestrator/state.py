"""The orchestrator's state: small and bounded, never words or audio.

Two tables, both keyed within a job and partitioned with the job's events:

- ``Job`` (key: job id): state and times, a few hundred bytes whatever the job's length;
- ``Window`` (key: ``<job id>:<window>``): the times of one audio window's segments and which
  have a result. A segment result rewrites only its window, so the changelog grows with the
  media's length, not its square.

The two are written by one event but not atomically: a worker killed between the two changelog
writes leaves one of them a step behind, and the event is read again after the restart. So
counts are never stored: they are derived from the windows (:func:`progress`), and every write
sets a fact (a window's plan, a segment's outcome, the highest window seen) rather than
incrementing one, so reading an event again repairs whatever was left behind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any

from streams.events.model import JobState
from streams.events.states import FINAL_STATES

DONE, FAILED = "done", "failed"


@dataclass(frozen=True)
class Job:
    job_id: str
    name: str
    source: str
    language: str  # as asked ("auto": detect), then as speech detection found it
    state: JobState
    model: str = ""  # the declared model the job asks for ("" = the stage's current one)
    language_detection: str = "job"  # "job" or "segment" (speech that switches language)
    models: tuple[str, ...] = ()  # labels (name@version) of the models that transcribed it
    targets: tuple[str, ...] = ()  # languages to translate into
    whisper_translate: bool = False  # its English comes from Whisper's translate task
    # target language -> "" (done) or why it failed; a target not here is still pending
    translated: Mapping[str, str] = field(default_factory=dict)
    subtitles_done: bool = False  # the transcript's own subtitles are published
    requested_at: int = 0  # ms, as the request says
    duration: float = 0.0  # seconds of media planned so far
    max_window: int = -1  # highest window index seen in a plan or a result
    first_failure: str | None = None  # why the first segment failed
    reason: str | None = None  # why the job failed, or what PARTIAL left out
    progress_at: int = 0  # ms; the last change
    status_at: int = 0  # ms; the last JobStatus published
    redrives: int = 0  # whole-job re-drives after a stall
    redispatches: int = 0  # overdue segments sent again
    # Speaker labels asked for, and how many speakers (0: not said); see SpeakerCount.
    speakers: bool = False
    num_speakers: int = 0
    min_speakers: int = 0
    max_speakers: int = 0

    @property
    def terminal(self) -> bool:
        return self.state in FINAL_STATES

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"state": self.state.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Job:
        return cls(
            **{
                **data,
                "state": JobState(data["state"]),
                "models": tuple(data.get("models", ())),
                "targets": tuple(data.get("targets", ())),
            }
        )

    def but(self, **changes: Any) -> Job:
        return replace(self, **changes)


@dataclass(frozen=True)
class Window:
    """One audio window's segments. Results may arrive before the plan (speech detection sends
    segments to transcription and the plan to the orchestrator on different topics)."""

    planned: bool = False
    last: bool = False  # the job's final window (from the plan)
    spans: tuple[tuple[float, float], ...] = ()  # (start, end) per position, from the plan
    results: Mapping[int, str] = field(default_factory=dict)  # position -> DONE or FAILED
    # A speakers job: None while the window's speakers are pending, "" found, else why not.
    speakers: str | None = None

    @cached_property
    def tally(self) -> tuple[int, int, float, float]:
        """(done, failed, speech seconds planned, speech seconds with a result), computed once
        per window: a job's progress adds up every window after each result."""
        done = failed = 0
        seconds_done = 0.0
        for position, outcome in self.results.items():
            if position >= len(self.spans):
                continue  # a result the plan does not have
            done += outcome == DONE
            failed += outcome == FAILED
            seconds_done += self.spans[position][1] - self.spans[position][0]
        return done, failed, sum(end - start for start, end in self.spans), seconds_done

    def to_json(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "last": self.last,
            "spans": [list(span) for span in self.spans],
            "results": {str(position): outcome for position, outcome in self.results.items()},
            "speakers": self.speakers,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Window:
        return cls(
            planned=data["planned"],
            last=data.get("last", False),
            spans=tuple((start, end) for start, end in data["spans"]),
            results={int(position): outcome for position, outcome in data["results"].items()},
            speakers=data.get("speakers"),
        )


WindowLookup = Callable[[int], Window | None]


@dataclass(frozen=True)
class Progress:
    """What the windows say of a job: counted over planned segments only."""

    planned: int = 0
    done: int = 0
    failed: int = 0
    audio_planned: float = 0.0  # seconds of speech in the plans
    audio_done: float = 0.0  # seconds of speech with a result (transcribed or failed)
    any_planned: bool = False
    fully_planned: bool = False  # the last window and every one before it are planned
    speakers_pending: int = 0  # a speakers job: windows whose speakers have not come yet
    speakers_failed: tuple[str, ...] = ()  # why, for each window whose speakers were not found

    @property
    def accounted(self) -> int:
        return self.done + self.failed

    @property
    def complete(self) -> bool:
        return self.fully_planned and self.accounted >= self.planned and not self.speakers_pending


def progress(job: Job, windows: WindowLookup) -> Progress:
    planned = done = failed = 0
    audio_planned = audio_done = 0.0
    any_planned, gap, last = False, False, None
    speakers_pending, speakers_failed = 0, []
    for index in range(job.max_window + 1):
        window = windows(index)
        if job.speakers and (window is None or window.speakers is None):
            speakers_pending += 1
        elif job.speakers and window is not None and window.speakers:
            speakers_failed.append(window.speakers)
        if window is None or not window.planned:
            gap = gap or last is None
            continue
        any_planned = True
        planned += len(window.spans)
        window_done, window_failed, window_planned_s, window_done_s = window.tally
        done += window_done
        failed += window_failed
        audio_planned += window_planned_s
        audio_done += window_done_s
        if window.last and last is None:
            last = index
    return Progress(
        planned,
        done,
        failed,
        audio_planned,
        audio_done,
        any_planned,
        fully_planned=last is not None and not gap,
        speakers_pending=speakers_pending,
        speakers_failed=tuple(speakers_failed),
    )


def window_key(job_id: str, window: int) -> str:
    return f"{job_id}:{window}"
