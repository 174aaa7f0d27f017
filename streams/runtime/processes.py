"""Child processes: `kaption worker` started and stopped from Python (run, tests, bench).

Kept apart from streams.runtime.worker so a parent does not import Faust, PyAV and the model
runtime.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from streams.settings import KaptionSettings, env_variable

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Runs in the child before exec: on Linux it is killed when its parent dies, so a killed
    `kaption run` or test session leaves no broker or worker behind."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def stop(process: subprocess.Popen[bytes], graceful: bool, timeout_s: float) -> None:
    """SIGTERM and wait (SIGKILL after ``timeout_s``), or SIGKILL at once."""
    if graceful:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
            return
        except subprocess.TimeoutExpired:
            pass
    process.kill()
    process.wait()


def settings_env(settings: KaptionSettings) -> dict[str, str]:
    """The settings as KAPTION_* variables, so a child process sees exactly the same."""
    return {
        env_variable(name): str(value)
        for name, value in settings.model_dump().items()
        if value is not None  # None: the default (unset)
    }


def role_args(roles: str | Sequence[str]) -> list[str]:
    names = [roles] if isinstance(roles, str) else list(roles)
    return [arg for name in names for arg in ("--role", name)]


@contextlib.contextmanager
def worker_process(
    settings: KaptionSettings,
    roles: str | Sequence[str],
    log_path: Path,
    graceful: bool = True,
) -> Iterator[subprocess.Popen[bytes]]:
    """Runs ``kaption worker --role ROLE ...`` as a child process for the duration of the block.

    ``graceful=False`` kills it at the end: right for a throwaway embedded broker, where a
    clean Faust shutdown (seconds) would protect nothing.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "clients.cli", "worker", *role_args(roles)],
            env={**os.environ, **settings_env(settings)},
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        try:
            yield process
        finally:
            stop(process, graceful, timeout_s=15)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a worker's metrics endpoint)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_ready(port: int, alive: Callable[[], bool], timeout_s: float) -> None:
    """Until the worker serving /readyz on ``port`` says every group joined and every model is
    loaded; RuntimeError if it exits first, TimeoutError past ``timeout_s``."""
    url = f"http://127.0.0.1:{port}/readyz"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("the worker exited while starting")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=2) as reply,
        ):
            if reply.status == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"the worker was not ready after {timeout_s:.0f} s")
