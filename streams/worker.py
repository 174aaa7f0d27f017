"""A worker process: one role's agents in a Faust worker."""

from __future__ import annotations

import faust

from agents.roles import register_role
from streams.app import Pipeline, create_app
from streams.settings import KaptionSettings


def run_worker(settings: KaptionSettings, role: str) -> None:
    """Blocks running the role's agents until interrupted (SIGINT/SIGTERM)."""
    app = create_app(settings, role)
    register_role(Pipeline.build(settings, app), role)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
