"""docker/: the compose deployment, its Dockerfiles and Prometheus' targets, checked without a
Docker engine (the Compose Specification's JSON schema, paths, ports, roles and settings)."""

from __future__ import annotations

import base64
import fnmatch
import functools
import json
import re
import shlex
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from clients.api.config import ApiSettings
from streams.runtime.roles import STAGES
from streams.settings import KaptionSettings, env_variable

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "compose.yaml"
SERVER_PROPERTIES = DOCKER / "kafka" / "server.properties"
# Where the apache/kafka image reads property files (its launch script's --mounted-configs-dir).
KAFKA_MOUNTED_CONFIG = "/mnt/shared/config/server.properties"
# KAFKA_* variables the image's wrapper (kafka.docker.KafkaDockerWrapper) does not turn into
# server properties.
KAFKA_NON_PROPERTIES = {
    "KAFKA_VERSION",
    "KAFKA_HEAP_OPTS",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JMX_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS",
    "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    "KAFKA_JMX_HOSTNAME",
}
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


# --- reading the files ----------------------------------------------------------------------


def interpolate(value: Any) -> Any:
    """Compose's ${NAME:-default} with nothing set: every variable must have a default."""
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    if not isinstance(value, str):
        return value

    def default(match: re.Match[str]) -> str:
        assert match["op"] in (":-", "-"), f"{match[0]}: no default, the file needs an .env"
        return match["arg"]

    return VARIABLE.sub(default, value)


@functools.cache
def raw_compose() -> dict[str, Any]:
    """As written (anchors and merge keys resolved by the YAML loader)."""
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


@functools.cache
def compose() -> dict[str, Any]:
    document: dict[str, Any] = interpolate(raw_compose())
    return document


def services() -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose()["services"]
    return result


def kaption_services() -> dict[str, dict[str, Any]]:
    """The services built from kaption's Dockerfiles (the entrypoint is `kaption`)."""
    return {
        name: service
        for name, service in services().items()
        if "build" in service and Path(service["build"]["dockerfile"]).name.startswith("Dockerfile")
    }


def worker_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in kaption_services().items() if s["command"][0] == "worker"}


def option(command: list[str], flag: str) -> list[str]:
    """Every value of ``flag`` in an argument list."""
    return [command[i + 1] for i, arg in enumerate(command[:-1]) if arg == flag]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def resolve(base: Path, path: str) -> Path:
    return (base / path).resolve()


def volumes(service: dict[str, Any]) -> list[dict[str, Any]]:
    """Each volume in long syntax: type (bind or volume), source, target, read_only."""
    result = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            volume = {"type": kind, "source": source, "target": target, "read_only": mode == ["ro"]}
        result.append(volume)
    return result


def binds(service: dict[str, Any]) -> dict[str, Path]:
    """Bind mounts: target -> host path."""
    return {
        v["target"]: resolve(DOCKER, v["source"]) for v in volumes(service) if v["type"] == "bind"
    }


def healthcheck_ports(service: dict[str, Any]) -> set[int]:
    test = " ".join(service["healthcheck"]["test"])
    return {int(port) for port in re.findall(r"(?:localhost|127\.0\.0\.1):(\d+)", test)}


def dockerfile_of(service: dict[str, Any]) -> Path:
    return resolve(DOCKER, service["build"]["context"]) / service["build"]["dockerfile"]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    result, pending = [], ""
    for line in dockerfile.read_text().splitlines():
        if line.strip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical = (pending + line).strip()
        pending = ""
        if logical:
            word, _, rest = logical.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    steps = instructions(dockerfile)
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def image_env(dockerfile: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in final_stage(dockerfile):
        if word == "ENV":
            tokens = shlex.split(rest)
            if "=" not in tokens[0]:
                env[tokens[0]] = " ".join(tokens[1:])
            else:
                env |= dict(token.split("=", 1) for token in tokens)
    return env


def properties(path: Path) -> dict[str, str]:
    result = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            key, _, value = line.partition("=")
            result[key.strip()] = value.strip()
    return result


def kafka_property(variable: str) -> str:
    """The server property the apache/kafka image sets from a KAFKA_* variable: _ is a dot,
    __ an underscore, ___ a dash."""
    return (
        variable.removeprefix("KAFKA_")
        .lower()
        .replace("_", ".")
        .replace("...", "-")
        .replace("..", "_")
    )


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """NAME://host:port,... -> {NAME: (host, port)}."""
    result = {}
    for item in value.split(","):
        name, _, address = item.partition("://")
        host, _, port = address.rpartition(":")
        result[name] = (host, int(port))
    return result


def prometheus_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    return config


def scrape_targets(job: dict[str, Any]) -> set[tuple[str, int]]:
    """(host, port) of a scrape job's static targets and DNS names."""
    targets = set()
    for static in job.get("static_configs", []):
        for target in static["targets"]:
            host, _, port = target.rpartition(":")
            targets.add((host, int(port)))
    for dns in job.get("dns_sd_configs", []):
        targets |= {(name, int(dns["port"])) for name in dns["names"]}
    return targets


# --- the tests --------------------------------------------------------------------------------


def test_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads((DOCKER / "compose-spec.json").read_text())
    # Draft 7, named by an https URL that jsonschema's validator_for does not know (it would
    # fall back to the newest draft): choose the validator from the name.
    assert re.fullmatch(r"https?://json-schema\.org/draft-07/schema#?", schema["$schema"])
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
    )


def test_every_path_compose_mounts_or_builds_from_exists() -> None:
    declared = set(compose().get("volumes", {}))
    for name, service in services().items():
        if "build" in service:
            context = resolve(DOCKER, service["build"]["context"])
            assert context.is_dir(), f"{name}: build context {context}"
            assert dockerfile_of(service).is_file(), f"{name}: {dockerfile_of(service)}"
        for volume in volumes(service):
            if volume["type"] == "volume":
                assert volume["source"] in declared, f"{name}: volume {volume['source']} undeclared"
            elif not volume.get("bind", {}).get("create_host_path"):  # an output, made on demand
                path = resolve(DOCKER, volume["source"])
                assert path.exists(), f"{name} mounts {volume['source']}: {path} does not exist"


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfile_sources_are_in_the_build_context(dockerfile: str) -> None:
    """What COPY names and what `pip install .` packs exist and .dockerignore keeps them."""
    users = [s for s in kaption_services().values() if dockerfile_of(s) == DOCKER / dockerfile]
    assert users, f"no service builds docker/{dockerfile}"
    context = resolve(DOCKER, users[0]["build"]["context"])
    ignore = [
        line.strip()
        for line in (context / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(
            fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(prefix, pattern.removeprefix("**/"))
            for pattern in ignore
            for prefix in prefixes
        )

    sources = [
        arg
        for word, rest in instructions(DOCKER / dockerfile)
        if word == "COPY" and "--from=" not in rest
        for arg in shlex.split(rest)[:-1]
        if not arg.startswith("--")
    ]
    assert "." in sources  # the whole context, filtered by .dockerignore, is pip installed
    project = tomllib.loads((context / "pyproject.toml").read_text())
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    packed = [*wheel["packages"], *wheel.get("force-include", {}), project["project"]["readme"]]
    for source in [s for s in sources if s != "."] + packed:
        assert (context / source).exists(), f"docker/{dockerfile}: {source} is not in the context"
        assert not ignored(source), f"docker/{dockerfile}: .dockerignore drops {source}"


@pytest.mark.parametrize(
    ("dockerfile", "base"),
    [("Dockerfile", "python:3.11-slim"), ("Dockerfile.cuda", "nvidia/cuda:12.4.1-cudnn-runtime")],
)
def test_images_run_kaption_as_the_kubernetes_user(dockerfile: str, base: str) -> None:
    path = DOCKER / dockerfile
    args = {
        key: value
        for word, rest in instructions(path)
        if word == "ARG" and "=" in rest
        for key, value in [rest.split("=", 1)]
    }
    assert any(value.startswith(base) for value in args.values()), args
    stage = dict(final_stage(path))  # the last of each instruction
    k8s_users = {
        int(user)
        for manifest in (DOCKER / "k8s").glob("*.yaml")
        for user in re.findall(r"runAsUser:\s*(\d+)", manifest.read_text())
    }
    assert k8s_users, "docker/k8s sets no runAsUser"
    assert {int(stage["USER"].split(":")[0])} == k8s_users
    assert image_env(path)["KAPTION_DATA_DIR"] == "/var/lib/kaption"
    assert json.loads(stage["ENTRYPOINT"]) == ["kaption"]
    command = json.loads(stage["CMD"])
    assert command[0] == "worker" and set(option(command, "--role")) <= {"all", *STAGES}
    assert option(command, "--metrics-port") == [stage["EXPOSE"]]


def test_kafka_runs_the_release_and_broker_settings_of_the_tests() -> None:
    kafka = services()["kafka"]
    pom = ET.parse(DOCKER / "kafka" / "pom.xml").getroot()
    version = pom.findtext(
        "{http://maven.apache.org/POM/4.0.0}properties/"
        "{http://maven.apache.org/POM/4.0.0}kafka.version"
    )
    assert version and kafka["image"] == f"apache/kafka:{version}"
    assert binds(kafka)[KAFKA_MOUNTED_CONFIG] == SERVER_PROPERTIES.resolve()

    from streams.broker.local import SERVER_PROPERTIES as USED_BY_TESTS

    assert USED_BY_TESTS.read_bytes() == SERVER_PROPERTIES.read_bytes()


def test_kafka_environment_adds_only_per_node_settings() -> None:
    kafka = services()["kafka"]
    env = environment(kafka)
    common = properties(SERVER_PROPERTIES)
    node = {
        kafka_property(key): value
        for key, value in env.items()
        if key.startswith("KAFKA_") and key not in KAFKA_NON_PROPERTIES
    }
    overridden = set(node) & set(common)
    assert not overridden, f"set in server.properties, overridden by compose: {overridden}"
    single_node = {
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
    }
    assert {key: node.get(key) for key in single_node} == dict.fromkeys(single_node, "1")
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16  # a Kafka UUID

    # Listeners: the names server.properties maps; the controller quorum is this node.
    own = listeners(node["listeners"])
    protocol_map = common["listener.security.protocol.map"]
    protocols = dict(item.split(":") for item in protocol_map.split(","))
    assert set(own) <= set(protocols)
    assert {common["controller.listener.names"], common["inter.broker.listener.name"]} <= set(own)
    voter_id, _, voter = node["controller.quorum.voters"].partition("@")
    host, _, port = voter.rpartition(":")
    assert voter_id == node["node.id"]
    assert host in {"kafka", kafka.get("hostname")}
    assert int(port) == own[common["controller.listener.names"]][1]
    (advertised,) = listeners(node["advertised.listeners"]).items()
    assert advertised[0] == common["inter.broker.listener.name"]
    assert advertised[1] == ("kafka", own[advertised[0]][1])

    # Its data on a named volume; the healthcheck asks the client listener.
    mounts = {v["target"]: v for v in volumes(kafka)}
    assert mounts[node["log.dirs"]]["type"] == "volume"
    assert healthcheck_ports(kafka) == {own[advertised[0]][1]}


def test_kaption_services_reach_the_kafka_listener() -> None:
    advertised = listeners(environment(services()["kafka"])["KAFKA_ADVERTISED_LISTENERS"])
    (host, port) = advertised["PLAINTEXT"]
    assert host in services()
    for name, service in kaption_services().items():
        assert environment(service)["KAFKA_BOOTSTRAP_SERVERS"] == f"{host}:{port}", name
        assert "entrypoint" not in service, f"{name}: the image's entrypoint is kaption"


def test_one_worker_service_per_stage() -> None:
    roles = {name: option(s["command"], "--role") for name, s in worker_services().items()}
    for name, role in roles.items():
        assert len(role) == 1 and role[0] in STAGES, f"{name}: --role {role}"
    for stage in STAGES:
        assert roles.get(stage) == [stage], f"no service {stage} running --role {stage}"
    for name, service in worker_services().items():
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        assert service["restart"] == "unless-stopped", name
    topics = services()["topics"]
    assert topics["command"] == ["topics", "apply"] and topics["restart"] == "no"
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_kaption_environment_names_real_settings_with_valid_values() -> None:
    variables = {env_variable(field): field for field in KaptionSettings.model_fields}
    api_variables = {f"KAPTION_API_{field.upper()}" for field in ApiSettings.model_fields}
    for name, service in kaption_services().items():
        env = image_env(dockerfile_of(service)) | environment(service)
        api = {k for k in env if k in api_variables}
        ours = {k: v for k, v in env.items() if k.startswith("KAPTION_") or k in variables}
        ours = {k: v for k, v in ours.items() if k not in api}
        unknown = set(ours) - set(variables)
        assert not unknown, f"{name}: not kaption settings: {sorted(unknown)}"
        # model_validate reads these values only (not this process's environment).
        settings = KaptionSettings.model_validate({variables[k]: v for k, v in ours.items()})
        assert settings.bootstrap_servers == env["KAFKA_BOOTSTRAP_SERVERS"]
        if name in worker_services():
            assert settings.broker_kind == "kafka", name


def test_metrics_ports_agree_with_healthchecks_and_prometheus() -> None:
    jobs = {job["job_name"]: job for job in prometheus_config()["scrape_configs"]}
    workers = {}
    for name, service in worker_services().items():
        (port,) = option(service["command"], "--metrics-port")
        assert healthcheck_ports(service) == {int(port)}, name
        assert dict(final_stage(dockerfile_of(service)))["EXPOSE"] == port, name
        workers[name] = int(port)
    assert scrape_targets(jobs["kaption"]) == set(workers.items())

    exporter = services()["exporter"]
    assert exporter["command"][0] == "exporter"
    (port,) = option(exporter["command"], "--port")
    assert healthcheck_ports(exporter) == {int(port)}
    assert scrape_targets(jobs["kaption-exporter"]) == {("exporter", int(port))}


def test_prometheus_and_grafana_read_the_repository_files() -> None:
    prometheus, grafana = services()["prometheus"], services()["grafana"]
    assert prometheus["image"].startswith("prom/prometheus:")
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in prometheus["command"])
    assert binds(prometheus)[flags["config.file"]] == (DOCKER / "prometheus.yml").resolve()
    listen_port = int(flags["web.listen-address"].rpartition(":")[2])
    assert healthcheck_ports(prometheus) == {listen_port}

    provisioning = ROOT / "grafana" / "provisioning"
    assert binds(grafana)["/etc/grafana/provisioning"] == provisioning.resolve()
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    url = urlsplit(source["url"])
    assert (url.hostname, url.port) == ("prometheus", listen_port)
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "kaption.yaml").read_text())[
        "providers"
    ]
    dashboards = binds(grafana)[provider["options"]["path"]]
    assert dashboards == (ROOT / "grafana" / "dashboards").resolve()
    assert list(dashboards.glob("*.json"))


def test_transcription_scales_out_and_onto_the_gpu() -> None:
    transcribe = services()["transcribe"]
    replicas = transcribe["deploy"]["replicas"]
    assert replicas >= 2
    # Replicas share one host's cores: each takes its share of the inference threads.
    assert environment(transcribe)["KAPTION_TRANSCRIBE_LOCAL_WORKERS"] == str(replicas)

    gpu = services()["transcribe-gpu"]
    assert gpu["profiles"] == ["cuda"]
    assert dockerfile_of(gpu) == DOCKER / "Dockerfile.cuda"
    assert option(gpu["command"], "--role") == ["transcribe"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    env = image_env(dockerfile_of(gpu))
    assert (env["KAPTION_WHISPER_DEVICE"], env["KAPTION_WHISPER_COMPUTE_TYPE"]) == (
        "cuda",
        "float16",
    )
    assert "profiles" not in transcribe and all(
        "profiles" not in services()[stage] for stage in STAGES
    )


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_images_install_the_apertium_pairs_translation_yaml_names(dockerfile: str) -> None:
    """A translate worker from the image can run every Apertium pair configured by default."""
    from agents.translate.config import load_config

    config = load_config(ROOT / "translation.yaml")
    modes = {pair.mode for pair in config.pairs.values() if pair.backend == "apertium"}
    assert modes, "translation.yaml configures no Apertium pair: this test checks nothing"
    args = {
        key: value.strip('"')
        for word, rest in instructions(DOCKER / dockerfile)
        if word == "ARG" and "=" in rest
        for key, value in [rest.split("=", 1)]
    }
    packages = args["APERTIUM_PACKAGES"].split()
    assert "apertium" in packages
    assert {f"apertium-{mode}" for mode in modes} <= set(packages), packages
