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
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from streams import faust_fixes
from streams.settings import KaptionSettings


def test_importing_kaption_patches_nothing() -> None:
    code = (
        "import streams.cli, streams.stage, streams.worker, streams.faust_fixes as f\n"
        "from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread as T\n"
        "assert not f.applied(T._create_worker_consumer)\n"
        "assert not f.applied(T.seek_to_committed)\n"
        "assert not f.applied(T._highwaters)\n"
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


def test_faust_recovery_still_reads_changelogs_up_to_listoffsets() -> None:
    recovery = inspect.getsource(Recovery._build_highwaters)
    assert "consumer.highwaters(" in recovery
    source = inspect.getsource(AIOKafkaConsumerThread._highwaters)
    assert "consumer.end_offsets(partitions)" in source
    assert "in_transaction" in source


def test_apply_wraps_each_method_once() -> None:
    module = importlib.import_module("faust.transport.drivers.aiokafka")
    thread = module.AIOKafkaConsumerThread
    names = ("_create_worker_consumer", "seek_to_committed", "_highwaters")
    before = [getattr(thread, name) for name in names]
    settings = KaptionSettings(bootstrap_servers="127.0.0.1:1")
    try:
        faust_fixes.apply(settings)
        wrapped = [getattr(thread, name) for name in names]
        assert all(faust_fixes.applied(fn) for fn in wrapped)
        faust_fixes.apply(settings)
        assert [getattr(thread, name) for name in names] == wrapped
    finally:
        for name, fn in zip(names, before, strict=True):
            setattr(thread, name, fn)
