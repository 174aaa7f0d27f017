"""SASL/SCRAM and TLS without a broker: the properties a secured local node gets, what its
clients are given, how a refused login is told apart from an outage, and the throwaway
certificates (checked with a real TLS handshake in memory)."""

from __future__ import annotations

import gc
import shutil
import ssl
import time
import weakref
from pathlib import Path
from typing import Any

import faust
import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient

from clients.jobs import BrokerWatch
from streams.broker import kind, local
from streams.broker.admin import BrokerUnreachable
from streams.runtime.app import broker_credentials
from streams.runtime.kafka import (
    KafkaAuthenticationError,
    check_access,
    client_kwargs,
    librdkafka_config,
    list_topics,
    raise_refusals,
    refusal,
    release_clients,
)
from streams.runtime.processes import free_port
from streams.settings import KaptionSettings

SCRAM = local.Security(users=(("kaption", "pw-1"), ("reader", "pw-2")))


def node_properties(security: local.Security | None, tmp_path: Path) -> dict[str, str]:
    common = local.read_properties(local.SERVER_PROPERTIES)
    node = local.NodeSpec(1, 19092, 19093, tmp_path, security=security)
    return local.node_properties(common, node, "1@127.0.0.1:19093", nodes=1)


def test_a_scram_node_has_only_a_sasl_listener_for_clients_and_brokers(tmp_path: Path) -> None:
    props = node_properties(SCRAM, tmp_path)
    assert props["listeners"] == "SASL_PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "SASL_PLAINTEXT://127.0.0.1:19092"
    assert "SASL_PLAINTEXT:SASL_PLAINTEXT" in props["listener.security.protocol.map"]
    assert "CONTROLLER:PLAINTEXT" in props["listener.security.protocol.map"]
    # Brokers log in to each other as the first user: no unauthenticated data listener.
    assert props["inter.broker.listener.name"] == "SASL_PLAINTEXT"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-256,SCRAM-SHA-512"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-256"
    for mechanism in ("scram-sha-256", "scram-sha-512"):
        login = props[f"listener.name.sasl_plaintext.{mechanism}.sasl.jaas.config"]
        assert login.startswith("org.apache.kafka.common.security.scram.ScramLoginModule")
        assert 'username="kaption" password="pw-1";' in login
    assert not any(key.startswith("ssl.") for key in props)
    assert "authorizer.class.name" not in props  # authentication only


def test_a_plain_node_keeps_its_plaintext_listener(tmp_path: Path) -> None:
    props = node_properties(None, tmp_path)
    assert props["listeners"].startswith("PLAINTEXT://127.0.0.1:19092,")
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert not any(key.startswith("sasl.") for key in props)


def test_tls_gives_sasl_ssl_or_ssl_with_pem_stores(tmp_path: Path) -> None:
    tls = local.ServerTls(tmp_path / "keystore.pem", tmp_path / "ca.pem", client_auth=True)
    both = node_properties(local.Security(users=SCRAM.users, tls=tls), tmp_path)
    assert both["listeners"].startswith("SASL_SSL://127.0.0.1:19092,")
    assert both["inter.broker.listener.name"] == "SASL_SSL"
    assert "SASL_SSL:SASL_SSL" in both["listener.security.protocol.map"]
    assert "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config" in both
    assert (both["ssl.keystore.type"], both["ssl.truststore.type"]) == ("PEM", "PEM")
    assert both["ssl.keystore.location"] == str(tmp_path / "keystore.pem")
    assert both["ssl.truststore.location"] == str(tmp_path / "ca.pem")
    assert both["listener.name.sasl_ssl.ssl.client.auth"] == "required"
    only_tls = node_properties(local.Security(tls=tls), tmp_path)
    assert only_tls["listeners"].startswith("SSL://127.0.0.1:19092,")
    assert "SSL:SSL" in only_tls["listener.security.protocol.map"].split(",")
    assert only_tls["listener.name.ssl.ssl.client.auth"] == "required"
    assert not any(key.startswith("sasl.") for key in only_tls)


def test_every_user_gets_a_scram_credential_for_every_mechanism_at_format_time() -> None:
    assert SCRAM.format_args() == [
        "--add-scram",
        "SCRAM-SHA-256=[name=kaption,password=pw-1]",
        "--add-scram",
        "SCRAM-SHA-256=[name=reader,password=pw-2]",
        "--add-scram",
        "SCRAM-SHA-512=[name=kaption,password=pw-1]",
        "--add-scram",
        "SCRAM-SHA-512=[name=reader,password=pw-2]",
    ]
    only_512 = local.Security(users=(("a", "b"),), mechanisms=("SCRAM-SHA-512",))
    assert only_512.format_args() == ["--add-scram", "SCRAM-SHA-512=[name=a,password=b]"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # nothing to secure with
        {"users": (("a", "b"),), "mechanisms": ()},
        {"users": (("a", "b"),), "mechanisms": ("PLAIN",)},
        {"users": (("a", 'pass"word'),)},  # would break the JAAS string
        {"users": (("a,b", "pw"),)},  # would break StorageTool's [name=...,password=...]
        {"users": (("", "pw"),)},
    ],
)
def test_security_that_kafka_would_misread_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        local.Security(**kwargs)


def test_a_client_of_a_secured_node_gets_matching_settings(tmp_path: Path) -> None:
    tls = local.ServerTls(
        tmp_path / "ks.pem",
        tmp_path / "ca.pem",
        client_auth=True,
        client_certificate=tmp_path / "client.pem",
        client_key=tmp_path / "client.key",
    )
    security = local.Security(users=SCRAM.users, tls=tls)
    fields = security.client_settings(user=1, mechanism="SCRAM-SHA-512")
    settings = KaptionSettings(bootstrap_servers="127.0.0.1:19092", **fields)
    assert settings.security_protocol == "SASL_SSL"
    assert (settings.sasl_username, settings.sasl_password) == ("reader", "pw-2")
    config = librdkafka_config(settings)
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["ssl.ca.location"] == str(tmp_path / "ca.pem")
    assert config["ssl.certificate.location"] == str(tmp_path / "client.pem")
    assert config["ssl.key.location"] == str(tmp_path / "client.key")
    # The readiness check's configuration is the first user's, with the same keys.
    assert (
        security.librdkafka().items()
        <= librdkafka_config(
            KaptionSettings(bootstrap_servers="b:1", **security.client_settings())
        ).items()
    )
    plain = local.Security(users=SCRAM.users).client_settings()
    assert plain == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_username": "kaption",
        "sasl_password": "pw-1",
    }


def test_scram_over_plaintext_reaches_aiokafka_faust_and_librdkafka() -> None:
    settings = KaptionSettings(
        bootstrap_servers="b:1",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="kaption",
        sasl_password="pw-1",
    )
    kwargs = client_kwargs(settings)
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT" and "ssl_context" not in kwargs
    assert (kwargs["sasl_mechanism"], kwargs["sasl_plain_password"]) == ("SCRAM-SHA-256", "pw-1")
    credentials = broker_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_PLAINTEXT"  # no TLS context: not SASL_SSL
    assert credentials.mechanism.value == "SCRAM-SHA-256"
    assert (credentials.username, credentials.password) == ("kaption", "pw-1")
    config = librdkafka_config(settings)
    assert config["security.protocol"] == "SASL_PLAINTEXT"
    assert "ssl.ca.location" not in config


def test_a_failed_login_is_an_authentication_error_not_an_outage() -> None:
    login = KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error: invalid credentials")
    refused = refusal(login)
    assert isinstance(refused, KafkaAuthenticationError)
    assert isinstance(refused, BrokerUnreachable)  # what handles an outage handles this too
    assert str(refused).startswith("cannot authenticate with Kafka: SASL authentication error")
    assert "KAPTION_SASL_PASSWORD" in str(refused)
    handshake = refusal(KafkaError(KafkaError._SSL, "SSL handshake failed: certificate verify"))
    assert handshake is not None and "KAPTION_SSL_CAFILE" in str(handshake)
    assert refusal(KafkaError(KafkaError._TRANSPORT, "Connection refused")) is None
    # What librdkafka says when the broker turns down a missing client certificate (TLS 1.3).
    alert = KafkaError(
        KafkaError._TRANSPORT,
        "sasl_ssl://127.0.0.1:1/bootstrap: Receive failed: ssl/record/rec_layer_s3.c:918:"
        "ssl3_read_bytes error:0A000412:SSL routines::ssl/tls alert bad certificate: SSL alert "
        "number 42 (after 0ms in state APIVERSION_QUERY)",
    )
    refused = refusal(alert)
    assert refused is not None and "KAPTION_SSL_CERTFILE" in str(refused)
    assert refusal(KafkaError(KafkaError._ALL_BROKERS_DOWN, "down")) is None
    with pytest.raises(KafkaAuthenticationError):
        raise_refusals(login)
    raise_refusals(KafkaError(KafkaError._TRANSPORT, "Connection refused"))  # not raised
    assert librdkafka_config(KaptionSettings(bootstrap_servers="b:1"))["error_cb"] is (
        raise_refusals
    )


def test_the_job_clients_watch_stops_at_a_failed_login() -> None:
    notes: list[str] = []
    watch = BrokerWatch("b:1", 120.0, notes.append)
    watch.on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN, "all brokers down"))
    assert watch.down_since is not None  # an outage: waited out
    with pytest.raises(KafkaAuthenticationError, match="KAPTION_SASL_USERNAME"):
        watch.on_error(KafkaError(KafkaError._AUTHENTICATION, "invalid credentials"))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")
def test_throwaway_certificates_pass_a_real_tls_handshake_for_127_0_0_1(tmp_path: Path) -> None:
    tls = local.throwaway_tls(tmp_path, client_auth=True)
    assert tls.client_certificate is not None and tls.client_key is not None
    keystore = tls.keystore.read_text()
    # Kafka's PEM keystore: an unencrypted PKCS#8 key first, then the chain.
    assert keystore.startswith("-----BEGIN PRIVATE KEY-----")
    assert keystore.count("-----BEGIN CERTIFICATE-----") == 2
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tls.keystore)  # key and chain from the one file, as Kafka reads it
    server.load_verify_locations(tls.truststore)
    server.verify_mode = ssl.CERT_REQUIRED  # ssl.client.auth=required
    client = ssl.create_default_context(cafile=str(tls.truststore))  # hostname checked
    client.load_cert_chain(tls.client_certificate, tls.client_key)
    assert handshake(server, client, "127.0.0.1")
    assert handshake(server, client, "localhost")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(server, client, "example.org")  # the certificate names only this machine
    stranger = ssl.create_default_context()  # the system's CAs do not know the throwaway one
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(server, stranger, "127.0.0.1")


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, host: str) -> bool:
    """A TLS handshake between the two contexts through memory buffers; True once both ends
    have finished (the failing end's SSLError otherwise)."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    ends = [
        client.wrap_bio(to_client, to_server, server_hostname=host),
        server.wrap_bio(to_server, to_client, server_side=True),
    ]
    finished: set[int] = set()
    for _ in range(10):  # TLS 1.3 needs two round trips; more means it is stuck
        for index, end in enumerate(ends):
            if index in finished:
                continue
            try:
                end.do_handshake()
                finished.add(index)
            except ssl.SSLWantReadError:
                pass
        if len(finished) == 2:
            return True
    return False


def test_a_plaintext_worker_asks_nothing_before_it_starts() -> None:
    started = time.monotonic()
    check_access(KaptionSettings(bootstrap_servers=f"127.0.0.1:{free_port()}"))
    assert time.monotonic() - started < 0.5


def test_a_broker_that_does_not_answer_is_no_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens: the access check and the kind's question both return (an outage is for
    the clients' own retries), each within its timeout."""
    settings = KaptionSettings(
        bootstrap_servers=f"127.0.0.1:{free_port()}",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="kaption",
        sasl_password="pw",
    )
    started = time.monotonic()
    check_access(settings, timeout_s=1.5)
    monkeypatch.setattr(kind, "DETECT_TIMEOUT_S", 1.5)
    assert kind.broker_kind(settings) == "kafka"  # its guess when nobody answers
    assert time.monotonic() - started < 6.0


def test_a_client_behind_a_refusal_is_freed_once_the_refusal_is_handled() -> None:
    """A real client whose error callback refuses (here: the connection refused by a closed
    port, as a TLS handshake would be): the refusal leaves list_topics, and once handled by
    release_clients, as the CLI and the API do, the client and its librdkafka threads go."""

    def refuse(error: KafkaError) -> None:
        raise KafkaAuthenticationError(error.str())

    def ask() -> weakref.ref[AdminClient]:
        config: dict[str, Any] = {"bootstrap.servers": f"127.0.0.1:{free_port()}"}
        admin = AdminClient(config | {"log_level": 0, "error_cb": refuse})
        client = weakref.ref(admin)
        try:
            list_topics(admin, timeout_s=10.0)
        except KafkaAuthenticationError as exc:
            assert "Connection refused" in str(exc)
            release_clients(exc)
            return client
        raise AssertionError("nothing was refused")

    client = ask()
    gc.collect()
    assert client() is None
