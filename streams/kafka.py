"""Kafka client plumbing shared by the CLI, the client and the Faust apps: connection settings
(SASL/TLS passed through), topic administration."""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.helpers import create_ssl_context

from streams.settings import KaptionSettings
from streams.topics import ApplyReport, drift, load_registry

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
    """Producer for kaption events: large messages, and a send counts once all replicas have it."""
    return AIOKafkaProducer(**client_kwargs(settings), max_request_size=MAX_EVENT_BYTES, acks="all")


async def apply_topics(settings: KaptionSettings) -> ApplyReport:
    """Creates missing topics of topics.yaml (under the settings' prefix); reports (never
    alters) existing ones that differ from the spec."""
    registry = load_registry(settings.topics_file, settings.topic_prefix)
    report = ApplyReport()
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = registry.deployed()
        missing = [
            NewTopic(name, spec.partitions, 1, topic_configs=spec.configs())
            for name, spec in wanted.items()
            if name not in existing
        ]
        if missing:
            await admin.create_topics(missing)
            report.created = [topic.name for topic in missing]
        present = sorted(set(wanted) & existing)
        if present:
            described = {
                t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(present)
            }
            resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in present]
            configs: dict[str, dict[str, str]] = {}
            for response in await admin.describe_configs(resources):
                for resource in response.resources:
                    configs[resource[3]] = {entry[0]: entry[1] for entry in resource[4]}
            for name in present:
                problems = drift(wanted[name], described.get(name, 0), configs.get(name, {}))
                if problems:
                    report.drifted[name] = problems
                else:
                    report.unchanged.append(name)
    finally:
        await admin.close()
    return report
