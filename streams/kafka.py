"""Connection settings for every Kafka client kaption makes: aiokafka inside the agents (the
client Faust uses) and confluent-kafka (librdkafka) for administration and the CLI's clients.
SASL and TLS settings pass through to both."""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka import AIOKafkaProducer
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


def event_producer(settings: KaptionSettings) -> AIOKafkaProducer:
    """The agents' producer: large messages, and a send counts once all replicas have it."""
    return AIOKafkaProducer(**client_kwargs(settings), max_request_size=MAX_EVENT_BYTES, acks="all")


def librdkafka_config(settings: KaptionSettings, **extra: Any) -> dict[str, Any]:
    """confluent-kafka (librdkafka) configuration for any client, plus ``extra``."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "security.protocol": settings.security_protocol,
        # Our own errors say what matters; librdkafka's connection chatter stays off the console.
        "log_level": 0,
    }
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
