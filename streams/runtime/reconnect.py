"""Reconnects that back off: aiokafka retries a broker that refuses connections as fast as its
loops run (measured: a `--role all` worker opened ~320 connections a second to a broker port
that closed each at once, and an operator saw ~130 failed connects a second after the broker
went away). aiokafka has no setting for it (aio-libs/aiokafka#496; the fix, PR #1014, is not
released), so :func:`apply` wraps ``AIOKafkaClient._get_conn``: after a failed connect to a
node, the next attempt to that node waits 0.1 s, doubling per failure up to
``MAX_BACKOFF_S`` (librdkafka's and Java's reconnect.backoff, in spirit), with ±20 % jitter
so the workers of a cluster do not retry in step. A successful connect resets it.

This is a client fix, for every broker kind (unlike streams/broker/tansu.py); it is applied
once, when a worker starts, and tests/unit/test_reconnect.py fails when aiokafka changes what
it relies on.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from aiokafka.client import AIOKafkaClient, ConnectionGroup

FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0
_MARK = "kaption_reconnect_backoff"


def backoff_s(failures: int, jitter: float = 1.0) -> float:
    """The wait before the next attempt after ``failures`` failed connects in a row."""
    if failures <= 0:
        return 0.0
    return min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (failures - 1)) * jitter


def applied() -> bool:
    return bool(getattr(AIOKafkaClient._get_conn, _MARK, False))


def apply() -> None:
    """Wraps ``AIOKafkaClient._get_conn`` with the backoff; idempotent."""
    original = AIOKafkaClient._get_conn
    if getattr(original, _MARK, False):
        return

    async def _get_conn(
        self: Any, node_id: Any, *, group: Any = ConnectionGroup.DEFAULT, no_hint: bool = False
    ) -> Any:
        key = (node_id, group)
        conn = self._conns.get(key)
        if conn is not None and conn.connected():
            return conn
        failures: dict[Any, tuple[int, float, float]] = self.__dict__.setdefault(
            "_kaption_failures", {}
        )
        count, failed_at, jitter = failures.get(key, (0, 0.0, 1.0))
        wait = backoff_s(count, jitter) - (time.monotonic() - failed_at)
        if wait > 0:
            await asyncio.sleep(wait)
        conn = await original(self, node_id, group=group, no_hint=no_hint)
        if conn is None:
            failures[key] = (count + 1, time.monotonic(), random.uniform(0.8, 1.2))
        else:
            failures.pop(key, None)
        return conn

    setattr(_get_conn, _MARK, True)
    AIOKafkaClient._get_conn = _get_conn
