"""Autoscaling: the pure scaling policy, the worker pool with real processes, the stage inputs
against the agents, and the Kubernetes manifests in docker/k8s against topics.yaml, the stages'
consumer groups and the worker's HTTP routes."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.broker.topics import load_registry
from streams.operations.autoscale import WorkerPool, group_of
from streams.operations.scaling import Decision, Policy, Sample, ScalerState, decide
from streams.runtime.app import app_id, create_app
from streams.runtime.roles import STAGES, register_function, stage_inputs
from streams.runtime.stage import Platform, Stage
from streams.settings import KaptionSettings
from tests.paths import REPO

K8S = REPO / "docker" / "k8s"


# --- the policy ---------------------------------------------------------------------------


def run(
    policy: Policy, samples: Sequence[tuple[float, int, int]], partitions: int = 8
) -> list[Decision]:
    """Feeds (at, lag, processed) samples to ``decide`` and, like the loop, runs as many workers
    as it decides; returns every decision."""
    state, workers, decisions = ScalerState(), 0, []
    for at, lag, processed in samples:
        decision = decide(policy, state, Sample(at, lag, processed, workers, partitions))
        state, workers = decision.state, decision.workers
        decisions.append(decision)
    return decisions


def counts(decisions: list[Decision]) -> list[int]:
    return [d.workers for d in decisions]


FAST = Policy(0, 4, target_drain_s=10, scale_down_window_s=20, rate_window_s=10, settle_s=5)


def test_a_backlog_with_no_rate_yet_gets_one_worker_to_measure_with() -> None:
    decisions = run(FAST, [(0, 0, 0), (1, 40, 0), (2, 40, 0)])
    assert counts(decisions) == [0, 1, 1]
    assert "rate not measured yet" in decisions[1].reason


def test_a_measured_rate_sets_the_workers_that_drain_the_backlog_in_time() -> None:
    # One worker commits 1 record/s while 25 wait: 1/s per worker, and 25 records drained
    # in 10 s need ceil(25 / (1 * 10)) = 3 workers. The rate is measured once the worker has
    # settled (5 s) and the samples span half the rate window (5 s).
    samples = [(0, 25, 0)] + [(t, 25, t - 5) for t in range(5, 11)]
    decisions = run(FAST, samples)
    assert counts(decisions) == [1] * 6 + [3]
    assert decisions[-1].state.rate_per_worker == pytest.approx(1.0)
    assert decisions[-1].reason == "lag 25, 1.00/s per worker: 25 / (1.00 * 10 s) = 3"


def test_workers_are_capped_by_max_and_by_the_input_partitions() -> None:
    flood = [(0, 1000, 0)] + [(t, 1000, t - 5) for t in range(5, 12)]
    assert run(FAST, flood)[-1].workers == 4
    assert "max 4" in run(FAST, flood)[-1].reason
    assert run(FAST, flood, partitions=2)[-1].workers == 2
    assert "2 partitions" in run(FAST, flood, partitions=2)[-1].reason


def test_workers_running_elsewhere_share_the_rate_and_leave_less_to_start() -> None:
    # 2 workers of ours and 1 elsewhere commit 3 records/s: 1/s per worker. 60 waiting, to
    # drain in 10 s: 6 workers, of which 1 runs elsewhere, so 5 are ours.
    policy = FAST
    state = ScalerState()
    for t in range(0, 11):
        decision = decide(policy, state, Sample(t, 60, 3 * t, 2, 8, others=1))
        state = decision.state
    assert state.rate_per_worker == pytest.approx(1.0)
    assert decision.workers == 4  # ours: 5 wanted, FAST's max is 4
    roomy = Policy(0, 8, target_drain_s=10, rate_window_s=10, settle_s=5)
    state = ScalerState()
    for t in range(0, 11):
        decision = decide(roomy, state, Sample(t, 60, 3 * t, 2, 8, others=1))
        state = decision.state
    assert decision.workers == 5 and "1 of them running elsewhere" in decision.reason
    # ... and the partitions the others hold are not ours to fill.
    decision = decide(roomy, ScalerState(), Sample(0, 10**6, 0, 2, 8, others=6))
    assert decision.workers == 2


def test_min_workers_run_without_a_backlog() -> None:
    policy = Policy(2, 4)
    decisions = run(policy, [(0, 0, 0), (5, 0, 0)])
    assert counts(decisions) == [2, 2]
    assert "no lag, min 2" in decisions[0].reason


def test_an_initial_rate_is_used_until_one_is_measured() -> None:
    policy = Policy(0, 8, target_drain_s=10, initial_rate=0.5)
    assert run(policy, [(0, 20, 0)])[0].workers == 4  # 20 / (0.5 * 10)


def test_idle_or_settling_workers_do_not_measure_a_rate() -> None:
    # Progress while the lag is zero (nothing to do) or during the settle time after a
    # change says nothing about a worker's speed.
    policy = Policy(1, 4, target_drain_s=10, rate_window_s=4, settle_s=5)
    idle = run(policy, [(t, 0, t) for t in range(10)])
    assert idle[-1].state.rate_per_worker is None
    settling = run(policy, [(t, 10, t) for t in range(5)])
    assert settling[-1].state.rate_per_worker is None
    assert run(policy, [(t, 10, t) for t in range(8)])[-1].state.rate_per_worker == 1.0


def test_a_window_without_progress_keeps_the_last_rate() -> None:
    policy = Policy(1, 1, rate_window_s=4, settle_s=0)
    samples = [(t, 10, t) for t in range(6)] + [(t, 10, 5) for t in range(6, 20)]
    rate = run(policy, samples)[-1].state.rate_per_worker
    assert rate == pytest.approx(0.25)  # the last window with progress: t 4..8


def test_scaling_down_waits_for_the_window_then_goes_to_min() -> None:
    # Two workers drain the backlog; when it is gone they stay for the scale-down window.
    policy = Policy(0, 2, target_drain_s=1, scale_down_window_s=20, rate_window_s=4, settle_s=0)
    busy = [(t, 100 - t, t) for t in range(10)]
    idle = [(t, 0, 100) for t in range(10, 40)]
    decisions = run(policy, busy + idle)
    workers = counts(decisions)
    assert workers[9] == 2
    assert workers[10:29] == [2] * 19  # within 20 s of the last busy sample (t 9)
    assert workers[29:] == [0] * 11
    assert decisions[29].reason == "no lag; the most needed in the last 20 s: 0"


def test_a_backlog_that_comes_and_goes_does_not_make_workers_flap() -> None:
    policy = Policy(1, 4, target_drain_s=1, scale_down_window_s=30, rate_window_s=4, settle_s=0)
    flapping = [(t, 20 if (t // 3) % 2 else 0, t) for t in range(60)]
    workers = counts(run(policy, flapping))
    changes = sum(1 for a, b in itertools.pairwise(workers) if a != b)
    assert changes <= 2, workers  # up (maybe twice, once measured), never down in between


def test_a_worker_that_died_is_replaced_and_the_rate_measured_again() -> None:
    policy = Policy(2, 2, settle_s=5, rate_window_s=4)
    state = ScalerState()
    for t in range(10):
        state = decide(policy, state, Sample(t, 10, t * 2, 2, 8)).state
    assert state.rate_per_worker == 1.0
    decision = decide(policy, state, Sample(10, 10, 20, 1, 8))  # one exited
    assert decision.workers == 2
    assert decision.state.changed_at == 10 and decision.state.samples == ()
    assert decision.state.rate_per_worker == 1.0  # kept until measured again


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_workers": 3, "max_workers": 2},
        {"min_workers": 0, "max_workers": 0},
        {"min_workers": -1, "max_workers": 2},
        {"min_workers": 0, "max_workers": 2, "target_drain_s": 0},
        {"min_workers": 0, "max_workers": 2, "initial_rate": 0},
    ],
)
def test_a_bad_policy_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Policy(**kwargs)


# --- the worker pool, with real processes ---------------------------------------------------

# Exits 0 on SIGTERM, like a worker leaving cleanly; or ignores it. Each says "ready" once its
# handler is in place (a SIGTERM before that would end it at once).
GRACEFUL = "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))"
STUBBORN = "signal.signal(signal.SIGTERM, signal.SIG_IGN)"


def child(handler: str) -> str:
    return f"import signal, sys, time\n{handler}\nprint('ready', flush=True)\ntime.sleep(60)\n"


def wait_ready(log_dir: Path, workers: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        logs = [log_dir / f"worker-{n}.log" for n in range(1, workers + 1)]
        if all(p.exists() and "ready" in p.read_text() for p in logs):
            return
        time.sleep(0.05)
    raise AssertionError("the children did not start")


@pytest.fixture
def lines() -> list[str]:
    return []


def pool_of(tmp_path: Path, code: str, lines: list[str], timeout_s: float = 10) -> WorkerPool:
    settings = KaptionSettings(bootstrap_servers="127.0.0.1:1", data_dir=tmp_path)
    return WorkerPool(settings, [sys.executable, "-c", code], tmp_path, timeout_s, lines.append)


@pytest.fixture
def reaped() -> Iterator[list[WorkerPool]]:
    pools: list[WorkerPool] = []
    yield pools
    for pool in pools:
        for process in pool.processes:
            process.kill()
            process.wait()


def test_the_pool_stops_the_newest_workers_first_and_gracefully(
    tmp_path: Path, lines: list[str], reaped: list[WorkerPool]
) -> None:
    pool = pool_of(tmp_path, child(GRACEFUL), lines)
    reaped.append(pool)
    pool.scale_to(3)
    wait_ready(tmp_path, 3)
    first, second, third = list(pool.processes)
    assert pool.alive() == 3
    pool.scale_to(1)
    assert pool.processes == [first]
    stopped = [line for line in lines if line.startswith("stopped")]
    assert stopped == [
        f"stopped worker pid {third.pid} (exit code 0)",
        f"stopped worker pid {second.pid} (exit code 0)",
    ]
    assert (tmp_path / "worker-3.log").exists()
    pool.stop_all()
    assert first.returncode == 0 and pool.processes == []


def test_the_pool_kills_a_worker_that_ignores_sigterm(
    tmp_path: Path, lines: list[str], reaped: list[WorkerPool]
) -> None:
    pool = pool_of(tmp_path, child(STUBBORN), lines, timeout_s=1.0)
    reaped.append(pool)
    process = pool.start()
    wait_ready(tmp_path, 1)
    pool.stop_all()
    assert process.returncode == -9
    assert lines[-1] == f"killed worker pid {process.pid}: still running after SIGTERM"


def test_the_pool_notices_a_worker_that_exited(
    tmp_path: Path, lines: list[str], reaped: list[WorkerPool]
) -> None:
    pool = pool_of(tmp_path, "raise SystemExit(3)", lines)
    reaped.append(pool)
    process = pool.start()
    process.wait(timeout=30)
    assert pool.alive() == 0
    assert lines[-1] == f"worker pid {process.pid} exited by itself with code 3"


# --- what the autoscaler reads, against the stages -----------------------------------------


def test_stage_inputs_are_the_topics_each_stage_consumes(tmp_path: Path) -> None:
    # The kind given: nothing listens on port 1 to be asked.
    settings = KaptionSettings(
        bootstrap_servers="127.0.0.1:1", data_dir=tmp_path, broker_kind="kafka"
    )
    platform = Platform.from_settings(settings)
    try:
        for stage in STAGES:
            app = create_app(settings, stage)
            register_function(stage)(Stage(stage, app, platform))
            consumed = {topic for agent in app.agents.values() for topic in agent.channel.topics}
            wanted = {settings.topic_prefix + name for name in stage_inputs(stage)}
            assert consumed == wanted, stage
            assert group_of(settings, stage) == app_id(settings, stage) == app.conf.id
    finally:
        platform.executor.shutdown(wait=True, cancel_futures=True)


# --- the Kubernetes manifests ------------------------------------------------------------


def documents() -> list[dict[str, Any]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            assert isinstance(document, dict), path
            found.append(document)
    return found


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in documents() if d["kind"] == kind]


def settings_map() -> dict[str, str]:
    (config,) = of_kind("ConfigMap")
    data: dict[str, str] = config["data"]
    return data


def test_every_manifest_parses_and_the_kustomization_lists_them_all() -> None:
    kinds = {d["kind"] for d in documents()}
    assert kinds == {
        "Kustomization",
        "Namespace",
        "ConfigMap",
        "Job",
        "Deployment",
        "ScaledObject",
    }
    (kustomization,) = of_kind("Kustomization")
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    for document in documents():
        assert document.get("apiVersion"), document


def test_every_stage_has_a_deployment_running_its_worker_with_probes() -> None:
    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    assert set(deployments) == {f"kaption-{stage}" for stage in STAGES}
    routes = http_routes()
    for stage in STAGES:
        spec = deployments[f"kaption-{stage}"]["spec"]
        assert (
            spec["selector"]["matchLabels"].items()
            <= spec["template"]["metadata"]["labels"].items()
        )
        (container,) = spec["template"]["spec"]["containers"]
        assert container["command"] == ["kaption", "worker", "--role", stage]
        sources = {s.get("configMapRef", {}).get("name") for s in container["envFrom"]}
        assert "kaption-settings" in sources
        port = int(settings_map()["KAPTION_METRICS_PORT"])
        assert {"name": "metrics", "containerPort": port} in container["ports"]
        probes = {k: container[k]["httpGet"] for k in ("livenessProbe", "readinessProbe")}
        assert probes["livenessProbe"]["path"] == "/healthz"
        assert probes["readinessProbe"]["path"] == "/readyz"
        for probe in (*probes.values(), container["startupProbe"]["httpGet"]):
            assert probe["path"] in routes and probe["port"] == "metrics"
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["limits"]["memory"]
        data_dir = settings_map()["KAPTION_DATA_DIR"]
        assert data_dir in {m["mountPath"] for m in container["volumeMounts"]}


def test_the_configmap_holds_settings_kaption_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    names = {f"KAPTION_{name.upper()}" for name in KaptionSettings.model_fields}
    for key in settings_map():
        assert key == "KAFKA_BOOTSTRAP_SERVERS" or key in names, key
    for key, value in settings_map().items():  # as the pods get them: environment variables
        monkeypatch.setenv(key, value)
    parsed = KaptionSettings()
    assert parsed.bootstrap_servers == settings_map()["KAFKA_BOOTSTRAP_SERVERS"]
    assert parsed.metrics_port == 9400 and parsed.log_format == "json"
    assert parsed.data_dir == Path(settings_map()["KAPTION_DATA_DIR"])


def http_routes() -> set[str]:
    """The paths streams/runtime/http.py answers itself (everything else is /metrics)."""
    source = (REPO / "streams" / "runtime" / "http.py").read_text()
    return {"/metrics"} | {p for p in ("/healthz", "/readyz") if f'path == "{p}"' in source}


def test_the_scaled_object_watches_the_transcription_group_and_its_input() -> None:
    (scaled,) = of_kind("ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "kaption-transcribe"
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    settings = KaptionSettings(
        bootstrap_servers=settings_map()["KAFKA_BOOTSTRAP_SERVERS"],
        topic_prefix=settings_map()["KAPTION_TOPIC_PREFIX"],
    )
    assert settings.topic_prefix == "kaption."  # the default
    assert metadata["bootstrapServers"] == settings.bootstrap_servers
    assert metadata["consumerGroup"] == app_id(settings, "transcribe")
    registry = load_registry(settings.topics_file, settings.topic_prefix)
    (logical,) = stage_inputs("transcribe")
    assert metadata["topic"] == registry.name(logical) in registry.deployed()
    partitions = registry.specs[logical].partitions
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions
    assert int(metadata["lagThreshold"]) > 0
    assert metadata["offsetResetPolicy"] == "earliest"  # as the workers' consumers start


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_manifests() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(built.stdout)]
    assert kinds.count("Deployment") == len(STAGES)
    assert all(
        d["metadata"].get("namespace") == "kaption"
        for d in yaml.safe_load_all(built.stdout)
        if d["kind"] != "Namespace"
    )
