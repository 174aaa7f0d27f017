"""Worker processes: one role's agents in a Faust worker, and the local worker supervisor."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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


def settings_env(settings: KaptionSettings) -> dict[str, str]:
    """The settings as KAPTION_* variables, so a child process sees exactly the same."""
    env = {
        f"KAPTION_{name.upper()}": str(value)
        for name, value in settings.model_dump().items()
        if name != "bootstrap_servers"
    }
    env["KAFKA_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
    return env


@contextlib.contextmanager
def worker_process(
    settings: KaptionSettings, role: str, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Runs ``kaption worker --role ROLE`` as a child process for the duration of the block."""
    import os

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker", "--role", role],
            env={**os.environ, **settings_env(settings)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
