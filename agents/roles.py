"""Roles: which agents a worker process runs (``kaption worker --role R``)."""

from __future__ import annotations

from collections.abc import Callable

from agents import decode, orchestrator, postprocess, sync, transcribe, vad
from streams.app import Pipeline

ROLES: dict[str, Callable[[Pipeline], None]] = {
    "orchestrator": orchestrator.register,
    "decode": decode.register,
    "vad": vad.register,
    "transcribe": transcribe.register,
    "postprocess": postprocess.register,
    "sync": sync.register,
}


def register_role(pipeline: Pipeline, role: str) -> None:
    if role == "all":
        for register in ROLES.values():
            register(pipeline)
    elif role in ROLES:
        ROLES[role](pipeline)
    else:
        raise ValueError(f"unknown role {role!r}: choose from all, {', '.join(ROLES)}")
