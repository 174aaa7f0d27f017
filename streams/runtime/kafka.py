"""Connection settings for every Kafka client kaption makes: aiokafka inside the agents (the
client Faust uses) and confluent-kafka (librdkafka) for administration and the CLI's clients.
SASL and TLS settings pass through to both."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from aiokafka.helpers import create_ssl_context

from streams.settings import KaptionSettings

# Largest event a client sends or fetches (topics.yaml caps each topic lower).
MAX_EVENT_BYTES = 64 * 1024 * 1024


def ssl_context(settings: KaptionSettings) -> ssl.SSLContext | None:
    if "SSL" not in settings.security_protocol:
        return None
    return create_ssl_context(
        cafile=settings.ssl_cafile or None,
        certfile=settings.ssl_certfile or None,
        keyfile=settings.ssl_keyfile or None,
    )


def client_kwargs(settings: KaptionSettings) -> dict[str, Any]:
    """aiokafka keyword arguments for any client (producer, consumer, admin)."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    if "SASL" in settings.security_protocol:
        kwargs |= {
            "sasl_mechanism": settings.sasl_mechanism,
            "sasl_plain_username": settings.sasl_username,
            "sasl_plain_password": settings.sasl_password,
        }
    context = ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    return kwargs


def transient(error: BaseException) -> bool:
    """An aiokafka error that a broker outage or leader move causes and that goes away by
    itself: worth retrying. KafkaTimeoutError (no metadata, or a batch that expired in the
    accumulator while no broker answered) is not marked retriable by aiokafka, but during an
    outage it is exactly what a send raises."""
    if isinstance(error, (KafkaTimeoutError, KafkaConnectionError, TimeoutError)):
        return True
    return isinstance(error, KafkaError) and bool(error.retriable)


# aiokafka's loggers that log every failed connect, fetch, metadata and heartbeat attempt.
AIOKAFKA_LOGGERS = (
    "aiokafka",
    "aiokafka.conn",
    "aiokafka.cluster",
    "aiokafka.consumer.consumer",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
    "aiokafka.producer.sender",
    "aiokafka.producer.producer",
)
REPEAT_EVERY_S = 30.0


class RepeatFilter(logging.Filter):
    """Lets a warning or error through once per ``every_s`` per logger and message template,
    then says how many like it were held back. During a broker outage aiokafka logs each failed
    attempt (about 60 KB a second for a worker running every stage), which buries everything
    else in the log."""

    def __init__(
        self, every_s: float = REPEAT_EVERY_S, clock: Callable[[], float] = time.monotonic
    ):
        super().__init__()
        self.every_s = every_s
        self.clock = clock
        self.seen: dict[tuple[str, str], tuple[float, int]] = {}  # passed at, held back since

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = self.clock()
        passed_at, held = self.seen.get(key, (None, 0))
        if passed_at is not None and now - passed_at < self.every_s:
            self.seen[key] = (passed_at, held + 1)
            return False
        if held:
            record.msg = f"{record.msg} [{held} more like it in {now - passed_at:.0f} s]"  # type: ignore[operator]
        self.seen[key] = (now, 0)
        return True


def quiet_repeated_client_errors(every_s: float = REPEAT_EVERY_S) -> None:
    """Installs one RepeatFilter on aiokafka's loggers (a logger's filters see only its own
    records, hence each by name); idempotent."""
    shared = RepeatFilter(every_s)
    for name in AIOKAFKA_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RepeatFilter) for f in logger.filters):
            logger.addFilter(shared)


def event_producer(settings: KaptionSettings, idempotent: bool = True) -> AIOKafkaProducer:
    """The agents' producer: large messages; a send counts once every in-sync replica has it,
    and a send retried after a lost answer is stored once (``idempotent``: Apache Kafka; Tansu
    fails aiokafka's InitProducerId)."""
    return AIOKafkaProducer(
        **client_kwargs(settings),
        max_request_size=MAX_EVENT_BYTES,
        acks="all",
        enable_idempotence=idempotent,
    )


def librdkafka_config(settings: KaptionSettings, **extra: Any) -> dict[str, Any]:
    """confluent-kafka (librdkafka) configuration for any client, plus ``extra``."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "security.protocol": settings.security_protocol,
        # Our own errors say what matters; librdkafka's connection chatter stays off the console
        # unless asked for (KAPTION_LOG_LEVEL=debug: into Python logging, logger "librdkafka").
        "log_level": 0,
    }
    if settings.log_level == "debug":
        config |= {"log_level": 7, "logger": logging.getLogger("librdkafka")}
    if "SASL" in settings.security_protocol:
        config |= {
            "sasl.mechanism": settings.sasl_mechanism,
            "sasl.username": settings.sasl_username,
            "sasl.password": settings.sasl_password,
        }
    for key, value in (
        ("ssl.ca.location", settings.ssl_cafile),
        ("ssl.certificate.location", settings.ssl_certfile),
        ("ssl.key.location", settings.ssl_keyfile),
    ):
        if value and "SSL" in settings.security_protocol:
            config[key] = value
    return config | extra
