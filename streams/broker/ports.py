"""Waiting for a broker process to listen."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time


class BrokerError(RuntimeError):
    pass


def listening(host: str, port: int) -> bool:
    """Whether something accepts a connection on ``host:port`` now."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def wait_for_port(
    host: str,
    port: int,
    timeout_s: float,
    process: subprocess.Popen[bytes],
    what: str = "the process",
) -> None:
    """Until ``host:port`` accepts a connection; BrokerError when ``process`` exits first or
    nothing listens within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrokerError(f"{what} exited with code {process.returncode}")
        if listening(host, port):
            return
        time.sleep(0.05)
    raise BrokerError(f"{what} did not listen on {host}:{port} in {timeout_s:.0f} s")
