"""Connection settings for every Kafka client kaption makes: aiokafka inside the agents (the
client Faust uses) and confluent-kafka (librdkafka) for administration and the CLI's clients.
SASL and TLS settings pass through to both, and a broker that refuses them is reported as such
(KafkaAuthenticationError), not as an outage."""

from __future__ import annotations

import contextlib
import gc
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from aiokafka.helpers import create_ssl_context
from confluent_kafka import KafkaError as LibrdkafkaError
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streams.settings import KaptionSettings

log = logging.getLogger(__name__)

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


class BrokerUnreachable(RuntimeError):
    """No broker answered (streams.broker.admin, where callers import it from, raises it)."""


class KafkaAuthenticationError(BrokerUnreachable):
    """The broker refused the client's credentials, or the TLS handshake failed: retrying
    cannot help, so a command stops with this one line instead of waiting for a broker that is
    up (what handles an unreachable broker handles this too, with its message)."""


# librdkafka's codes for a failed SASL login or TLS handshake (broker certificate not trusted
# or for another host, client certificate refused): the broker is up, the settings are wrong.
SASL_SETTINGS = "KAPTION_SASL_MECHANISM, KAPTION_SASL_USERNAME and KAPTION_SASL_PASSWORD"
SSL_SETTINGS = "KAPTION_SSL_CAFILE, KAPTION_SSL_CERTFILE and KAPTION_SSL_KEYFILE"
TLS_ALERT = "SSL alert number"  # OpenSSL's words for an alert the other end sent
REFUSALS = {
    LibrdkafkaError._AUTHENTICATION: SASL_SETTINGS,
    LibrdkafkaError.SASL_AUTHENTICATION_FAILED: SASL_SETTINGS,
    LibrdkafkaError._SSL: SSL_SETTINGS,
}


def refusal(error: LibrdkafkaError) -> KafkaAuthenticationError | None:
    """The error to stop with when a librdkafka error is a failed login, else None."""
    check = REFUSALS.get(error.code())
    if check is None and error.code() == LibrdkafkaError._TRANSPORT and TLS_ALERT in error.str():
        # With TLS 1.3 a broker that refuses the client's certificate (or its lack of one)
        # says so by an alert after the handshake, which librdkafka reports as a failed read.
        check = SSL_SETTINGS
    if check is None:
        return None
    return KafkaAuthenticationError(
        f"cannot authenticate with Kafka: {error.str()} (check {check})"
    )


def raise_refusals(error: LibrdkafkaError) -> None:
    """librdkafka's error_cb for every client: a refusal is raised out of the poll, flush or
    consume that served it; other errors are the client's own to notice (librdkafka retries)."""
    log.debug("librdkafka: %s", error.str())
    refused = refusal(error)
    if refused is not None:
        raise refused


def release_clients(failure: BaseException) -> None:
    """Frees the Kafka clients that ``failure``'s tracebacks hold. confluent-kafka (2.16) keeps
    one reference too many to an exception raised out of a callback (raise_refusals), so the
    frames of its traceback and the clients in them would live on with their librdkafka
    threads: a process then exits with those threads still retrying a TLS handshake while
    OpenSSL's exit handler frees its state, and crashes after its error was said; a server
    would gather a client per refused request. Call it where such a failure is handled."""
    pending: list[BaseException | None] = [failure]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending += [current.__cause__, current.__context__]
    gc.collect()  # the frames were in reference cycles with their tracebacks


def raise_if_refused(client: Any) -> None:
    """After a request failed: serves the client's queued errors, so a refusal behind the
    failure is raised (a request such as list_topics does not serve them itself)."""
    with contextlib.suppress(KafkaException):
        client.poll(0)


# The client's connection outlives each short request, so asking again loses no progress.
REFUSAL_CHECK_S = 1.0


def list_topics(client: Any, timeout_s: float, topic: str | None = None) -> Any:
    """``client.list_topics`` that notices a refusal within a second or so: a metadata request
    waits out its whole timeout while librdkafka retries the login, so it asks a second at a
    time and serves the queued errors in between (KafkaAuthenticationError). KafkaException, as
    list_topics, when the broker does not answer within ``timeout_s``. ``client``: an admin
    client, a producer, or a consumer with nothing assigned yet (its poll takes no record)."""
    deadline = time.monotonic() + timeout_s
    while True:
        asked_at = time.monotonic()
        left = deadline - asked_at
        try:
            return client.list_topics(topic, timeout=max(0.1, min(REFUSAL_CHECK_S, left)))
        except KafkaException:
            raise_if_refused(client)
            if left <= REFUSAL_CHECK_S:
                raise
            # A request that fails at once (no waiting for its timeout) is not asked in a loop.
            time.sleep(max(0.0, 0.1 - (time.monotonic() - asked_at)))


def check_access(settings: KaptionSettings, timeout_s: float = 10.0) -> None:
    """Raises KafkaAuthenticationError when the broker refuses the settings' credentials or
    TLS. Returns when it lets us in, and also when it does not answer (an outage is for the
    caller's own retries); without SASL or TLS there is nothing to refuse and it asks nothing."""
    if settings.security_protocol == "PLAINTEXT":
        return
    with contextlib.suppress(KafkaException):
        list_topics(AdminClient(librdkafka_config(settings)), timeout_s)


def librdkafka_config(settings: KaptionSettings, **extra: Any) -> dict[str, Any]:
    """confluent-kafka (librdkafka) configuration for any client, plus ``extra`` (an
    ``error_cb`` there should raise ``refusal(error)`` itself)."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "security.protocol": settings.security_protocol,
        # Our own errors say what matters; librdkafka's connection chatter stays off the console
        # unless asked for (KAPTION_LOG_LEVEL=debug: into Python logging, logger "librdkafka").
        "log_level": 0,
        "error_cb": raise_refusals,
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
