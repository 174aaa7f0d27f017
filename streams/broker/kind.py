"""The one switch between Apache Kafka and Tansu: which kind of broker a process talks to.

``KAPTION_BROKER_KIND`` (kafka, tansu or auto) says it; auto asks the cluster once per process
and bootstrap address (Tansu names its cluster ``tansu_cluster``). A broker kaption starts
itself passes its kind to every process it starts, so nothing is asked then. Everything that
differs between the two kinds asks here: Tansu's workarounds (streams/broker/tansu.py) apply
only when this says tansu, and on Apache Kafka nothing in Faust or aiokafka is patched.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streams.broker import tansu
from streams.runtime.kafka import librdkafka_config, list_topics, raise_refusals
from streams.settings import KaptionSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timings:
    """Group and fetch timings (KaptionSettings leaves them unset: each kind has its own)."""

    session_timeout_s: float
    heartbeat_interval_s: float
    fetch_max_wait_ms: int


Kind = Literal["kafka", "tansu"]
DETECT_TIMEOUT_S = 10.0

# Apache Kafka: the clients' own defaults, nothing patched. A fetch returns as soon as data
# arrives, so Faust's long wait (1.5 s, hard-coded) costs no latency and few idle fetches; a
# session survives any model call (heartbeats come from the consumer's own thread), and a
# crashed worker's partitions move after 45 s (Kafka's default).
KAFKA_TIMINGS = Timings(session_timeout_s=45.0, heartbeat_interval_s=3.0, fetch_max_wait_ms=1500)
TANSU_TIMINGS = Timings(
    tansu.SESSION_TIMEOUT_S, tansu.HEARTBEAT_INTERVAL_S, tansu.FETCH_MAX_WAIT_MS
)


@functools.lru_cache(maxsize=16)
def _detect(config_items: tuple[tuple[str, str], ...]) -> Kind:
    """The kind, from the cluster id (KafkaException when the broker does not answer: that is
    not remembered, so the next call asks again; KafkaAuthenticationError when it refuses our
    credentials or TLS)."""
    config: dict[str, Any] = {**dict(config_items), "error_cb": raise_refusals}
    admin = AdminClient(config)
    metadata = list_topics(admin, DETECT_TIMEOUT_S)
    cluster = metadata.cluster_id or ""
    return "tansu" if cluster.startswith(tansu.CLUSTER_ID_PREFIX) else "kafka"


def broker_kind(settings: KaptionSettings) -> Kind:
    """The kind of the settings' broker: as set, or asked once per process (auto)."""
    if settings.broker_kind != "auto":
        return settings.broker_kind
    config = librdkafka_config(settings)
    # Not hashable (the logger is not needed for one metadata request; _detect adds error_cb).
    config.pop("logger", None)
    config.pop("error_cb", None)
    try:
        return _detect(tuple(sorted((k, str(v)) for k, v in config.items())))
    except KafkaException:
        # No answer now: Apache Kafka, the kind that needs no workaround (the caller's own
        # requests will say the broker is down); asked again next time.
        log.warning(
            "broker kind: no answer from %s; assuming Apache Kafka", settings.bootstrap_servers
        )
        return "kafka"


def timings(settings: KaptionSettings) -> Timings:
    """Session, heartbeat and fetch wait: the settings where given, else the kind's defaults."""
    defaults = TANSU_TIMINGS if broker_kind(settings) == "tansu" else KAFKA_TIMINGS
    return Timings(
        session_timeout_s=settings.session_timeout_s or defaults.session_timeout_s,
        heartbeat_interval_s=settings.heartbeat_interval_s or defaults.heartbeat_interval_s,
        fetch_max_wait_ms=settings.fetch_max_wait_ms or defaults.fetch_max_wait_ms,
    )


def resolved(settings: KaptionSettings, kind: Kind) -> KaptionSettings:
    """The settings with the broker kind fixed (what a process that started the broker passes
    to the processes it starts)."""
    return settings.model_copy(update={"broker_kind": kind})
