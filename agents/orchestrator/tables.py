"""The orchestrator's two tables, read and written the way :func:`decide` needs them.

The tables hold JSON values (Faust tables in the agent, plain dicts in tests and benchmarks).
Every result reads all of its job's windows, so records are decoded once per stored value and
kept, bounded, while the table still holds that very value: a value is never changed in place,
only replaced, so an identical object is an unchanged record.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any, Generic, TypeVar

from agents.orchestrator.decide import Decision
from agents.orchestrator.state import Job, Window, WindowLookup, window_key

T = TypeVar("T")
CACHED_RECORDS = 20_000


class Decoded(Generic[T]):
    """A table's records as typed values, decoded once per stored value."""

    def __init__(
        self,
        table: MutableMapping[str, Any],
        decode: Callable[[Any], T],
        encode: Callable[[T], Any],
        size: int = CACHED_RECORDS,
    ) -> None:
        self.table, self.decode, self.encode, self.size = table, decode, encode, size
        self._cache: dict[str, tuple[Any, T]] = {}

    def get(self, key: str) -> T | None:
        stored = self.table.get(key)
        if stored is None:
            return None
        cached = self._cache.get(key)
        if cached is not None and cached[0] is stored:
            return cached[1]
        value = self.decode(stored)
        self._remember(key, stored, value)
        return value

    def set(self, key: str, value: T) -> None:
        stored = self.encode(value)
        self.table[key] = stored
        self._remember(key, stored, value)

    def delete(self, key: str) -> None:
        self._cache.pop(key, None)
        if key in self.table:
            del self.table[key]

    def _remember(self, key: str, stored: Any, value: T) -> None:
        self._cache.pop(key, None)
        if len(self._cache) >= self.size:
            del self._cache[next(iter(self._cache))]  # the least recently written
        self._cache[key] = (stored, value)


class JobTables:
    def __init__(self, jobs: MutableMapping[str, Any], windows: MutableMapping[str, Any]) -> None:
        self.jobs = Decoded(jobs, Job.from_json, Job.to_json)
        self.windows = Decoded(windows, Window.from_json, Window.to_json)

    def job(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def windows_of(self, job_id: str) -> WindowLookup:
        def lookup(index: int) -> Window | None:
            return self.windows.get(window_key(job_id, index))

        return lookup

    def store(self, job_id: str, before: Job | None, decision: Decision) -> None:
        """Windows first, then the job (counts are derived from the windows, so a crash in
        between leaves nothing a re-read event cannot repair)."""
        for index, window in decision.windows.items():
            key = window_key(job_id, index)
            if window is None:
                self.windows.delete(key)
            else:
                self.windows.set(key, window)
        if decision.forget:
            self.jobs.delete(job_id)
        elif decision.job is not None and decision.job != before:
            self.jobs.set(job_id, decision.job)
