"""The role table: which stages ``kaption worker --role`` can run. The one place the platform
(worker, CLI) reaches the stages; each stage's code is imported only when a process runs it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from importlib import import_module
from typing import TYPE_CHECKING, Any

from streams.settings import KaptionSettings

if TYPE_CHECKING:  # the worker imports Faust: not needed to list the roles
    from streams.runtime.worker import Register

# In the order of the flow. Each stage is its own Faust app and consumer group, and its module
# (agents/<stage>/agent.py) has a ``register(stage)``. Live streams have a lane of their own:
# speech detection (agents/live), then "<stage>-live" stages with their own topics and groups,
# in agents/<stage>/live_agent.py, so a file backlog never delays live captions.
FILE_STAGES = (
    "orchestrator",
    "decode",
    "vad",
    "diarize",
    "transcribe",
    "cues",
    "translate",
    "subtitles",
)
LIVE_STAGES = ("live", "transcribe-live", "cues-live", "translate-live", "subtitles-live")
STAGES = FILE_STAGES + LIVE_STAGES
# Roles outside "all": a shadow model transcribes the same segments for comparison only
# (agents/transcribe/shadow_agent.py; KAPTION_SHADOW_MODEL names it).
EXTRA_STAGES = ("transcribe-shadow",)
ROLES = STAGES + EXTRA_STAGES
ALL = "all"
# settings, model name, since, jobs, progress line -> segments replayed
Replay = Callable[[KaptionSettings, str, datetime | None, Sequence[str], Callable[[str], Any]], int]


def stages_for(roles: tuple[str, ...]) -> list[str]:
    """The stages of the given roles, each once, in flow order (``all``: every stage)."""
    if ALL in roles:
        return list(STAGES)
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}: choose from {ALL}, {', '.join(ROLES)}")
    return [name for name in ROLES if name in roles]


def stage_module(stage: str) -> str:
    if stage.endswith("-live"):
        return f"agents.{stage.removesuffix('-live')}.live_agent"
    if stage.endswith("-shadow"):
        return f"agents.{stage.removesuffix('-shadow')}.shadow_agent"
    return f"agents.{stage}.agent"


def stage_inputs(stage: str) -> tuple[str, ...]:
    """The topics the stage's agents consume (its module's ``INPUTS``)."""
    inputs: tuple[str, ...] = import_module(stage_module(stage)).INPUTS
    return inputs


def replay_function() -> Replay:
    """`kaption models replay`: retained segments through a model into shadow.transcripts."""
    replay: Replay = import_module("agents.transcribe.replay").replay
    return replay


def register_function(stage: str) -> Register:
    register: Register = import_module(stage_module(stage)).register
    return register
