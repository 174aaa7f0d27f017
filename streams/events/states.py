"""Which job states are final: the orchestrator, the cue stage and clients agree on it here."""

from __future__ import annotations

from streams.events.model import JobState

FINAL_STATES = frozenset({JobState.COMPLETED, JobState.PARTIAL, JobState.FAILED})
