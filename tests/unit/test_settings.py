"""Settings: environment names, and SASL/TLS passed through to every Kafka client."""

from __future__ import annotations

import faust
import pytest
from click.testing import CliRunner

from clients.cli import main
from streams.runtime.app import broker_credentials
from streams.runtime.kafka import client_kwargs, librdkafka_config
from streams.runtime.processes import settings_env
from streams.settings import KaptionSettings


def test_bootstrap_servers_come_from_the_standard_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("KAPTION_TOPIC_PREFIX", "prod.")
    settings = KaptionSettings()
    assert settings.bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.topic_prefix == "prod."
    with pytest.raises(ValueError, match="frozen"):
        settings.topic_prefix = "other."


def test_sasl_settings_reach_aiokafka_and_faust() -> None:
    settings = KaptionSettings(
        bootstrap_servers="broker:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="kaption",
        sasl_password="secret",
    )
    kwargs = client_kwargs(settings)
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("kaption", "secret")
    assert kwargs["ssl_context"] is not None
    credentials = broker_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "kaption" and credentials.ssl_context is not None


def test_sasl_and_tls_settings_reach_confluent_kafka() -> None:
    settings = KaptionSettings(
        bootstrap_servers="broker:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="kaption",
        sasl_password="secret",
        ssl_cafile="/etc/ca.pem",
    )
    config = librdkafka_config(settings, **{"group.id": "g"})
    assert config["bootstrap.servers"] == "broker:9093"
    assert config["security.protocol"] == "SASL_SSL"
    assert (config["sasl.mechanism"], config["sasl.username"]) == ("SCRAM-SHA-256", "kaption")
    assert config["sasl.password"] == "secret" and config["ssl.ca.location"] == "/etc/ca.pem"
    assert config["group.id"] == "g"
    plain = librdkafka_config(KaptionSettings(bootstrap_servers="b:1"))
    assert "sasl.username" not in plain and "ssl.ca.location" not in plain


def test_plaintext_needs_no_credentials() -> None:
    settings = KaptionSettings(bootstrap_servers="broker:9092")
    assert "sasl_mechanism" not in client_kwargs(settings)
    assert broker_credentials(settings) is None


def test_state_lives_in_the_users_state_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/var/lib/someone")
    assert str(KaptionSettings().data_dir) == "/var/lib/someone/kaption"


def test_child_processes_get_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = KaptionSettings(bootstrap_servers="b:1", whisper_model="small", audio_window_s=60)
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    assert KaptionSettings() == settings


def test_a_rejected_setting_is_one_clear_line_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAPTION_MAX_SEGMENT_S", "40")  # Whisper would drop the last 10 s
    monkeypatch.setenv("KAPTION_LIVE_AGREEMENT", "many")
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    first, *rest = result.output.splitlines()
    assert first == "Error: invalid settings:"
    assert sorted(line.split(":")[0] for line in rest) == [
        "  live_agreement = many (KAPTION_LIVE_AGREEMENT)",
        "  max_segment_s = 40 (KAPTION_MAX_SEGMENT_S)",
    ]
    assert "less than or equal to 30" in result.output
