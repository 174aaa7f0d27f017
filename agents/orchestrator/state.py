"""The orchestrator's state: small and bounded, never words or audio.

Two tables, both keyed within a job and partitioned with the job's events:

- ``Job`` (key: job id): state, counts and times, a few hundred bytes whatever the job's length;
- ``Window`` (key: ``<job id>:<window>``): the times of one audio window's segments and which
  have a result. A segment result rewrites only its window, so the changelog grows with the
  media's length, not its square.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from streams.events import JobState
from streams.states import FINAL_STATES

DONE, FAILED = "done", "failed"


@dataclass(frozen=True)
class Job:
    job_id: str
    name: str
    source: str
    language: str
    state: JobState
    requested_at: int = 0  # ms, as the request says
    duration: float = 0.0  # seconds of media planned so far
    audio_planned: float = 0.0  # seconds of speech in the plans so far
    audio_done: float = 0.0  # seconds of speech with a result (transcribed or failed)
    windows_planned: int = 0  # audio windows whose plan arrived
    last_window: int | None = None  # index of the final window, once its plan arrived
    max_window: int = -1  # highest window index seen in a plan or a result
    planned: int = 0  # segments in the plans so far
    done: int = 0  # planned segments transcribed
    failed: int = 0  # planned segments that failed after their retries
    first_failure: str | None = None  # why the first segment failed
    reason: str | None = None  # why the job failed, or what PARTIAL left out
    progress_at: int = 0  # ms; the last change
    redrives: int = 0

    @property
    def terminal(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def fully_planned(self) -> bool:
        return self.last_window is not None and self.windows_planned == self.last_window + 1

    @property
    def accounted(self) -> int:
        return self.done + self.failed

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"state": self.state.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Job:
        return cls(**{**data, "state": JobState(data["state"])})

    def but(self, **changes: Any) -> Job:
        return replace(self, **changes)


@dataclass(frozen=True)
class Window:
    """One audio window's segments. Results may arrive before the plan (speech detection sends
    segments to transcription and the plan to the orchestrator on different topics)."""

    planned: bool = False
    spans: tuple[tuple[float, float], ...] = ()  # (start, end) per position, from the plan
    results: Mapping[int, str] = field(default_factory=dict)  # position -> DONE or FAILED

    def counted(self, outcome: str) -> int:
        """Results for planned positions with this outcome."""
        return sum(1 for p, o in self.results.items() if o == outcome and p < len(self.spans))

    def seconds(self, positions: Iterable[int]) -> float:
        """Speech seconds of the given planned positions."""
        return sum(self.spans[p][1] - self.spans[p][0] for p in positions if p < len(self.spans))

    def to_json(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "spans": [list(span) for span in self.spans],
            "results": {str(position): outcome for position, outcome in self.results.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Window:
        return cls(
            planned=data["planned"],
            spans=tuple((start, end) for start, end in data["spans"]),
            results={int(position): outcome for position, outcome in data["results"].items()},
        )


WindowLookup = Callable[[int], Window | None]


def window_key(job_id: str, window: int) -> str:
    return f"{job_id}:{window}"
