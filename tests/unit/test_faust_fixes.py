"""The Faust workarounds: applied only when asked, and the internals they rely on still exist.

When one of these fails after a Faust or aiokafka upgrade, re-check the workaround's reason in
streams/faust_fixes.py: drop it if the library fixed the behaviour, adapt it if it moved.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

from aiokafka import AIOKafkaConsumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from streams import faust_fixes


def test_importing_kaption_patches_nothing() -> None:
    code = (
        "import streams.cli, streams.stage, streams.worker, streams.faust_fixes as f\n"
        "from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread as T\n"
        "assert not f.applied(T._create_worker_consumer)\n"
        "assert not f.applied(T.seek_to_committed)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_faust_still_hard_codes_the_long_fetch_wait() -> None:
    source = inspect.getsource(AIOKafkaConsumerThread._create_worker_consumer)
    assert "fetch_max_wait_ms=1500" in source
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=1500)
    assert consumer._fetch_max_wait_ms == 1500  # the attribute the workaround rewrites
    start = inspect.getsource(AIOKafkaConsumer.start)
    assert "self._fetch_max_wait_ms" in start  # ... and it is read when the consumer starts


def test_aiokafka_still_skips_the_seek_for_uncommitted_partitions() -> None:
    source = inspect.getsource(AIOKafkaConsumer.seek_to_committed)
    assert "if offset and offset > 0:" in source
    thread_source = inspect.getsource(AIOKafkaConsumerThread.seek_to_committed)
    assert "seek_to_committed" in thread_source
    assert callable(AIOKafkaConsumerThread.call_thread)
    assert callable(AIOKafkaConsumerThread._ensure_consumer)
    assert callable(AIOKafkaConsumer.seek_to_beginning)


def test_apply_wraps_each_method_once() -> None:
    module = importlib.import_module("faust.transport.drivers.aiokafka")
    thread = module.AIOKafkaConsumerThread
    before = (thread._create_worker_consumer, thread.seek_to_committed)
    try:
        faust_fixes.apply(100)
        wrapped = (thread._create_worker_consumer, thread.seek_to_committed)
        assert all(faust_fixes.applied(fn) for fn in wrapped)
        faust_fixes.apply(100)
        assert (thread._create_worker_consumer, thread.seek_to_committed) == wrapped
    finally:
        thread._create_worker_consumer, thread.seek_to_committed = before
