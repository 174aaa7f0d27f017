"""Broker outages, the parts that need no broker: which errors are retried, the client's
unreachability notices, and the rate limit on aiokafka's per-attempt log lines."""

from __future__ import annotations

import logging

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NodeNotReadyError,
    NotLeaderForPartitionError,
    ProducerClosed,
    RequestTimedOutError,
)
from confluent_kafka import Consumer

from clients.jobs import NOTICE_EVERY_S, BrokerWatch, any_broker_up
from streams.broker.admin import BrokerUnreachable
from streams.runtime.kafka import (
    AIOKAFKA_LOGGERS,
    RepeatFilter,
    quiet_repeated_client_errors,
    transient,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    "error",
    [
        NodeNotReadyError("node 1"),
        KafkaConnectionError("closed"),
        RequestTimedOutError(),
        NotLeaderForPartitionError(),
        KafkaTimeoutError(),
        TimeoutError(),
    ],
)
def test_errors_of_an_outage_or_a_leader_move_are_retried(error: Exception) -> None:
    assert transient(error)


@pytest.mark.parametrize(
    "error", [MessageSizeTooLargeError(), ProducerClosed(), ValueError("bug"), RuntimeError()]
)
def test_errors_that_a_retry_cannot_cure_are_not(error: Exception) -> None:
    assert not transient(error)


def test_the_client_says_once_that_the_broker_is_unreachable_then_every_ten_seconds() -> None:
    clock, lines = Clock(), list[str]()
    watch = BrokerWatch("127.0.0.1:9092", give_up_s=60.0, notify=lines.append, clock=clock)
    watch.down("Connection refused")
    for _ in range(10):  # a blip: not news
        clock.now += 0.1
        watch.check()
    assert lines == []
    for _ in range(120):  # 12 s of polling every 0.1 s
        clock.now += 0.1
        watch.check()
    assert lines == [
        "broker 127.0.0.1:9092 unreachable for 2 s, retrying",
        "broker 127.0.0.1:9092 unreachable for 12 s, retrying",
    ]
    watch.up()
    assert lines[-1] == "broker 127.0.0.1:9092 reachable again after 13 s"
    watch.check()
    assert len(lines) == 3


def test_the_client_gives_up_past_its_limit_with_the_reason() -> None:
    clock, lines = Clock(), list[str]()
    watch = BrokerWatch("127.0.0.1:9092", give_up_s=30.0, notify=lines.append, clock=clock)
    watch.down("Connection refused")
    clock.now += 29.0
    watch.check()
    clock.now += 2.0
    with pytest.raises(BrokerUnreachable) as raised:
        watch.check()
    message = str(raised.value)
    assert "127.0.0.1:9092 unreachable for 31 s (Connection refused)" in message
    assert "KAPTION_CLIENT_UNREACHABLE_TIMEOUT_S=30" in message
    assert NOTICE_EVERY_S < 30.0 and len(lines) == 1


def test_a_blip_shorter_than_the_notice_delay_says_nothing() -> None:
    clock, lines = Clock(), list[str]()
    watch = BrokerWatch("b:1", give_up_s=30.0, notify=lines.append, clock=clock)
    watch.down()
    clock.now += 1.0
    watch.check()
    watch.up()
    assert lines == []


def test_librdkafka_statistics_without_a_connection_read_as_down() -> None:
    """Real statistics from librdkafka trying a port where nothing listens."""
    reports: list[str] = []
    consumer = Consumer(
        {
            "bootstrap.servers": "127.0.0.1:1",
            "group.id": "stats",
            "statistics.interval.ms": 200,
            "stats_cb": reports.append,
            "error_cb": lambda error: None,
            "log_level": 0,
        }
    )
    try:
        while not reports:
            consumer.poll(0.2)
    finally:
        consumer.close()
    taken, up = any_broker_up(reports[-1])
    assert taken > 0 and not up
    assert any_broker_up('{"ts": 5, "brokers": {"127.0.0.1:9092/1": {"state": "UP"}}}') == (5, True)


def test_statistics_older_than_the_newest_seen_are_ignored() -> None:
    """The producer's queued statistics (from before an outage) must not announce a recovery
    the consumer's newer ones deny."""
    clock, lines = Clock(), list[str]()
    watch = BrokerWatch("b:1", give_up_s=60.0, notify=lines.append, clock=clock)
    down = '{"ts": 2000, "brokers": {"b:1/bootstrap": {"state": "INIT"}}}'
    stale_up = '{"ts": 1000, "brokers": {"b:1/1": {"state": "UP"}}}'
    watch.on_stats(down)
    clock.now += 5.0
    watch.check()
    watch.on_stats(stale_up)
    assert watch.down_since is not None and lines == ["broker b:1 unreachable for 5 s, retrying"]


def record(message: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("aiokafka", level, __file__, 1, message, args, None)


def test_repeated_client_errors_pass_once_per_period_with_a_count() -> None:
    clock = Clock()
    quiet = RepeatFilter(every_s=30.0, clock=clock)
    passed = []
    for node in range(100):
        clock.now += 0.1
        line = record("Unable connect to node with id %s: %s", node, "refused")
        if quiet.filter(line):
            passed.append(line.getMessage())
    assert passed == ["Unable connect to node with id 0: refused"]
    clock.now += 30.0
    line = record("Unable connect to node with id %s: %s", 7, "refused")
    assert quiet.filter(line)
    assert (
        line.getMessage() == "Unable connect to node with id 7: refused [99 more like it in 40 s]"
    )
    assert quiet.filter(record("Failed fetch messages from %s", 1))  # another message
    assert quiet.filter(record("joined", level=logging.INFO))
    assert quiet.filter(record("joined", level=logging.INFO))


def test_the_filter_sits_on_every_logger_aiokafka_reports_failed_attempts_on() -> None:
    """A logger's filters see only its own records: if aiokafka renames a module logger, the
    filter would silently miss it."""
    import aiokafka.client
    import aiokafka.cluster
    import aiokafka.conn
    import aiokafka.consumer.consumer
    import aiokafka.consumer.fetcher
    import aiokafka.consumer.group_coordinator
    import aiokafka.producer.producer
    import aiokafka.producer.sender

    modules = (
        aiokafka.client,
        aiokafka.cluster,
        aiokafka.conn,
        aiokafka.consumer.consumer,
        aiokafka.consumer.fetcher,
        aiokafka.consumer.group_coordinator,
        aiokafka.producer.producer,
        aiokafka.producer.sender,
    )
    assert {module.log.name for module in modules} == set(AIOKAFKA_LOGGERS)
    quiet_repeated_client_errors()
    quiet_repeated_client_errors()  # idempotent
    for name in AIOKAFKA_LOGGERS:
        filters = [f for f in logging.getLogger(name).filters if isinstance(f, RepeatFilter)]
        assert len(filters) == 1, name
