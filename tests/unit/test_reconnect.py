"""Reconnects back off: a refusing broker is retried after 0.1 s, doubling up to 5 s."""

from __future__ import annotations

import inspect
import subprocess
import sys
import time

import pytest
from aiokafka.client import AIOKafkaClient

from streams.runtime import reconnect
from streams.runtime.processes import free_port


def test_the_backoff_doubles_from_a_tenth_of_a_second_to_five() -> None:
    assert [reconnect.backoff_s(n) for n in range(0, 9)] == pytest.approx(
        [0.0, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    )
    assert reconnect.backoff_s(3, jitter=1.2) == pytest.approx(0.48)


def test_importing_kaption_patches_nothing() -> None:
    code = (
        "import clients.cli, streams.runtime.worker, streams.runtime.reconnect as r\n"
        "assert not r.applied()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_aiokafka_still_connects_through_get_conn() -> None:
    source = inspect.getsource(AIOKafkaClient.ready)
    assert "self._get_conn(" in source
    assert "return None" in inspect.getsource(AIOKafkaClient._get_conn)  # a failed connect


async def attempts_in(seconds: float) -> int:
    """Connects to a port nothing listens on, as fast as a caller loops, for ``seconds``."""
    client = AIOKafkaClient(bootstrap_servers=f"127.0.0.1:{free_port()}")
    count, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert await client._get_conn("bootstrap-0") is None
        count += 1
    await client.close()
    return count


async def test_a_refusing_broker_is_retried_with_backoff() -> None:
    original = AIOKafkaClient._get_conn
    unwrapped = await attempts_in(1.0)
    try:
        reconnect.apply()
        reconnect.apply()  # idempotent
        assert reconnect.applied()
        backed_off = await attempts_in(1.5)
    finally:
        AIOKafkaClient._get_conn = original
    assert unwrapped > 50  # aiokafka alone: as fast as the loop runs
    # Attempts start at 0, 0.1, 0.3, 0.7 and 1.5 s (each wait ±20 %), and the one started
    # last runs past the 1.5 s: 4 to 6 attempts.
    assert 4 <= backed_off <= 6, backed_off
