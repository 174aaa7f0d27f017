"""Metrics, lag, dashboards and logs checked on a real Prometheus server.

One worker (every stage, JSON logs, a metrics port) and the lag exporter run real jobs while
Debian's Prometheus scrapes both with docker/prometheus.yml (rewritten to this test's ports and a
1 s interval); then every query of every dashboard panel must return data.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from clients.jobs import JobClient
from streams.broker.ports import wait_for_port
from streams.broker.topics import Outgoing
from streams.events.model import JobState
from streams.runtime.processes import die_with_parent, free_port, settings_env, stop, worker_process
from streams.runtime.roles import FILE_STAGES
from streams.runtime.roles import STAGES as ALL_STAGES
from streams.settings import KaptionSettings
from tests.examples import corrupt_segment
from tests.integration.conftest import create_topics, fresh_settings, run_job
from tests.integration.helpers import read
from tests.paths import MEDIA, REPO

pytestmark = pytest.mark.integration
STAGES = FILE_STAGES  # what the file jobs here go through
RATE_INTERVAL = "1m"  # what Grafana would put for $__rate_interval; 60 scrapes at 1 s


def dashboards_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboards", REPO / "grafana" / "dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until_ok(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if get(url, 2.0)[0] == 200:
                return
        time.sleep(0.5)
    raise AssertionError(f"{url} never answered 200")


@contextlib.contextmanager
def prometheus(tmp: Path, worker_port: int, exporter_port: int) -> Iterator[str]:
    """Prometheus on loopback with docker/prometheus.yml, targets and interval rewritten."""
    binary = shutil.which("prometheus")
    assert binary, "Prometheus is not installed (make test installs Debian's package)"
    config = yaml.safe_load((REPO / "docker" / "prometheus.yml").read_text())
    config["global"] |= {"scrape_interval": "1s", "evaluation_interval": "1s"}
    ports = {"kaption": worker_port, "kaption-exporter": exporter_port}
    for job in config["scrape_configs"]:
        job.pop("dns_sd_configs", None)  # compose's service names: this test's own ports
        job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}]
        if job["job_name"] == "kaption-exporter":  # a scrape asks the broker: give it time
            job |= {"scrape_interval": "5s", "scrape_timeout": "5s"}
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with (tmp / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_ok(f"{url}/-/ready")
            yield url
        finally:
            stop(process, graceful=True, timeout_s=10)


def query(prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": expr})
    status, body = get(f"{prometheus_url}/api/v1/query?{params}")
    reply = json.loads(body)
    assert status == 200 and reply["status"] == "success", (expr, reply)
    result: list[dict[str, Any]] = reply["data"]["result"]
    return result


def value(prometheus_url: str, expr: str) -> float:
    result = query(prometheus_url, expr)
    assert len(result) == 1, (expr, result)
    return float(result[0]["value"][1])


@dataclass
class Observed:
    settings: KaptionSettings
    prometheus: str
    worker_url: str
    worker_log: Path


@pytest.fixture(scope="module")
def observed(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    tmp = tmp_path_factory.mktemp("observed")
    worker_port, exporter_port = free_port(), free_port()
    settings = fresh_settings(bootstrap, tmp, metrics_port=worker_port, log_format="json")
    create_topics(settings)
    env = {**os.environ, **settings_env(settings)}
    exporter_command = [sys.executable, "-m", "clients.cli", "exporter", "--port"]
    # Prometheus first: were it missing, an exporter already started would keep Popen's exit
    # waiting for it forever.
    with (
        prometheus(tmp, worker_port, exporter_port) as prometheus_url,
        worker_process(settings, "all", tmp / "worker.log") as worker,
        (tmp / "exporter.log").open("wb") as exporter_log,
        subprocess.Popen(
            [*exporter_command, str(exporter_port), "--host", "127.0.0.1"],
            env=env,
            stdout=exporter_log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        ) as exporter,
    ):
        try:
            wait_for_port("127.0.0.1", exporter_port, 30.0, exporter)
            worker_url = f"http://127.0.0.1:{worker_port}"
            wait_until_ok(f"{worker_url}/readyz", 90.0)
            produce_activity(settings, lambda: worker.poll() is None)
            # Scrapes of the final counts, then rates over them.
            time.sleep(5)
            yield Observed(settings, prometheus_url, worker_url, tmp / "worker.log")
        finally:
            stop(exporter, graceful=True, timeout_s=10)


def produce_activity(settings: KaptionSettings, alive: Any) -> None:
    """Completed jobs (one also in Spanish: the translate stage), a bad input, a dead letter
    and a segment that cannot be transcribed."""
    assert run_job(settings, str(MEDIA / "speech.mp4"), alive=alive).state == JobState.COMPLETED
    with JobClient(settings) as client:
        job_id = client.submit(str(MEDIA / "speech.wav"), language="en", languages=["es"])
        translated = client.wait(job_id, 180, alive=alive)
    assert translated.state == JobState.COMPLETED and len(translated.translations) == 1
    assert run_job(settings, str(MEDIA / "empty.mp4"), alive=alive).state == JobState.FAILED
    with JobClient(settings) as client:
        client.send(Outgoing("segments", corrupt_segment("corrupt")))
        client.producer.produce(f"{settings.topic_prefix}jobs.requested", b"garbage", b"g")
        client.producer.flush(10)
    # Both handled (retried, dead-lettered, reported) before the final scrapes.
    assert read(settings, "segments.failed", 1) and read(settings, "jobs.requested.dlq", 1)


def test_every_dashboard_query_returns_data(observed: Observed) -> None:
    module = dashboards_module()
    empty = []
    boards = module.build()
    for board in boards.values():
        for title, expr in module.panel_queries(board):
            if not query(observed.prometheus, expr.replace("$__rate_interval", RATE_INTERVAL)):
                empty.append(f"{board['title']} / {title}: {expr}")
    assert len(boards) >= 2
    exporter = query(observed.prometheus, "kaption_exporter_scrape_seconds")
    assert not empty, "queries without data:\n" + "\n".join(empty) + f"\nexporter: {exporter}"


def test_metrics_tell_what_happened(observed: Observed) -> None:
    url = observed.prometheus
    assert value(url, 'sum(kaption_jobs_finished_total{state="COMPLETED"})') == 2
    assert value(url, 'sum(kaption_jobs_finished_total{state="FAILED"})') == 1
    assert value(url, 'sum(kaption_stage_events_total{stage="decode",outcome="bad_input"})') == 1
    assert value(url, 'sum(kaption_dead_letters_total{stage="orchestrator"})') >= 1
    assert value(url, 'sum(kaption_dead_letters_total{stage="transcribe"})') == 1
    # The corrupt segment's error is permanent (the retry policy): not tried again.
    assert value(url, "sum(kaption_retries_total)") == 0
    # Two files of 9.7 s speech each went through transcription (VAD padding makes it longer).
    assert 15 < value(url, 'sum(kaption_audio_seconds_total{stage="transcribe"})') < 30
    for stage in STAGES:
        assert value(url, f'sum(kaption_stage_processing_seconds_count{{stage="{stage}"}})') > 0
        assert value(url, f'sum(kaption_stage_queue_seconds_count{{stage="{stage}"}})') > 0
    assert value(url, 'max(kaption_model_load_seconds{stage="transcribe"})') > 0
    assert value(url, "max(kaption_ready)") == 1
    assert value(url, "count(kaption_build_info)") == 1
    # The exporter sees the transcription group catch up (offsets are committed every few
    # seconds, and the exporter is scraped every 5 s).
    group = f"{observed.settings.topic_prefix}transcribe"
    lag = f'sum(kafka_consumergroup_lag_sum{{consumergroup="{group}"}})'
    deadline = time.monotonic() + 30
    while value(url, lag) != 0:
        assert time.monotonic() < deadline, f"lag {value(url, lag)}"
        time.sleep(1)


def test_health_endpoints_say_why(observed: Observed) -> None:
    status, body = get(f"{observed.worker_url}/healthz")
    assert status == 200 and json.loads(body) == {"status": "alive"}
    status, body = get(f"{observed.worker_url}/readyz")
    checks = json.loads(body)
    assert status == 200, checks
    assert checks["broker reachable"] and checks["model loaded"]
    assert all(checks[f"{stage} group joined"] for stage in STAGES)


def test_logs_are_json_lines_with_the_job_on_every_job_line(observed: Observed) -> None:
    lines = [json.loads(line) for line in observed.worker_log.read_text().splitlines() if line]
    job_lines = [line for line in lines if "job_id" in line]
    completed = [line for line in job_lines if "COMPLETED" in line["message"]]
    failed = [line for line in job_lines if "FAILED" in line["message"]]
    assert len(completed) == 2 and len(failed) == 1
    assert "decode: file is empty" in failed[0]["message"]
    assert all(line["job_id"] in line["message"] for line in completed + failed)
    joined = [line for line in lines if "joined its group" in line["message"]]
    assert {line["message"].split()[1] for line in joined} == set(ALL_STAGES)  # live lane too
