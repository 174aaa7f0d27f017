"""The Faust app of one stage: its own consumer group, whatever process runs it."""

from __future__ import annotations

from typing import Any

import faust

from streams.broker.kind import timings
from streams.runtime.kafka import MAX_EVENT_BYTES, ssl_context
from streams.settings import KaptionSettings


def broker_credentials(settings: KaptionSettings) -> Any:
    context = ssl_context(settings)
    if "SASL" in settings.security_protocol:
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password,
            mechanism=settings.sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context) if context is not None else None


def app_id(settings: KaptionSettings, stage: str) -> str:
    """The stage's Faust app id, which is also its consumer group: the same in a process that
    runs one stage and in one that runs them all, so every process shares the stage's work."""
    return f"{settings.topic_prefix}{stage}"


def create_app(settings: KaptionSettings, stage: str) -> faust.App:
    group = timings(settings)  # the broker kind's, unless the settings give them
    app = faust.App(
        app_id(settings, stage),
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        broker_credentials=broker_credentials(settings),
        store="memory://",  # tables are rebuilt from their compacted changelog topics
        datadir=str(settings.data_dir / app_id(settings, stage)),
        web_enabled=False,
        topic_disable_leader=True,
        topic_allow_declare=False,  # `kaption topics apply` owns every topic, changelogs too
        broker_session_timeout=group.session_timeout_s,
        broker_heartbeat_interval=group.heartbeat_interval_s,
        broker_rebalance_timeout=max(10.0, group.session_timeout_s * 2),
        stream_recovery_delay=0.0,
        producer_max_request_size=MAX_EVENT_BYTES,
        producer_acks=-1,  # table changelogs count once every replica has them, like events
        # Faust's producer retries a changelog batch this long (default 20 min): through any
        # outage the agents' own publishes wait out (KAPTION_PUBLISH_DEADLINE_S).
        producer_request_timeout=max(1200.0, settings.publish_deadline_s),
        consumer_max_fetch_size=MAX_EVENT_BYTES,
        stream_buffer_maxsize=64,  # events can carry megabytes of audio
        consumer_auto_offset_reset="earliest",
        broker_max_poll_interval=1800.0,
    )
    app.conf.datadir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    return app
