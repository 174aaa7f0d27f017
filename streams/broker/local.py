"""Apache Kafka on this machine: one KRaft node (broker and controller) or a loopback cluster
of several, from the jars `make kafka` copies into a cache once (docker/kafka/pom.xml).

Each node has a state directory of its own (its log directory, server.properties and
server.log); the common settings come from docker/kafka/server.properties, the same file
docker/compose.yaml gives the apache/kafka image. A node is formatted once
(``kafka.tools.StorageTool format``) and keeps its data across restarts.

For tests and development a node's client listener can require authentication (``Security``):
SASL/SCRAM users created when the node is formatted, TLS with a throwaway CA
(``throwaway_tls``), or both. Authentication only: there is no authorizer, so any
authenticated user may do anything. Without it (the default) the listener is PLAINTEXT.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streams.broker.ports import BrokerError, wait_for_port
from streams.resources import data_path
from streams.runtime.processes import die_with_parent, free_port

log = logging.getLogger(__name__)

SERVER_PROPERTIES = data_path("docker/kafka/server.properties")
LOG4J_PROPERTIES = data_path("docker/kafka/log4j2.properties")
MIN_JAVA = 17
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0  # a controlled shutdown moves leadership away first
QUORUM_LOST_GRACE_S = 3.0  # a node whose shutdown was approved just before finishes in this


def java_executable() -> str | None:
    """``$JAVA_HOME/bin/java`` or ``java`` on the PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def java_major(java: str) -> int | None:
    """The Java release ``java`` runs (17 for "17.0.15", 8 for "1.8.0"), None if it fails."""
    try:
        probe = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', probe.stderr)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def missing(kafka_home: Path) -> str | None:
    """Why Apache Kafka cannot run here (no Java 17+, no jars), or None when it can."""
    java = java_executable()
    if java is None:
        return "no Java found (Apache Kafka needs Java 17+)"
    major = java_major(java)
    if major is None or major < MIN_JAVA:
        return f"{java} is Java {major or '?'} (Apache Kafka needs Java 17+)"
    if not any((kafka_home / "libs").glob("kafka_2.13-*.jar")):
        return f"no Apache Kafka jars in {kafka_home / 'libs'} (`make kafka` puts them there)"
    return None


def read_properties(path: Path) -> dict[str, str]:
    """A Java properties file's ``key=value`` lines (comments and blank lines skipped)."""
    found = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, value = line.split("=", 1)
            found[key.strip()] = value.strip()
    return found


def cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (22 characters),
    never starting with "-" (as Kafka's own ids: a tool would read it as an option)."""
    while True:
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not found.startswith("-"):
            return found


SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class ServerTls:
    """TLS on a node's client listener, as PEM files Kafka reads itself."""

    keystore: Path  # the node's private key (PKCS#8, unencrypted), then its certificate chain
    truststore: Path  # the CA certificate(s) that signed it (and any client certificates)
    client_auth: bool = False  # require a client certificate signed by the truststore's CA
    # A client's files (PEM) for tests: what KAPTION_SSL_CAFILE/CERTFILE/KEYFILE name.
    client_certificate: Path | None = None
    client_key: Path | None = None


@dataclass(frozen=True)
class Security:
    """Authentication on a node's client listener (a test and development facility).

    ``users`` (name, password) get SCRAM credentials for every one of ``mechanisms`` when the
    node is formatted; with users the listener is SASL_PLAINTEXT, or SASL_SSL with ``tls``;
    ``tls`` alone gives SSL. Brokers talk to each other on the same listener as the first user,
    so no unauthenticated data listener is left open; the controller listener stays PLAINTEXT
    on loopback."""

    users: tuple[tuple[str, str], ...] = ()
    mechanisms: tuple[str, ...] = SCRAM_MECHANISMS
    tls: ServerTls | None = None

    def __post_init__(self) -> None:
        if not self.users and self.tls is None:
            raise ValueError("Security needs SCRAM users, TLS, or both")
        if self.users and not self.mechanisms:
            raise ValueError("SCRAM users need at least one mechanism")
        unknown = set(self.mechanisms) - set(SCRAM_MECHANISMS)
        if unknown:
            raise ValueError(f"not a SCRAM mechanism: {', '.join(sorted(unknown))}")
        for name, password in self.users:
            # Both end up inside StorageTool's [name=...,password=...] and a JAAS string.
            if not name or not password or any(c in name + password for c in '",[]=\\ '):
                raise ValueError(f"SCRAM user {name!r}: name and password need plain characters")

    @property
    def protocol(self) -> str:
        if self.users:
            return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"
        return "SSL"

    def client_settings(self, user: int = 0, mechanism: str | None = None) -> dict[str, Any]:
        """KaptionSettings fields (KAPTION_<NAME> upper-cased) for a client of this listener:
        one of ``users`` with one of ``mechanisms`` (the first by default); all strings."""
        found: dict[str, Any] = {"security_protocol": self.protocol}
        if self.users:
            name, password = self.users[user]
            found |= {
                "sasl_mechanism": mechanism or self.mechanisms[0],
                "sasl_username": name,
                "sasl_password": password,
            }
        if self.tls is not None:
            found["ssl_cafile"] = str(self.tls.truststore)
            if self.tls.client_auth and self.tls.client_certificate and self.tls.client_key:
                found["ssl_certfile"] = str(self.tls.client_certificate)
                found["ssl_keyfile"] = str(self.tls.client_key)
        return found

    def librdkafka(self) -> dict[str, str]:
        """The same as confluent-kafka configuration (the readiness check's)."""
        mapping = {
            "security_protocol": "security.protocol",
            "sasl_mechanism": "sasl.mechanism",
            "sasl_username": "sasl.username",
            "sasl_password": "sasl.password",
            "ssl_cafile": "ssl.ca.location",
            "ssl_certfile": "ssl.certificate.location",
            "ssl_keyfile": "ssl.key.location",
        }
        return {mapping[key]: value for key, value in self.client_settings().items()}

    def format_args(self) -> list[str]:
        """StorageTool's ``--add-scram`` arguments: every user for every mechanism (KRaft keeps
        SCRAM credentials in its metadata log, so brokers can authenticate each other from the
        first start)."""
        return [
            arg
            for mechanism in self.mechanisms
            for name, password in self.users
            for arg in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
        ]

    def listener_properties(self) -> dict[str, str]:
        """The settings the secured client listener needs, inter-broker traffic included."""
        listener = self.protocol.lower()
        found = {"inter.broker.listener.name": self.protocol}
        if self.users:
            name, password = self.users[0]
            login = (
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{name}" password="{password}";'
            )
            found |= {
                "sasl.enabled.mechanisms": ",".join(self.mechanisms),
                "sasl.mechanism.inter.broker.protocol": self.mechanisms[0],
            }
            # The server side of every enabled mechanism needs a login module; the inter-broker
            # client logs in with its username and password.
            for mechanism in self.mechanisms:
                found[f"listener.name.{listener}.{mechanism.lower()}.sasl.jaas.config"] = login
        if self.tls is not None:
            found |= {
                "ssl.keystore.type": "PEM",
                "ssl.keystore.location": str(self.tls.keystore),
                "ssl.truststore.type": "PEM",
                "ssl.truststore.location": str(self.tls.truststore),
                # Listener-prefixed: on a SASL_SSL listener Kafka ignores the global one (KIP-684).
                f"listener.name.{listener}.ssl.client.auth": (
                    "required" if self.tls.client_auth else "none"
                ),
            }
        return found


@dataclass(frozen=True)
class NodeSpec:
    node_id: int
    port: int  # clients (PLAINTEXT, or as ``security`` says)
    controller_port: int
    state_dir: Path
    advertised_port: int | None = None  # what clients are told to use (a proxy's), if not port
    security: Security | None = None  # None: a PLAINTEXT client listener


def node_properties(
    common: Mapping[str, str], node: NodeSpec, voters: str, nodes: int
) -> dict[str, str]:
    """The common settings plus what belongs to one node of an ``nodes``-node cluster: its id,
    listeners, the controller quorum, its log directory and the internal topics' replication
    (3 copies, 2 in sync where there are 3 nodes)."""
    replicas = str(min(3, nodes))
    min_isr = str(min(2, nodes))
    client = node.security.protocol if node.security else "PLAINTEXT"
    secured: dict[str, str] = {}
    if node.security is not None:
        protocols = common.get("listener.security.protocol.map", "CONTROLLER:PLAINTEXT")
        if f"{client}:" not in protocols:
            protocols += f",{client}:{client}"
        secured = {"listener.security.protocol.map": protocols}
        secured |= node.security.listener_properties()
    return {
        **common,
        **secured,
        "node.id": str(node.node_id),
        "listeners": f"{client}://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"{client}://127.0.0.1:{node.advertised_port or node.port}",
        "controller.quorum.voters": voters,
        "log.dirs": str(node.state_dir / "data"),
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
    }


def write_properties(path: Path, properties: Mapping[str, str]) -> None:
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))


@dataclass
class KafkaNode:
    """One KRaft node's process (broker and controller)."""

    spec: NodeSpec
    java: str
    kafka_home: Path
    heap: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def properties_file(self) -> Path:
        return self.spec.state_dir / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.spec.state_dir / "server.log"

    def command(self, main: str, *args: str) -> list[str]:
        return [
            self.java,
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.spec.state_dir}",
            f"-Dlog4j2.configurationFile={LOG4J_PROPERTIES}",
            "-cp",
            str(self.kafka_home / "libs" / "*"),
            main,
            *args,
        ]

    def format(self, cluster: str) -> None:
        """Formats the node's log directory once (StorageTool); a formatted one is kept."""
        if (self.spec.state_dir / "data" / "meta.properties").exists():
            return
        done = subprocess.run(
            self.command(
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster}",  # one argument: an id may start with "-"
                "-c",
                str(self.properties_file),
                *(self.spec.security.format_args() if self.spec.security else []),
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise BrokerError(
                f"formatting Kafka node {self.spec.node_id} failed: {done.stdout}{done.stderr}"
            )

    def start(self) -> None:
        out = (self.spec.state_dir / "stdout.log").open("ab")
        with out:
            self.process = subprocess.Popen(
                self.command("kafka.Kafka", str(self.properties_file)),
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, graceful: bool = True, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM (a controlled shutdown) and wait, SIGKILL past ``timeout_s``; or SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        if graceful:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
                return
            except subprocess.TimeoutExpired:
                log.warning(
                    "Kafka node %d did not stop in %.0f s: killed", self.spec.node_id, timeout_s
                )
        self.process.kill()
        self.process.wait()

    def tail(self, lines: int = 30) -> str:
        for path in (self.log_file, self.spec.state_dir / "stdout.log"):
            if path.exists() and path.stat().st_size:
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@dataclass
class LocalKafka:
    """A KRaft cluster of ``len(nodes)`` nodes on 127.0.0.1."""

    nodes: list[KafkaNode]
    cluster: str

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{node.spec.port}" for node in self.nodes)

    @property
    def security(self) -> Security | None:
        return self.nodes[0].spec.security

    def client_config(self) -> dict[str, str]:
        """librdkafka settings a client of this cluster needs besides the bootstrap servers:
        nothing for PLAINTEXT, the first user's credentials and the CA where secured."""
        return self.security.librdkafka() if self.security else {}

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Formats the nodes not yet formatted (side by side), starts every node and waits until
        the cluster lists all of them as brokers."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.format(self.cluster), self.nodes))
        for node in self.nodes:
            node.start()
        self.wait_ready(timeout_s)

    def start_node(self, index: int, timeout_s: float = START_TIMEOUT_S) -> None:
        """Starts one stopped node again (same log directory) and waits until it is back."""
        self.nodes[index].start()
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Until every node listens and the cluster's metadata names all of them."""
        deadline = time.monotonic() + timeout_s
        for node in self.nodes:
            assert node.process is not None
            try:
                wait_for_port(
                    "127.0.0.1",
                    node.spec.port,
                    max(0.1, deadline - time.monotonic()),
                    node.process,
                    f"Kafka node {node.spec.node_id}",
                )
            except BrokerError as exc:
                raise BrokerError(f"{exc}; its log ends:\n{node.tail()}") from exc
        admin = AdminClient(
            {"bootstrap.servers": self.bootstrap, "log_level": 0, **self.client_config()}
        )
        while time.monotonic() < deadline:
            with contextlib.suppress(KafkaException):
                if len(admin.list_topics(timeout=2).brokers) == len(self.nodes):
                    return
            time.sleep(0.1)
        raise BrokerError(f"the Kafka cluster at {self.bootstrap} did not list every node in time")

    def stop(self, graceful: bool = True, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stops every node at once: SIGTERM to all, then SIGKILL to any still running after
        ``timeout_s``; or SIGKILL to all.

        A combined node's broker needs its controller quorum to approve its controlled shutdown.
        Once fewer than a majority of the nodes run, a node still stopping waits for approval
        that cannot come (five minutes in Kafka), so it is killed after a short grace: Kafka's
        own system tests do the same. Its log is recovered on the next start, as after a crash."""
        running = [node for node in self.nodes if node.running()]
        for node in running:
            assert node.process is not None
            if graceful:
                node.process.send_signal(signal.SIGTERM)
            else:
                node.process.kill()
        deadline = time.monotonic() + timeout_s
        majority = len(self.nodes) // 2 + 1
        quorum_lost_at: float | None = None
        while graceful and time.monotonic() < deadline:
            alive = [node for node in running if node.running()]
            if not alive:
                return
            if len(alive) < majority:
                quorum_lost_at = quorum_lost_at or time.monotonic()
                if time.monotonic() - quorum_lost_at > QUORUM_LOST_GRACE_S:
                    for node in alive:
                        log.warning(
                            "Kafka node %d could not finish its controlled shutdown without a "
                            "controller quorum: killed",
                            node.spec.node_id,
                        )
                    break
            time.sleep(0.1)
        for node in running:
            node.stop(graceful=False)


def plan(
    state_dir: Path,
    nodes: int,
    kafka_home: Path,
    heap: str,
    first_port: int = 0,
    advertised: Sequence[int] = (),
    security: Security | None = None,
) -> LocalKafka:
    """The cluster kept in ``state_dir``: its id (made once), each node's ports (``first_port``
    and up for clients, free ports when 0; controllers always on free ports; ``advertised``:
    the ports clients are told, e.g. proxies'), client listener (``security``) and
    properties."""
    java = java_executable()
    if java is None:
        raise BrokerError("no Java found (Apache Kafka needs Java 17+)")
    state_dir.mkdir(parents=True, exist_ok=True)
    id_file = state_dir / "cluster.id"
    if not id_file.exists():
        id_file.write_text(cluster_id())
    cluster = id_file.read_text().strip()
    specs = [
        NodeSpec(
            node_id=index + 1,
            port=first_port + index if first_port else free_port(),
            controller_port=free_port(),
            state_dir=state_dir / f"node-{index + 1}",
            advertised_port=advertised[index] if index < len(advertised) else None,
            security=security,
        )
        for index in range(nodes)
    ]
    voters = ",".join(f"{s.node_id}@127.0.0.1:{s.controller_port}" for s in specs)
    common = read_properties(SERVER_PROPERTIES)
    kafka_nodes = []
    for spec in specs:
        spec.state_dir.mkdir(parents=True, exist_ok=True)
        write_properties(
            spec.state_dir / "server.properties", node_properties(common, spec, voters, nodes)
        )
        kafka_nodes.append(KafkaNode(spec, java, kafka_home, heap))
    return LocalKafka(kafka_nodes, cluster)


@contextlib.contextmanager
def local_kafka(
    state_dir: Path,
    kafka_home: Path,
    nodes: int = 1,
    first_port: int = 0,
    heap: str = "512m",
    advertised: Sequence[int] = (),
    security: Security | None = None,
) -> Iterator[LocalKafka]:
    """Runs a local Kafka cluster for the duration of the block (stopped cleanly after)."""
    cluster = plan(state_dir, nodes, kafka_home, heap, first_port, advertised, security)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def throwaway_tls(directory: Path, client_auth: bool = False, days: int = 2) -> ServerTls:
    """A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate, all
    new (openssl), as PEM files in ``directory``: TLS for tests, trusted by nobody else."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise BrokerError("no openssl found (throwaway TLS certificates need it)")
    directory.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        done = subprocess.run([openssl, *args], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise BrokerError(f"openssl {args[0]} failed: {done.stderr.strip()}")

    ca_key, ca = directory / "ca.key", directory / "ca.pem"
    ca_extensions = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"]
    run(
        *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days)),
        *("-subj", "/CN=kaption throwaway CA", "-keyout", str(ca_key), "-out", str(ca)),
        *(arg for extension in ca_extensions for arg in ("-addext", extension)),
    )

    def issue(name: str, extensions: str) -> tuple[Path, Path]:
        key, csr, cert = (directory / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
        ext = directory / f"{name}.ext"
        ext.write_text(extensions)
        run(
            *("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}"),
            *("-keyout", str(key), "-out", str(csr)),
        )
        run(
            *("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key)),
            *("-CAcreateserial", "-days", str(days), "-extfile", str(ext), "-out", str(cert)),
        )
        return key, cert

    # Brokers also connect to each other with this one, so it is good for both ends.
    server_key, server_cert = issue(
        "server",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    client_key, client_cert = issue("client", "extendedKeyUsage=clientAuth\n")
    keystore = directory / "server-keystore.pem"  # Kafka's PEM keystore: key, then chain
    keystore.write_text(server_key.read_text() + server_cert.read_text() + ca.read_text())
    return ServerTls(
        keystore=keystore,
        truststore=ca,
        client_auth=client_auth,
        client_certificate=client_cert,
        client_key=client_key,
    )
