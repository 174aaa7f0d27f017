"""Kafka clients with SASL/SCRAM and TLS, against Apache Kafka nodes of this module's own whose
only client listener requires them: a job runs end to end through every client kaption makes
(the CLI's, the Faust agents', the stages' idempotent producer), and a client without the
right credentials or certificates is refused with one clear line.

The SCRAM node listens on SASL_PLAINTEXT only (brokers log in to each other too), with users
for SCRAM-SHA-256 and -512; the TLS node on SASL_SSL with a throwaway CA and client
certificates required (mutual TLS plus SCRAM).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streams.broker.local import LocalKafka, Security, local_kafka, throwaway_tls
from streams.events.model import JobState
from streams.runtime.kafka import client_kwargs, event_producer
from streams.runtime.processes import settings_env, worker_process
from streams.settings import KaptionSettings
from tests.integration.conftest import create_topics, fresh_settings, run_job
from tests.paths import MEDIA

pytestmark = [pytest.mark.integration, pytest.mark.cluster]
SPEECH = str(MEDIA / "speech.mp4")
PASSWORD = "kaption-secret-1"
USERS = (("kaption", PASSWORD), ("reader", "reader-secret-2"))
JOB_TIMEOUT_S = 120.0
REFUSED_WITHIN_S = 15.0  # a refused login is said at once, not after the outage timeouts


@pytest.fixture(scope="module")
def scram(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    home = KaptionSettings().kafka_home
    state = tmp_path_factory.mktemp("scram")
    with local_kafka(state, home, heap="384m", security=Security(users=USERS)) as kafka:
        yield kafka


def secured(kafka: LocalKafka, data_dir: Path, **overrides: str) -> KaptionSettings:
    """Fresh topics' settings for a client of ``kafka``: its first user, unless overridden."""
    assert kafka.security is not None
    fields = kafka.security.client_settings() | overrides
    return fresh_settings(kafka.bootstrap, data_dir, **fields)


def kaption(
    settings: KaptionSettings, *args: str, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it: every setting (credentials included) from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAPTION_", "KAFKA_"))}
    return subprocess.run(
        [sys.executable, "-m", "clients.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env | settings_env(settings),
        check=False,
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # no traceback, no client chatter
    for text in expected:
        assert text in lines[0], lines[0]


def test_a_job_runs_end_to_end_with_scram(scram: LocalKafka, tmp_path: Path) -> None:
    """`kaption topics apply`, a `kaption worker --role all` (its Faust apps and idempotent
    producer logging in with SCRAM-SHA-512) and a job submitted with SCRAM-SHA-256: the
    listener takes nothing else, so the job's completion proves every client logged in."""
    client = secured(scram, tmp_path, sasl_mechanism="SCRAM-SHA-256")
    assert client.security_protocol == "SASL_PLAINTEXT"
    applied = kaption(client, "topics", "apply")
    assert applied.returncode == 0, applied.stderr
    assert "created" in applied.stdout
    worker = client.model_copy(update={"sasl_mechanism": "SCRAM-SHA-512"})
    log = tmp_path / "worker.log"
    with worker_process(worker, "all", log) as process:
        result = run_job(client, SPEECH, JOB_TIMEOUT_S, alive=lambda: process.poll() is None)
    assert result.state == JobState.COMPLETED, result.status
    assert result.subtitles is not None and "-->" in result.subtitles.srt
    assert "Authentication" not in log.read_text()
    # The CLI's own readers log in too.
    status = kaption(client, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert "COMPLETED" in status.stdout


def test_an_unauthenticated_client_is_refused(scram: LocalKafka, tmp_path: Path) -> None:
    plain = AdminClient({"bootstrap.servers": scram.bootstrap, "log_level": 0})
    with pytest.raises(KafkaException):
        plain.list_topics(timeout=3)
    settings = fresh_settings(scram.bootstrap, tmp_path)  # PLAINTEXT, the default
    assert settings.security_protocol == "PLAINTEXT"

    async def produce() -> None:
        producer = AIOKafkaProducer(**client_kwargs(settings), request_timeout_ms=3000)
        try:
            await producer.start()
        finally:
            await producer.stop()

    with pytest.raises(KafkaConnectionError):
        asyncio.run(produce())
    # The same client with the credentials gets in (the refusal was the missing login).
    authenticated = AdminClient(
        {"bootstrap.servers": scram.bootstrap, "log_level": 0, **scram.client_config()}
    )
    assert list(authenticated.list_topics(timeout=10).brokers) == [1]


def test_a_wrong_password_stops_the_cli_with_one_line(scram: LocalKafka, tmp_path: Path) -> None:
    settings = secured(scram, tmp_path, sasl_password="not-the-password")
    for command in (("topics", "apply"), ("submit", SPEECH, "--no-wait"), ("status",), ("lag",)):
        started = time.monotonic()
        done = kaption(settings, *command)
        assert time.monotonic() - started < REFUSED_WITHIN_S, command
        assert_one_line_error(
            done,
            "Error: cannot authenticate with Kafka:",
            "invalid credentials",
            "KAPTION_SASL_PASSWORD",
        )


def test_a_worker_with_a_wrong_password_exits_saying_why(scram: LocalKafka, tmp_path: Path) -> None:
    """Whether the worker asks the broker's kind (auto) or is told it (no question asked)."""
    wrong = secured(scram, tmp_path, sasl_username="reader", sasl_password=PASSWORD)
    for kind in ("auto", "kafka"):
        settings = wrong.model_copy(update={"broker_kind": kind})
        started = time.monotonic()
        done = kaption(settings, "worker", "--role", "orchestrator", timeout=60)
        assert time.monotonic() - started < REFUSED_WITHIN_S, kind
        assert_one_line_error(done, "cannot authenticate with Kafka:", "SCRAM-SHA-256")


def test_the_stages_producer_logs_in_with_scram(scram: LocalKafka, tmp_path: Path) -> None:
    """The agents' idempotent producer (event_producer), with the right and a wrong password."""
    settings = secured(scram, tmp_path, sasl_mechanism="SCRAM-SHA-512")
    create_topics(settings)
    topic = f"{settings.topic_prefix}jobs.requested"

    async def send(settings: KaptionSettings) -> int:
        producer = event_producer(settings)
        try:
            await producer.start()
            sent = await producer.send_and_wait(topic, b"x", key=b"k")
            return sent.offset
        finally:
            await producer.stop()

    assert asyncio.run(send(settings)) == 0
    wrong = settings.model_copy(update={"sasl_password": "nope"})
    with pytest.raises(KafkaConnectionError):
        asyncio.run(send(wrong))


# --- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make the throwaway certificates with")
    state = tmp_path_factory.mktemp("tls")
    security = Security(users=USERS, tls=throwaway_tls(state / "certs", client_auth=True))
    home = KaptionSettings().kafka_home
    with local_kafka(state / "kafka", home, heap="384m", security=security) as kafka:
        yield kafka


def test_a_job_runs_end_to_end_over_mutual_tls_and_scram(tls: LocalKafka, tmp_path: Path) -> None:
    settings = secured(tls, tmp_path)
    assert settings.security_protocol == "SASL_SSL"
    assert settings.ssl_cafile and settings.ssl_certfile and settings.ssl_keyfile
    applied = kaption(settings, "topics", "apply")
    assert applied.returncode == 0, applied.stderr
    log = tmp_path / "worker.log"
    with worker_process(settings, "all", log) as process:
        result = run_job(settings, SPEECH, JOB_TIMEOUT_S, alive=lambda: process.poll() is None)
    assert result.state == JobState.COMPLETED, result.status
    assert result.subtitles is not None and "-->" in result.subtitles.srt


def test_tls_that_does_not_match_is_refused_with_one_line(tls: LocalKafka, tmp_path: Path) -> None:
    settings = secured(tls, tmp_path)
    assert tls.security is not None and tls.security.tls is not None
    # A CA that did not sign the broker's certificate (the client's certificate is no CA).
    untrusted = settings.model_copy(update={"ssl_cafile": settings.ssl_certfile})
    # No client certificate, where the broker requires one.
    anonymous = settings.model_copy(update={"ssl_certfile": "", "ssl_keyfile": ""})
    for wrong, expected in (
        (untrusted, "certificate verify failed"),
        (anonymous, "KAPTION_SSL_CERTFILE"),
    ):
        for command in (("topics", "apply"), ("worker", "--role", "cues")):
            started = time.monotonic()
            done = kaption(wrong, *command, timeout=60)
            assert time.monotonic() - started < REFUSED_WITHIN_S, (command, expected)
            assert_one_line_error(done, "cannot authenticate with Kafka:", expected)
