"""Tansu's Faust workarounds: applied only on Tansu, and the internals they rely on still exist.

When one of these fails after a Faust or aiokafka upgrade, re-check the workaround's reason in
streams/broker/tansu.py: drop it if the library fixed the behaviour, adapt it if it moved.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

from aiokafka import AIOKafkaConsumer
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from streams.broker import kind, tansu
from streams.settings import KaptionSettings


def test_importing_kaption_patches_nothing() -> None:
    code = (
        "import clients.cli, streams.runtime.stage, streams.runtime.worker\n"
        "import streams.broker.tansu as f\n"
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
        tansu.apply_faust_fixes(settings, 100)
        wrapped = [getattr(thread, name) for name in names]
        assert all(tansu.applied(fn) for fn in wrapped)
        tansu.apply_faust_fixes(settings, 100)
        assert [getattr(thread, name) for name in names] == wrapped
    finally:
        for name, fn in zip(names, before, strict=True):
            setattr(thread, name, fn)


def test_each_broker_kind_has_its_own_timings_unless_set() -> None:
    on_kafka = KaptionSettings(broker_kind="kafka")
    on_tansu = KaptionSettings(broker_kind="tansu")
    assert kind.timings(on_kafka) == kind.KAFKA_TIMINGS
    assert kind.timings(on_tansu) == kind.TANSU_TIMINGS
    assert kind.KAFKA_TIMINGS.fetch_max_wait_ms > kind.TANSU_TIMINGS.fetch_max_wait_ms
    given = KaptionSettings(broker_kind="tansu", session_timeout_s=20.0, fetch_max_wait_ms=250)
    assert kind.timings(given) == kind.Timings(20.0, tansu.HEARTBEAT_INTERVAL_S, 250)


def test_an_explicit_kind_asks_no_broker() -> None:
    # Nothing listens on port 1: a detection would fail (and be assumed Apache Kafka).
    settings = KaptionSettings(bootstrap_servers="127.0.0.1:1", broker_kind="tansu")
    assert kind.broker_kind(settings) == "tansu"
